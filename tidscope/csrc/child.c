/* The clone trampolines: the last code the parent and the first code the
 * child run of each clone.
 *
 * They live in the "tidscope_child" section with the child's loop
 * (childloop.c): in the child they run on a raw stack, with no TLS of their
 * own, touch no memory at all and jump to ts_child_main with the slot.
 * tests/test_child_object.py disassembles the section to keep it that way.
 */
#define _GNU_SOURCE
#include <sys/syscall.h>

#include "rawclone.h"

#define CHILD_CODE __attribute__((section("tidscope_child"), used))

/* The syscall, then, in the child only (it sees 0): clear the frame
 * pointer, move the slot (kept in a register the kernel preserves) into the
 * first argument, align the stack pointer as a call would without writing a
 * return address, and jump to the loop.  The parent goes on at 1. */
#if defined(__x86_64__)
#define SYSCALL_THEN_CHILD                                                    \
	"syscall\n\t"                                                         \
	"test %%rax, %%rax\n\t"                                               \
	"jnz 1f\n\t"                                                          \
	"xor %%ebp, %%ebp\n\t"                                                \
	"mov %%r9, %%rdi\n\t"                                                 \
	"sub $8, %%rsp\n\t"                                                   \
	"jmp ts_child_main\n"                                                 \
	"1:"
#elif defined(__aarch64__)
#define SYSCALL_THEN_CHILD                                                    \
	"svc #0\n\t"                                                          \
	"cbnz x0, 1f\n\t"                                                     \
	"mov x29, #0\n\t"                                                     \
	"mov x30, #0\n\t"                                                     \
	"mov x0, x5\n\t"                                                      \
	"b ts_child_main\n"                                                   \
	"1:"
#endif

/* clone(2) as the kernel sees it.  The parent returns the new tid (or
 * -errno); the child starts on stack_top with nothing but slot and enters
 * ts_child_main, which never returns. */
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
	__asm__ volatile(SYSCALL_THEN_CHILD
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
	__asm__ volatile(SYSCALL_THEN_CHILD
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
	__asm__ volatile(SYSCALL_THEN_CHILD
			 : "+r"(rax)
			 : "r"(rdi), "r"(rsi), "r"(r9)
			 : "rcx", "r11", "memory", "cc");
	return rax;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = SYS_clone3;
	register long x0 __asm__("x0") = (long)args;
	register unsigned long x1 __asm__("x1") = size;
	register struct ts_slot *x5 __asm__("x5") = slot;
	__asm__ volatile(SYSCALL_THEN_CHILD
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x5)
			 : "x30", "memory", "cc");
	return x0;
#endif
}
