/* A group of raw children cloned with one flag set: spawn, release, join.
 *
 * Join rules (each child is joined exactly once, stacks are unmapped only
 * after every child of the group was joined):
 *  - not CLONE_THREAD: the child is our child; wait4(__WALL) reaps it;
 *  - CLONE_THREAD with CLONE_CHILD_CLEARTID: wait until the kernel has
 *    cleared ctid (it also FUTEX_WAKEs it) - after that the task touches
 *    none of our memory - then until tgkill(0) says it is gone;
 *  - CLONE_THREAD without it: wait for TS_EXITING, then for tgkill(0).
 * No libc call here runs in a child: children only run child.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rawclone.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

/* struct clone_args up to CLONE_ARGS_SIZE_VER2 (Linux 5.7), spelled out so
 * that older headers build too. */
struct ts_clone_args {
	unsigned long long flags, pidfd, child_tid, parent_tid, exit_signal, stack,
		stack_size, tls, set_tid, set_tid_size, cgroup;
};

static long futex(const int *word, int op, int val)
{
	return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* Futexes between us and a child that shares our memory may be private;
 * otherwise the word is in a MAP_SHARED page and the futex must be shared. */
static int private_flag(const struct ts_group *g)
{
	return g->flags & CLONE_VM ? FUTEX_PRIVATE_FLAG : 0;
}

/* Raw rt_sigprocmask: glibc's sigprocmask never blocks its internal
 * signals (32, 33), whose handlers would then run on a raw stack. */
static int mask_all(unsigned long *old)
{
	unsigned long all = ~0UL;

	return (int)syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, old, sizeof(all));
}

static void unmask(const unsigned long *old)
{
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, old, NULL, sizeof(*old));
}

int ts_group_init(struct ts_group *g, unsigned long flags, int count,
		  size_t stack_size, int growsdown, int park)
{
	int err;

	memset(g, 0, sizeof(*g));
	g->flags = flags;
	g->cgroup_fd = -1;
	g->count = count;
	/* A vfork parent sleeps in clone until the child exits: never park. */
	g->park = flags & CLONE_VFORK ? 0 : park;
	g->child = calloc((size_t)count, sizeof(*g->child));
	g->scratch = calloc((size_t)count, TS_SCRATCH_SIZE);
	if (!g->child || !g->scratch) {
		err = -ENOMEM;
		goto fail;
	}
	err = ts_stacks_map(&g->stacks, count, stack_size, growsdown);
	if (err)
		goto fail;
	g->go = (int *)g->stacks.shared;
	return 0;
fail:
	ts_group_free(g);
	return err;
}

int ts_spawn_one(struct ts_group *g)
{
	struct ts_child *c = &g->child[g->spawned];
	void *low, *top;
	unsigned long old;
	int err = ts_stack_get(&g->stacks, g->spawned, &low, &top);

	g->failed_in = "stack";
	if (err)
		return err;
	struct ts_slot *s = ts_slot_of(&g->stacks, g->spawned);
	memset(s, 0, sizeof(*s));
	s->ctid = -1; /* nonzero until the kernel clears it at exit */
	s->ptid = -1; /* shows whether the kernel wrote a tid or pidfd here */
	s->pidfd = -1;
	s->priv = g->priv;
	s->stack_low = (long)low;
	s->nops = g->nops;
	s->ops = g->ops;
	s->park = g->park;
	s->go = g->go;
	s->go_wait_op = FUTEX_WAIT | private_flag(g);
	s->wake_op = FUTEX_WAKE | private_flag(g);
	memcpy(s->scratch, g->scratch + (size_t)g->spawned * TS_SCRATCH_SIZE, TS_SCRATCH_SIZE);

	c->slot = s;
	c->stack_low = low;
	c->pidfd = -1;
	c->regs[0] = SYS_clone;
	c->regs[1] = g->flags;
	c->regs[2] = (unsigned long)top; /* page-aligned, so 16-byte aligned */
	c->regs[3] = (unsigned long)&s->ptid;
	c->regs[4] = (unsigned long)&s->ctid;
	c->regs[5] = g->flags & CLONE_SETTLS ? (unsigned long)s->tls : 0;

	g->failed_in = "clone";
	struct ts_clone_args args = {
		.flags = g->flags & ~0xffUL,
		.pidfd = (unsigned long)&s->pidfd,
		.child_tid = (unsigned long)&s->ctid,
		.parent_tid = (unsigned long)&s->ptid,
		.exit_signal = g->exit_signal,
		.stack = (unsigned long)low,
		.stack_size = (unsigned long)((char *)top - (char *)low),
		.tls = c->regs[5],
		.cgroup = (unsigned long)(g->cgroup_fd < 0 ? 0 : g->cgroup_fd),
	};
	if (g->set_tid_size) {
		args.set_tid = (unsigned long)g->set_tid;
		args.set_tid_size = (unsigned long)g->set_tid_size;
	}
	if (g->clone3) {
		args.flags = g->flags; /* clone3: CLONE_NEWTIME is 0x80 here */
		c->regs[0] = SYS_clone3;
		c->regs[1] = (unsigned long)&args; /* only valid during the call */
	}
	if (mask_all(&old) != 0)
		return -errno;
	long tid = g->clone3 ? ts_clone3(&args, sizeof(args), s)
			     : ts_clone(g->flags, top, &s->ptid, &s->ctid, c->regs[5], s);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	c->state_at_resume = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
	unmask(&old);
	c->resumed_ns = now.tv_sec * 1000000000L + now.tv_nsec;
	if (tid < 0) {
		ts_stack_put(&g->stacks, g->spawned);
		return (int)tid;
	}
	c->tid = (pid_t)tid;
	if (g->flags & CLONE_PIDFD)
		c->pidfd = g->clone3 ? s->pidfd : s->ptid;
	g->spawned++;
	return 0;
}

void ts_release(struct ts_group *g)
{
	if (g->released || !g->go)
		return;
	g->released = 1;
	__atomic_store_n(g->go, 1, __ATOMIC_RELEASE);
	futex(g->go, FUTEX_WAKE | private_flag(g), INT_MAX);
}

/* Wait until child i has run its program, for at most timeout_ns. */
int ts_wait_ran(struct ts_group *g, int i, long timeout_ns)
{
	struct ts_slot *s = g->child[i].slot;
	struct timespec now, end;

	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += timeout_ns / 1000000000L;
	end.tv_nsec += timeout_ns % 1000000000L;
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == TS_BORN) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		struct timespec left = {end.tv_sec - now.tv_sec, end.tv_nsec - now.tv_nsec};
		if (left.tv_nsec < 0) {
			left.tv_sec--;
			left.tv_nsec += 1000000000L;
		}
		if (left.tv_sec < 0)
			return -ETIMEDOUT;
		syscall(SYS_futex, &s->state, FUTEX_WAIT | private_flag(g), TS_BORN, &left,
			NULL, 0);
	}
	return 0;
}

/* The kernel clears the CLEARTID word when the thread stops using our
 * memory, a moment before the task itself is gone from the thread group
 * (and /proc/self/task); a join waits for both, as the tests require. */
static void wait_gone(pid_t tid)
{
	while (syscall(SYS_tgkill, (pid_t)syscall(SYS_getpid), tid, 0) == 0)
		sched_yield();
}

static int join_thread(struct ts_group *g, struct ts_child *c)
{
	struct ts_slot *s = c->slot;

	if (g->flags & CLONE_CHILD_CLEARTID) {
		/* Shared wait: the kernel's wake on exit is not FUTEX_PRIVATE.  It
		 * wakes one waiter only, so someone else waiting on the word may
		 * take it: the timeout makes us look at the word again. */
		const struct timespec recheck = {0, 100000000};
		for (int v; (v = __atomic_load_n(&s->ctid, __ATOMIC_ACQUIRE)) != 0;)
			syscall(SYS_futex, &s->ctid, FUTEX_WAIT, v, &recheck, NULL, 0);
	} else {
		const struct timespec tick = {0, 50000};
		while (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != TS_EXITING)
			nanosleep(&tick, NULL);
	}
	wait_gone(c->tid);
	return 0;
}

/* A child found stopped (by SIGSTOP, SIGTSTP... from anyone) when it is to
 * exit would keep its join waiting for good: it is ended with SIGKILL
 * through a pidfd (clone's, or one opened now: an unreaped child's pid is
 * its own), which ends a stopped task too.  spawn says so in a note. */
static int end_stopped(struct ts_child *c, int signo)
{
	int fd = c->pidfd >= 0 ? c->pidfd : (int)syscall(SYS_pidfd_open, c->tid, 0);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) != 0 && errno != ESRCH)
		err = -errno;
	if (fd != c->pidfd)
		close(fd);
	if (!err)
		c->ended_stopped = signo;
	return err;
}

/* wait4 refused (a seccomp filter, an injected fault): the child is reaped
 * through waitid(2) instead, so that none is left behind; the failure is
 * kept in c->wait_errno (and waitid's in c->waitid_errno) for the caller
 * to report. */
static int reap_by_waitid(struct ts_child *c)
{
	for (;;) {
		siginfo_t si;

		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)c->tid, &si, WEXITED | WSTOPPED | __WALL) == 0) {
			if (si.si_code == CLD_STOPPED) {
				if (end_stopped(c, si.si_status) != 0)
					break;
				continue;
			}
			c->wstatus = si.si_code == CLD_EXITED ? (si.si_status & 0xff) << 8
							      : si.si_status | (si.si_code == CLD_DUMPED ? 0x80 : 0);
			c->reaped = 1;
			return -c->wait_errno;
		}
		if (errno != EINTR)
			break;
	}
	c->waitid_errno = errno;
	return -c->wait_errno;
}

/* ECHILD: a CLONE_PARENT child is our parent's to reap, not ours.  Any
 * other child is ours by construction: an ECHILD for it while it is still
 * there (kill with signal 0: an unreaped child's pid is its own) is a
 * failed wait (a filter, an injected fault), tried again for up to
 * WAIT_RETRY_MS; one gone was reaped by the kernel (SIGCHLD ignored).
 * WUNTRACED: a child that is stopped is seen, and ended (end_stopped). */
#define WAIT_RETRY_MS 2000
static int join_process(struct ts_group *g, struct ts_child *c)
{
	const struct timespec tick = {0, 1000000};
	int tries = 0, status = 0;

	for (;;) {
		pid_t r = wait4(c->tid, &status, __WALL | WUNTRACED, NULL);
		if (r == c->tid && WIFSTOPPED(status)) {
			int err = end_stopped(c, WSTOPSIG(status));
			if (err)
				return err;
			continue;
		}
		if (r == c->tid) {
			c->wstatus = status;
			c->reaped = 1;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (g->flags & CLONE_PARENT)
			return -errno;
		if (errno != ECHILD) {
			c->wait_errno = errno;
			return reap_by_waitid(c);
		}
		if (syscall(SYS_kill, c->tid, 0) != 0 && errno == ESRCH)
			return 0;
		if (++tries > WAIT_RETRY_MS)
			return -ECHILD;
		nanosleep(&tick, NULL);
	}
}

/* Blocks until child i is gone.  Safe without the GIL. */
int ts_join_one(struct ts_group *g, int i)
{
	struct ts_child *c = &g->child[i];
	int err;

	if (c->joined)
		return 0;
	ts_release(g);
	err = g->flags & CLONE_THREAD ? join_thread(g, c) : join_process(g, c);
	if (c->pidfd >= 0) {
		close(c->pidfd);
		c->pidfd = -1;
	}
	c->joined = 1;
	return err;
}

void ts_group_free(struct ts_group *g)
{
	int reusable = 1;

	for (int i = 0; i < g->spawned; i++) {
		ts_join_one(g, i);
		if (!(g->flags & CLONE_THREAD) && !g->child[i].reaped)
			reusable = 0; /* e.g. a CLONE_PARENT child: not ours to wait for */
	}
	ts_stacks_unmap(&g->stacks, reusable);
	free(g->child);
	free(g->scratch);
	memset(g, 0, sizeof(*g));
}
