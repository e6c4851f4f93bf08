/* The child's whole program: run each op, report, park until released, exit
 * (at once, unparked, when a guarded op returns anything but its expected value).
 *
 * Runs on a raw stack with the parent's thread pointer: calls nothing,
 * touches no libc state, no TLS - and no stack.  setup.py compiles this file
 * with every callee-saved register declared call-clobbered (-fcall-used-*),
 * so the function, which never returns, saves none: the stack we mapped for
 * the child stays untouched, and a held thread costs user space only its
 * slot.  tests/test_child_object.py checks all of this in the built object.
 * Signals are blocked from birth (the parent blocked them around clone), so
 * no handler ever runs here.
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sys/syscall.h>

#include "rawclone.h"

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

/* arg[j] of op as enum ts_arg_kind says; if-chains, no jump tables. */
static inline __attribute__((always_inline)) long
arg(const struct ts_slot *s, const struct ts_op *op, int j)
{
	const long v = op->arg[j];
	const unsigned long kind = (op->kinds >> (TS_KIND_BITS * j)) & 7;

	if (kind == TS_ARG_SCRATCH)
		return v + (long)s->scratch;
	if (kind == TS_ARG_PRIVATE)
		return v + (long)s->priv;
	if (kind == TS_ARG_RESULT)
		return s->ret[v];
	if (kind == TS_ARG_STACK)
		return v + s->stack_low;
	return v;
}

__attribute__((section("tidscope_child"), used, noreturn, visibility("hidden"))) void
ts_child_main(struct ts_slot *s)
{
	for (int i = 0; i < s->nops; i++) {
		const struct ts_op *op = &s->ops[i];

		s->ret[i] = sys6(op->nr, arg(s, op, 0), arg(s, op, 1), arg(s, op, 2),
				 arg(s, op, 3), arg(s, op, 4), arg(s, op, 5));
		if (op->guarded && s->ret[i] != op->expect) {
			s->stopped_at = i + 1;
			goto leave;
		}
	}
	__atomic_store_n(&s->state, TS_RAN, __ATOMIC_RELEASE);
	sys6(SYS_futex, (long)&s->state, s->wake_op, 1, 0, 0, 0);

	if (s->park)
		while (__atomic_load_n(s->go, __ATOMIC_ACQUIRE) == 0)
			sys6(SYS_futex, (long)s->go, s->go_wait_op, 0, 0, 0, 0);

	/* After this store the parent may reuse the slot as soon as the kernel
	 * has cleared ctid (or reaped us): touch nothing but registers. */
	__atomic_store_n(&s->state, TS_EXITING, __ATOMIC_RELEASE);
	for (;;)
		sys6(SYS_exit, 0, 0, 0, 0, 0, 0);

leave:
	/* A failed guard: exit without parking, and wake a parent waiting for
	 * us to run as the normal path does.  The wake only names the word's
	 * address, which stays mapped while we exist (the parent unmaps slots
	 * only after we are gone). */
	{
		long word = (long)&s->state, wake = s->wake_op;

		__asm__ volatile("" : "+r"(word), "+r"(wake));
		__atomic_store_n(&s->state, TS_EXITING, __ATOMIC_RELEASE);
		sys6(SYS_futex, word, wake, 1, 0, 0, 0);
		for (;;)
			sys6(SYS_exit, 0, 0, 0, 0, 0, 0);
	}
}
