/* tidscope raw-clone core: shared declarations.
 *
 * A child created here runs only the code in the "tidscope_child" section
 * (child.c, childloop.c): raw syscalls issued by inline asm, no libc, no
 * Python, no TLS - and no stack: the loop is compiled so that it saves no
 * register, so a child never touches the stack we map for it.  Everything
 * it reads or writes is in its slot, in a MAP_SHARED area beside the
 * stacks, so that children that do not share our memory still report back.
 */
#ifndef TIDSCOPE_RAWCLONE_H
#define TIDSCOPE_RAWCLONE_H

#include <stddef.h>
#include <sys/types.h>

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "tidscope's raw-clone core supports x86_64 and aarch64 only"
#endif

#define TS_MAX_OPS 16
#define TS_NARGS 6
#define TS_SCRATCH_SIZE 256 /* bytes of per-child scratch for pointer arguments */
#define TS_PRIVATE_SIZE 256 /* bytes of the group's private (not shared) area */
#define TS_KIND_BITS 3
#define TS_MAX_SET_TID 32 /* MAX_PID_NS_LEVEL: clone3's set_tid holds at most this many */

/* How a child reads arg[j] of an op: TS_KIND_BITS per argument in kinds. */
enum ts_arg_kind {
	TS_ARG_LITERAL = 0, /* the value itself */
	TS_ARG_SCRATCH = 1, /* an offset into the child's own scratch buffer */
	TS_ARG_PRIVATE = 2, /* an offset into the group's private area: with
			     * CLONE_VM the parent's memory, else the child's copy */
	TS_ARG_RESULT = 3,  /* the return value of an earlier op of the program */
	TS_ARG_STACK = 4,   /* an offset from the lowest usable byte of its stack */
};

/* One raw syscall of a child's program.  A guarded op ends the program
 * unless it returned exactly expect: the child then exits at once, without
 * parking. */
struct ts_op {
	long nr;
	long arg[TS_NARGS];
	unsigned long kinds;
	long expect;
	int guarded;
};

enum ts_state {
	TS_BORN = 0,    /* set by the parent before clone */
	TS_RAN = 1,     /* the child ran its whole program */
	TS_EXITING = 2, /* the child no longer reads its slot */
};

/* One child's words, results and scratch; the child touches nothing else. */
struct ts_slot {
	int ctid;  /* CLONE_CHILD_SETTID / CLONE_CHILD_CLEARTID word */
	int ptid;  /* CLONE_PARENT_SETTID word, or the pidfd with clone(2)'s CLONE_PIDFD */
	int pidfd; /* clone3's CLONE_PIDFD word */
	int state; /* enum ts_state, written by the child */
	int stopped_at; /* 1 + the index of the guarded op that failed, 0 if none */
	int nops;
	int park;       /* nonzero: wait for *go before exiting */
	int go_wait_op; /* FUTEX_WAIT, with FUTEX_PRIVATE_FLAG iff CLONE_VM */
	int wake_op;    /* FUTEX_WAKE, likewise: wakes a parent waiting on state */
	const int *go;  /* release word, in the group's shared page */
	const struct ts_op *ops;
	unsigned char *priv;  /* the group's private area */
	long stack_low;       /* base of TS_ARG_STACK arguments */
	long ret[TS_MAX_OPS]; /* return value of each op (-errno on failure) */
	unsigned long tls[8]; /* what CLONE_SETTLS points at; never read */
	unsigned char scratch[TS_SCRATCH_SIZE];
} __attribute__((aligned(64)));

/* Parent-side bookkeeping of one child. */
struct ts_child {
	struct ts_slot *slot;
	void *stack_low;       /* lowest usable byte, above the guard page */
	pid_t tid;             /* clone's return value, 0 before spawn */
	int pidfd;             /* -1 unless CLONE_PIDFD */
	int joined;
	int wstatus;           /* wait4 status for process-like children */
	int reaped;            /* wait4 reaped it (not so after CLONE_PARENT) */
	int ended_stopped;     /* the stop signal it was found stopped by at its join,
				* when we ended it with SIGKILL; 0 if none */
	int wait_errno;        /* wait4's errno when it failed (not ECHILD), or 0 */
	int waitid_errno;      /* then waitid's, when it could not reap it either */
	int state_at_resume;   /* the child's state word when clone returned */
	long resumed_ns;       /* CLOCK_MONOTONIC when clone returned to us */
	unsigned long regs[6]; /* syscall nr, flags, stack, ptid, ctid, tls */
};

/* Where a group's children live: private stacks, one shared slot area. */
struct ts_stacks {
	char *base;     /* all stacks, each with its guard page at the low end */
	size_t size;    /* bytes of that mapping */
	size_t each;    /* bytes per stack, guard page included */
	int count;      /* stacks (and slots) */
	int growsdown;  /* per-child MAP_GROWSDOWN mappings instead of base */
	int guarded;    /* stacks [0, guarded) of base have their guard page */
	void **maps;    /* growsdown: each child's own mapping */
	char *shared;   /* MAP_SHARED: a page of group words, then the slots */
	size_t shared_size;
};

struct ts_group {
	unsigned long flags; /* clone(2) flags, or clone3's 64-bit flags */
	int clone3;          /* issue clone3(2) instead of clone(2) */
	int cgroup_fd;       /* clone3's CLONE_INTO_CGROUP target, or -1 */
	int exit_signal;     /* clone3's exit signal (clone(2): in flags) */
	int set_tid_size;    /* clone3's set_tid: the tids asked for, innermost */
	pid_t set_tid[TS_MAX_SET_TID]; /* pid namespace first; 0 if none */
	int count;
	int spawned;
	int released;
	int nops;
	int park;
	const char *failed_in; /* "stack" or "clone": where the last spawn failed */
	int *go;               /* release word, in the shared area's first page */
	struct ts_op ops[TS_MAX_OPS];
	unsigned char *scratch; /* count * TS_SCRATCH_SIZE bytes, copied into slots */
	unsigned char priv[TS_PRIVATE_SIZE] __attribute__((aligned(64)));
	struct ts_stacks stacks;
	struct ts_child *child;
};

/* child.c: issue clone(2) or clone3(2); the child enters ts_child_main. */
long ts_clone(unsigned long flags, void *stack_top, int *ptid, int *ctid,
	      unsigned long tls, struct ts_slot *slot);
long ts_clone3(void *args, unsigned long size, struct ts_slot *slot);

/* childloop.c: the child's whole program; never returns. */
void ts_child_main(struct ts_slot *slot) __attribute__((noreturn));

/* stacks.c: all return 0 or -errno. */
size_t ts_page_size(void);
int ts_stacks_map(struct ts_stacks *st, int count, size_t each, int growsdown);
int ts_stack_get(struct ts_stacks *st, int i, void **low, void **top);
struct ts_slot *ts_slot_of(struct ts_stacks *st, int i);
void ts_stack_put(struct ts_stacks *st, int i);
void ts_stacks_unmap(struct ts_stacks *st, int reusable);
void ts_stacks_trim(void);

/* group.c: all return 0 or -errno. */
int ts_group_init(struct ts_group *g, unsigned long flags, int count,
		  size_t stack_size, int growsdown, int park);
int ts_spawn_one(struct ts_group *g);
void ts_release(struct ts_group *g);
int ts_wait_ran(struct ts_group *g, int i, long timeout_ns);
int ts_join_one(struct ts_group *g, int i);
void ts_group_free(struct ts_group *g);

#endif
