/* The clone trampoline and the child's whole program.
 *
 * Everything in this file lives in the "tidscope_child" section and may run
 * on a raw stack with no TLS of its own and with the parent's fs/tpidr
 * register: it calls nothing outside this section, touches no libc state and
 * no thread pointer.  tests/test_child_object.py disassembles the section to
 * keep it that way.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sys/syscall.h>

#include "rawclone.h"

#define CHILD_CODE __attribute__((section("tidscope_child"), used))

#if defined(__x86_64__)
static inline __attribute__((always_inline)) long
sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long rax __asm__("rax") = n;
	register long rdi __asm__("rdi") = a;
	register long rsi __asm__("rsi") = b;
	register long rdx __asm__("rdx") = c;
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return rax;
}
#elif defined(__aarch64__)
static inline __attribute__((always_inline)) long
sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc #0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory");
	return x0;
}
#endif

/* arg[j] of op as enum ts_arg_kind says; branch-free enough to stay in
 * this section (no jump tables: see -fno-jump-tables in setup.py). */
static inline __attribute__((always_inline)) long
arg(const struct ts_slot *s, const struct ts_op *op, int j)
{
	const long v = op->arg[j];
	const unsigned long kind = (op->kinds >> (2 * j)) & 3;

	if (kind == TS_ARG_SCRATCH)
		return v + (long)s->scratch;
	if (kind == TS_ARG_PRIVATE)
		return v + (long)s->priv;
	if (kind == TS_ARG_RESULT)
		return s->ret[v];
	return v;
}

/* The child's program: run each op, report, park until released, exit.
 * Signals are blocked from birth (the parent blocked them around clone), so
 * no handler ever runs on this stack. */
CHILD_CODE __attribute__((noreturn, visibility("hidden"))) void
ts_child_main(struct ts_slot *s)
{
	for (int i = 0; i < s->nops; i++) {
		const struct ts_op *op = &s->ops[i];

		s->ret[i] = sys6(op->nr, arg(s, op, 0), arg(s, op, 1), arg(s, op, 2),
				 arg(s, op, 3), arg(s, op, 4), arg(s, op, 5));
	}
	__atomic_store_n(&s->state, TS_RAN, __ATOMIC_RELEASE);
	sys6(SYS_futex, (long)&s->state, s->wake_op, 1, 0, 0, 0);

	if (s->park)
		while (__atomic_load_n(s->go, __ATOMIC_ACQUIRE) == 0)
			sys6(SYS_futex, (long)s->go, s->go_wait_op, 0, 0, 0, 0);

	/* From here on the parent may reuse or unmap this stack as soon as the
	 * kernel has cleared ctid (or reaped us): touch nothing but registers. */
	__atomic_store_n(&s->state, TS_EXITING, __ATOMIC_RELEASE);
	for (;;)
		sys6(SYS_exit, 0, 0, 0, 0, 0, 0);
}

/* clone(2) as the kernel sees it.  The parent returns the new tid (or
 * -errno); the child starts on stack_top with nothing but slot, clears the
 * frame pointer and enters ts_child_main, which never returns. */
CHILD_CODE long
ts_clone(unsigned long flags, void *stack_top, int *ptid, int *ctid,
	 unsigned long tls, struct ts_slot *slot)
{
#if defined(__x86_64__)
	/* x86_64: clone(flags, stack, parent_tid, child_tid, tls). */
	register long rax __asm__("rax") = SYS_clone;
	register unsigned long rdi __asm__("rdi") = flags;
	register void *rsi __asm__("rsi") = stack_top;
	register int *rdx __asm__("rdx") = ptid;
	register int *r10 __asm__("r10") = ctid;
	register unsigned long r8 __asm__("r8") = tls;
	register struct ts_slot *r9 __asm__("r9") = slot;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r9, %%rdi\n\t"
			 "call ts_child_main\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(rdx), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory", "cc");
	return rax;
#elif defined(__aarch64__)
	/* arm64 (CLONE_BACKWARDS): clone(flags, stack, parent_tid, tls, child_tid). */
	register long x8 __asm__("x8") = SYS_clone;
	register long x0 __asm__("x0") = (long)flags;
	register void *x1 __asm__("x1") = stack_top;
	register int *x2 __asm__("x2") = ptid;
	register unsigned long x3 __asm__("x3") = tls;
	register int *x4 __asm__("x4") = ctid;
	register struct ts_slot *x5 __asm__("x5") = slot;
	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, #0\n\t"
			 "mov x30, #0\n\t"
			 "mov x0, x5\n\t"
			 "bl ts_child_main\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "x30", "memory", "cc");
	return x0;
#endif
}

/* clone3(2): the kernel takes the stack from args and starts the child on
 * its top; from there on as in ts_clone. */
CHILD_CODE long
ts_clone3(void *args, unsigned long size, struct ts_slot *slot)
{
#if defined(__x86_64__)
	register long rax __asm__("rax") = SYS_clone3;
	register void *rdi __asm__("rdi") = args;
	register unsigned long rsi __asm__("rsi") = size;
	register struct ts_slot *r9 __asm__("r9") = slot;
	__asm__ volatile("syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "xor %%ebp, %%ebp\n\t"
			 "mov %%r9, %%rdi\n\t"
			 "call ts_child_main\n\t"
			 "ud2\n"
			 "1:"
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r9)
			 : "rcx", "r11", "memory", "cc");
	return rax;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_clone3;
	register long x0 __asm__("x0") = (long)args;
	register unsigned long x1 __asm__("x1") = size;
	register struct ts_slot *x5 __asm__("x5") = slot;
	__asm__ volatile("svc #0\n\t"
			 "cbnz x0, 1f\n\t"
			 "mov x29, #0\n\t"
			 "mov x30, #0\n\t"
			 "mov x0, x5\n\t"
			 "bl ts_child_main\n\t"
			 "brk #0\n"
			 "1:"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x5)
			 : "x30", "memory", "cc");
	return x0;
#endif
}
