/* tidscope raw-clone core: shared declarations.
 *
 * A child created here runs only the code in the "tidscope_child" section
 * (child.c): raw syscalls issued by inline asm, no libc, no Python, no TLS.
 * Everything it needs is in its slot, at the top of its own stack mapping,
 * which is MAP_SHARED so that children which do not share our memory can
 * still report back.
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

/* How a child reads arg[j] of an op: 2 bits per argument in ts_op.kinds. */
enum ts_arg_kind {
	TS_ARG_LITERAL = 0, /* the value itself */
	TS_ARG_SCRATCH = 1, /* an offset into the child's own scratch buffer */
	TS_ARG_PRIVATE = 2,    /* an offset into the group's private area: with CLONE_VM
			 * the parent's memory, otherwise the child's copy */
	TS_ARG_RESULT = 3,  /* the return value of an earlier op of the program */
};

/* One raw syscall of a child's program. */
struct ts_op {
	long nr;
	long arg[TS_NARGS];
	unsigned long kinds;
};

enum ts_state {
	TS_BORN = 0,    /* set by the parent before clone */
	TS_RAN = 1,     /* the child ran its whole program */
	TS_EXITING = 2, /* the child no longer reads its slot or stack */
};

/* Lives at the top of the child's stack; the child's stack grows below it. */
struct ts_slot {
	int ctid;  /* CLONE_CHILD_SETTID / CLONE_CHILD_CLEARTID word */
	int ptid;  /* CLONE_PARENT_SETTID word, or the pidfd with clone(2)'s CLONE_PIDFD */
	int pidfd; /* clone3's CLONE_PIDFD word */
	int state; /* enum ts_state, written by the child */
	int nops;
	int park;          /* nonzero: wait for *go before exiting */
	int go_wait_op;    /* FUTEX_WAIT, with FUTEX_PRIVATE_FLAG iff CLONE_VM */
	int wake_op;       /* FUTEX_WAKE, likewise: wakes a parent waiting on state */
	const int *go;     /* release word, in the group's shared page */
	const struct ts_op *ops;
	unsigned char *priv; /* the group's private area */
	long ret[TS_MAX_OPS]; /* return value of each op (-errno on failure) */
	unsigned long tls[8]; /* what CLONE_SETTLS points at; never read */
	unsigned char scratch[TS_SCRATCH_SIZE];
};

/* Parent-side bookkeeping of one child. */
struct ts_child {
	struct ts_slot *slot;
	void *stack_low;        /* lowest usable byte, above the guard page */
	pid_t tid;              /* clone's return value, 0 before spawn */
	int pidfd;              /* -1 unless CLONE_PIDFD */
	int joined;
	int wstatus;            /* wait4 status for process-like children */
	int reaped;             /* wait4 reaped it (not so after CLONE_PARENT) */
	long resumed_ns;        /* CLOCK_MONOTONIC when clone returned to us */
	int state_at_resume;    /* the child's state word when clone returned */
	unsigned long regs[6];  /* syscall nr, flags, stack, ptid, ctid, tls */
};

struct ts_stacks {
	void *base;      /* one mapping for all stacks of a group */
	size_t size;     /* total bytes */
	size_t each;     /* bytes per stack, guard page included */
	int growsdown;   /* per-child MAP_GROWSDOWN mappings instead */
	void **maps;     /* growsdown: each child's own mapping */
};

struct ts_group {
	unsigned long flags;     /* clone(2) flags, or clone3's flags | exit signal */
	int clone3;              /* issue clone3(2) instead of clone(2) */
	int cgroup_fd;           /* clone3's CLONE_INTO_CGROUP target, or -1 */
	int exit_signal;         /* clone3's exit signal (clone(2): in flags) */
	int count;
	int spawned;
	int released;
	int nops;
	int park;
	const char *failed_in; /* "stack" or "clone": where the last spawn failed */
	int *go; /* in its own MAP_SHARED page */
	struct ts_op ops[TS_MAX_OPS];
	unsigned char *scratch; /* count * TS_SCRATCH_SIZE bytes, copied into slots */
	unsigned char priv[TS_PRIVATE_SIZE] __attribute__((aligned(64)));
	struct ts_stacks stacks;
	struct ts_child *child;
};

/* child.c: issue clone(2); in the child, run slot's program and exit. */
long ts_clone(unsigned long flags, void *stack_top, int *ptid, int *ctid,
	      unsigned long tls, struct ts_slot *slot);
/* child.c: issue clone3(2) with args (the child's stack is in it). */
long ts_clone3(void *args, unsigned long size, struct ts_slot *slot);

/* stacks.c: all return 0 or -errno. */
size_t ts_page_size(void);
int ts_stacks_map(struct ts_stacks *st, int count, size_t each, int growsdown);
int ts_stack_get(struct ts_stacks *st, int i, void **low, void **top);
void ts_stack_put(struct ts_stacks *st, int i);
void ts_stacks_unmap(struct ts_stacks *st, int count);

/* group.c: all return 0 or -errno. */
int ts_group_init(struct ts_group *g, unsigned long flags, int count,
		  size_t stack_size, int growsdown, int park);
int ts_spawn_one(struct ts_group *g);
void ts_release(struct ts_group *g);
int ts_wait_ran(struct ts_group *g, int i, long timeout_ns);
int ts_join_one(struct ts_group *g, int i);
void ts_group_free(struct ts_group *g);

#endif
