/* Walk: a walk's batches, the next one read by a helper thread.
 *
 * While Python turns one batch into objects (and ps formats them), a
 * helper thread reads the next, without the GIL; the thread that steps the
 * walk then reads what the helper has not claimed yet.  The rules this
 * keeps:
 *
 *   - the helper thread blocks every signal, so handlers run on Python's
 *     main thread only; if it cannot be started, this thread reads;
 *   - our own process is never read while the helper lives, so that its
 *     thread count (and its task list) is what a single-threaded reader
 *     sees: our own group is read by this thread alone, and our own
 *     process's entry after the helper is joined and the kernel has let
 *     go of its task (pthread_join returns before the task is released);
 *   - a Walk is stepped by one thread at a time (another gets ValueError),
 *     and a forked child's copy reads again, alone, what the parent's
 *     helper was reading.
 *
 * The numbers form of another process's group (top, which sorts what it
 * reads) is split instead: its order is not kept.  One helper reads for
 * the whole walk, chunk after chunk claimed from the ids, into a batch of
 * its own (hb); this thread reads the other chunks a batch at a time and
 * hands each over as it goes, then joins the helper once and hands over
 * hb.  So this thread waits for the helper once a walk, not once a batch:
 * on a busy machine a helper preempted in the middle of a file held each
 * batch up by a time slice.
 */
#include "procread.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct {
	PyObject_HEAD
	struct plan plan;
	PyObject *make, *parse;
	int *ids;
	Py_ssize_t n, next; /* ids; the first not yet handed to a reader */
	struct batch b[2];  /* the one Python takes next, and the one being read */
	int reading;        /* b[1] is being read by the helper */
	pthread_t helper;
	pid_t helper_tid;   /* its task: gone from /proc once join_helper returns */
	pid_t owner;        /* the process that may join the helper */
	int done;
	int busy; /* a thread is in Walk_next or Walk_init (checked with the GIL) */
	/* the split numbers form (see above) */
	int split, started, orphaned; /* orphaned: forked while the helper read */
	Py_ssize_t claimed;           /* ids handed out, CHUNK at a time (atomic) */
	struct batch hb;              /* what the helper read, all of it */
	unsigned char *mine;          /* the chunks this thread read */
} Walk;

#define CHUNK 64 /* ids claimed at a time in the split form */

static void *helper_main(void *arg)
{
	Walk *w = arg;

	w->helper_tid = (pid_t)syscall(SYS_gettid);
	read_batch(&w->plan, &w->b[1], 1, 1);
	return NULL;
}

/* Read the chunk of ids from c into b (arena who), appending. */
static void read_chunk(Walk *w, struct batch *b, int who, Py_ssize_t c)
{
	Py_ssize_t end = c + CHUNK < w->n ? c + CHUNK : w->n;

	for (Py_ssize_t i = c; i < end; i++) {
		struct item *it = &b->items[b->count++];

		it->id = w->ids[i];
		read_task(&w->plan, b, who, it);
	}
}

/* Claim chunks of ids and read them into b (arena who), appending, until
 * b holds most items or more, none is left, or a read failed. */
static void read_chunks(Walk *w, struct batch *b, int who, Py_ssize_t most)
{
	while (b->count < most && !b->ar[who].fatal) {
		Py_ssize_t c = __atomic_fetch_add(&w->claimed, CHUNK, __ATOMIC_RELAXED);

		if (c >= w->n)
			return;
		if (who == 0)
			w->mine[c / CHUNK] = 1;
		read_chunk(w, b, who, c);
	}
}

static void *split_main(void *arg)
{
	Walk *w = arg;

	w->helper_tid = (pid_t)syscall(SYS_gettid);
	read_chunks(w, &w->hb, 1, w->n);
	return NULL;
}

/* Fill b with the next ids (up to BATCH); 0 if there are none left. */
static int take(Walk *w, struct batch *b)
{
	Py_ssize_t k = w->n - w->next < BATCH ? w->n - w->next : BATCH;

	for (Py_ssize_t i = 0; i < k; i++)
		b->items[i].id = w->ids[w->next + i];
	batch_reset(b, k);
	w->next += k;
	return k > 0;
}

/* Start reading b[1] (the split form: chunks into hb) on the helper; 0 if
 * it could not start (read it here). */
static int start_helper(Walk *w)
{
	sigset_t all, old;
	int started = 0;

	if (w->plan.tgid == w->plan.self)
		return 0; /* our own group: read by this thread alone */
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
		started = pthread_create(&w->helper, NULL, w->split ? split_main : helper_main, w) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return started;
}

/* Join the helper, then wait until its task is released: the kernel wakes
 * pthread_join when the thread clears its tid, before it takes the task out
 * of our thread count and task list; tgkill(.., 0) fails (ESRCH) once it has.
 * Bounded: a tid reused meanwhile by a thread of ours must not hang us. */
static void join_helper(Walk *w)
{
	if (w->reading && w->owner == (pid_t)syscall(SYS_getpid)) {
		pthread_join(w->helper, NULL);
		for (int spin = 0; spin < 100000; spin++) {
			if (syscall(SYS_tgkill, w->owner, w->helper_tid, 0) != 0)
				break;
			sched_yield();
		}
	}
	w->reading = 0;
}

/* In a forked child, the batch the parent's helper was reading is read
 * again from the start by this thread: that helper does not exist here. */
static void adopt(Walk *w)
{
	pid_t me = (pid_t)syscall(SYS_getpid);

	if (w->owner == me)
		return;
	if (w->reading && w->split)
		w->orphaned = 1; /* its chunks are read again at the end */
	else if (w->reading)
		batch_reset(&w->b[1], w->b[1].count);
	w->reading = 0;
	w->owner = me;
	w->plan.self = me;
}

/* Our own entry, left by the helper (length -2), read now that it is gone. */
static void read_deferred(Walk *w, struct batch *b)
{
	for (Py_ssize_t i = 0; i < b->count && !batch_fatal(b); i++)
		if (b->items[i].len[0] == -2)
			read_task(&w->plan, b, 0, &b->items[i]);
}

static PyObject *Walk_step(Walk *w);
static PyObject *split_step(Walk *w);

static PyObject *Walk_next(Walk *w)
{
	PyObject *out;

	if (w->busy) {
		PyErr_SetString(PyExc_ValueError, "Walk already executing");
		return NULL;
	}
	if (w->done || !w->make || !w->parse)
		return NULL; /* ended, or cleared by the garbage collector */
	w->busy = 1;
	adopt(w);
	out = w->split ? split_step(w) : Walk_step(w);
	w->busy = 0;
	return out;
}

static PyObject *Walk_step(Walk *w)
{
	struct batch tmp;
	PyObject *out;

	if (!w->reading && w->b[1].count == 0) {
		/* the first batch: read here, then start the helper on the second */
		if (!take(w, &w->b[0])) {
			w->done = 1;
			return NULL;
		}
		Py_BEGIN_ALLOW_THREADS
		read_batch(&w->plan, &w->b[0], 0, 0);
		Py_END_ALLOW_THREADS
	} else {
		Py_BEGIN_ALLOW_THREADS
		/* read what the helper has not claimed yet (all of it if there
		 * is no helper), then our own entry once the helper is gone */
		read_batch(&w->plan, &w->b[1], 0, 1);
		join_helper(w);
		if (!batch_fatal(&w->b[1]))
			read_deferred(w, &w->b[1]);
		Py_END_ALLOW_THREADS
		tmp = w->b[0];
		w->b[0] = w->b[1];
		w->b[1] = tmp;
		w->b[1].count = 0;
	}
	if (!batch_fatal(&w->b[0]) && take(w, &w->b[1]))
		w->reading = start_helper(w); /* else this thread reads it next time */
	out = objects(&w->plan, &w->b[0], w->make, w->parse);
	w->b[0].count = 0;
	if (!out || w->b[1].count == 0)
		w->done = 1; /* an error ends the walk; so does the last batch */
	if (!out) {
		Py_BEGIN_ALLOW_THREADS
		join_helper(w);
		Py_END_ALLOW_THREADS
	}
	return out;
}

/* The split form's step: a batch this thread read, or, once none is left,
 * all that the helper read (read again here in a forked child). */
static PyObject *split_step(Walk *w)
{
	struct batch *b = &w->b[0];
	PyObject *out;

	if (!w->started) {
		w->started = 1;
		if (w->n > CHUNK)
			w->reading = start_helper(w);
	}
	batch_reset(b, 0);
	Py_BEGIN_ALLOW_THREADS
	read_chunks(w, b, 0, BATCH);
	Py_END_ALLOW_THREADS
	if (b->count == 0 && !batch_fatal(b)) {
		/* none left for this thread: the helper's share */
		w->done = 1;
		b = &w->hb;
		Py_BEGIN_ALLOW_THREADS
		join_helper(w);
		if (w->orphaned) {
			batch_reset(b, 0);
			for (Py_ssize_t c = 0; c < w->n && !batch_fatal(b); c += CHUNK)
				if (!w->mine[c / CHUNK])
					read_chunk(w, b, 1, c);
		}
		Py_END_ALLOW_THREADS
		if (b->count == 0 && !batch_fatal(b))
			return NULL;
	}
	out = objects(&w->plan, b, w->make, w->parse);
	if (!out) {
		w->done = 1;
		Py_BEGIN_ALLOW_THREADS
		join_helper(w);
		Py_END_ALLOW_THREADS
	}
	return out;
}

static int Walk_init(Walk *w, PyObject *args, PyObject *kw)
{
	static char *names[] = {"dir_fd", "ids", "tgid", "want_uid", "make", "parse",
				"files", "caps", "leader_own", "numbers", NULL};
	PyObject *ids, *make, *parse, *files = NULL, *caps = NULL;
	struct plan p = {0};

	if (w->ids || w->busy) {
		PyErr_SetString(PyExc_RuntimeError, "a Walk is made once");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "iOipOO|OOpp:Walk", names, &p.dir_fd, &ids,
					 &p.tgid, &p.want_uid, &make, &parse, &files, &caps,
					 &p.leader_own, &p.numbers))
		return -1;
	if (p.tgid < 0) {
		PyErr_SetString(PyExc_ValueError, "tgid must be 0 or a task id");
		return -1;
	}
	if (files && !plan_files(&p, files, caps ? caps : Py_None))
		return -1;
	if (p.numbers && (p.nfiles > 1 || (p.nfiles && strcmp(p.files[0], "schedstat")))) {
		PyErr_SetString(PyExc_ValueError, "the numbers form reads schedstat or no file");
		return -1;
	}
	p.self = (pid_t)syscall(SYS_getpid); /* the kernel's: libc's may lie */
	if (ids == Py_None) {
		/* list dir_fd here: a group's task/ directory, its leader first */
		Py_ssize_t n;
		int err = 0;

		w->busy = 1; /* another __init__ meanwhile would list it again */
		Py_BEGIN_ALLOW_THREADS
		n = list_ids(p.dir_fd, &w->ids);
		err = errno;
		Py_END_ALLOW_THREADS
		w->busy = 0;
		if (n < 0) {
			errno = err;
			PyErr_SetFromErrno(PyExc_OSError);
			return -1;
		}
		w->n = n;
		if (p.tgid && n && w->ids[0] != p.tgid)
			w->n = 0; /* no thread group's directory: see snapshot.group */
	} else {
		w->ids = c_ids(ids, &w->n);
		if (!w->ids)
			return -1;
	}
	/* no bigger than the walk: most groups have one task or a few */
	if (!batch_init(&w->b[0], w->n < BATCH ? w->n : BATCH) ||
	    !batch_init(&w->b[1], w->n < BATCH ? w->n : BATCH))
		return -1;
	w->split = p.numbers && p.tgid && p.tgid != p.self;
	if (w->split) {
		/* this thread's batches hold whole chunks: room for one more */
		batch_free(&w->b[0]);
		w->mine = PyMem_RawCalloc((size_t)(w->n / CHUNK + 1), 1);
		if (!w->mine) {
			PyErr_NoMemory();
			return -1;
		}
		/* hb: an item for each id, its arenas grown as the helper reads */
		if (!batch_init(&w->b[0], BATCH + CHUNK) || !batch_init_room(&w->hb, w->n, BATCH))
			return -1;
	}
	w->plan = p;
	w->make = Py_NewRef(make);
	w->parse = Py_NewRef(parse);
	w->owner = p.self;
	return 0;
}

static void Walk_dealloc(Walk *w)
{
	PyObject_GC_UnTrack(w);
	Py_BEGIN_ALLOW_THREADS
	join_helper(w);
	Py_END_ALLOW_THREADS
	batch_free(&w->b[0]);
	batch_free(&w->b[1]);
	batch_free(&w->hb);
	PyMem_RawFree(w->mine);
	PyMem_RawFree(w->ids);
	Py_CLEAR(w->make);
	Py_CLEAR(w->parse);
	Py_TYPE(w)->tp_free((PyObject *)w);
}

static int Walk_traverse(Walk *w, visitproc visit, void *arg)
{
	Py_VISIT(w->make);
	Py_VISIT(w->parse);
	return 0;
}

static int Walk_clear(Walk *w)
{
	Py_CLEAR(w->make);
	Py_CLEAR(w->parse);
	return 0;
}

PyTypeObject WalkType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tidscope.proc._procread.Walk",
	.tp_basicsize = sizeof(Walk),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Walk(dir_fd, ids, tgid, want_uid, make, parse, files=(), caps=(),\n"
		  "leader_own=False): an iterator of lists, one per batch of ids, of make(...)\n"
		  "objects (or, with files, (object, (bytes|None, ...)) pairs); the next batch is\n"
		  "read by a helper thread while the caller works on this one.  leader_own: the\n"
		  "group's leader from its own task directory (its thread's times), not its\n"
		  "process's.  numbers: each item a tuple of top's numbers (files: schedstat or\n"
		  "none), parse(line, tid, tgid, uid, schedstat) reading any line not in the\n"
		  "kernel's form; make is not called.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Walk_init,
	.tp_dealloc = (destructor)Walk_dealloc,
	.tp_traverse = (traverseproc)Walk_traverse,
	.tp_clear = (inquiry)Walk_clear,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)Walk_next,
};
