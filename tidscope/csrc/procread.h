/* tidscope.proc._procread: declarations its files share (private).
 *
 * The C reader reads many /proc task files at the kernel's own pace:
 *
 *   procread.c   the module: read_stats, and the arguments it and Walk take
 *   reader_io.c  the batched reads: a batch's items, claimed by two threads
 *                at most, each reading into its own arena, without the GIL
 *   stat_parse.c the stat line in the kernel's form, and the objects a batch
 *                becomes (with the GIL)
 *   walker.c     Walk: batches, the next read by a helper thread
 *
 * What the objects hold is decided in tidscope/proc/task.py and snapshot.py,
 * not here:
 *
 *   - a stat line is parsed here only in the form the kernel writes it
 *     (plain decimal fields, a one-letter state); any other line goes whole
 *     to the caller's parser (task.parse_stat), which stays the one
 *     statement of the rules (tests hold the two to the same answers);
 *   - a task whose stat file is gone or hidden is left out, as files.read
 *     leaves it out; another file that cannot be read is None;
 *     running out of file descriptors or memory is an OSError;
 *   - the reading of a walk's next batch by a helper thread keeps the rules
 *     walker.c states: signals, our own process, one stepping thread, fork.
 */
#ifndef TIDSCOPE_PROCREAD_H
#define TIDSCOPE_PROCREAD_H

#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <Python.h>

#include <fcntl.h>
#include <sys/types.h>

#define SLOT 4096     /* the first read of a file, as files.CHUNK: any stat line fits */
#define BATCH 256     /* tasks a Walk hands over at a time */
#define MAX_IDS 1024  /* read_stats: ids per call */
#define MAX_FILES 4   /* whole files per task besides stat */
#define NAME_MAX_ 32  /* a file name we are given (status, ns/pid...) */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

struct item {
	int id;
	int has_uid; /* uid holds the owner of the task's directory */
	uid_t uid;
	int arena;                 /* which of the batch's arenas holds its files */
	size_t off[1 + MAX_FILES]; /* in that arena: stat, then each file */
	long len[1 + MAX_FILES];   /* -1: stat gone (task left out) or file unreadable;
				    * len[0] -2: our own entry, left for later */
};

/* What one walk reads for every task: fixed once made. */
struct plan {
	int dir_fd;
	int tgid; /* 0: each id is a process under dir_fd */
	int leader_own; /* a group's leader is read from its own task directory,
			 * not its process's (".."): its own thread's times (top) */
	int want_uid;
	int numbers; /* each item a tuple of top's numbers (stat_parse.c), not make(...):
		      * the one file is schedstat, read in one read as stat is */
	int nfiles;
	char files[MAX_FILES][NAME_MAX_];
	long caps[MAX_FILES]; /* the most read of each file */
	pid_t self;
};

/* Where one thread puts what it reads. */
struct arena {
	char *data;
	size_t used, cap;
	int fatal; /* an errno that is no task's answer (see reader_io.c) */
	char fatal_path[16 + NAME_MAX_]; /* the file it came from, under the plan's dir_fd */
};

/* Items are claimed one at a time (claim), by the helper and, once Python
 * asks for the batch, by this thread too: each into its own arena. */
struct batch {
	struct item *items;
	Py_ssize_t count;
	Py_ssize_t claim;
	struct arena ar[2]; /* 0: this thread's, 1: the helper's */
};

static inline int batch_fatal(const struct batch *b)
{
	return b->ar[0].fatal ? b->ar[0].fatal : b->ar[1].fatal;
}

static inline const char *batch_fatal_path(const struct batch *b)
{
	return b->ar[0].fatal ? b->ar[0].fatal_path : b->ar[1].fatal_path;
}

/* reader_io.c: no Python object is touched, so all of it runs without the GIL
 * (batch_init excepted: it sets MemoryError). */
int batch_init(struct batch *b, Py_ssize_t size);
int batch_init_room(struct batch *b, Py_ssize_t size, Py_ssize_t room);
void batch_free(struct batch *b);
void batch_reset(struct batch *b, Py_ssize_t count);
void read_task(const struct plan *p, struct batch *batch, int who, struct item *it);
void read_batch(const struct plan *p, struct batch *b, int who, int skip_self);
Py_ssize_t list_ids(int fd, int **out);

/* stat_parse.c: with the GIL. */
PyObject *objects(const struct plan *p, const struct batch *b, PyObject *make, PyObject *parse);

/* procread.c: the arguments read_stats and Walk share. */
int plan_files(struct plan *p, PyObject *files, PyObject *caps);
int *c_ids(PyObject *ids, Py_ssize_t *n);

/* walker.c */
extern PyTypeObject WalkType;

#endif
