/* tidscope.proc._procread: read many /proc task files at the kernel's own pace.
 *
 * Walk(dir_fd, ids, tgid, ...) reads, for each id under one directory, its
 * stat file, the owner of its directory if asked, and whole files named by
 * the caller (status, wchan, cmdline...), in batches: while Python turns
 * one batch into objects (and ps formats them), a helper thread reads the
 * next, without the GIL.  read_stats() is the same reading, done at once by
 * the calling thread.  What the objects hold is decided in
 * tidscope/proc/procfs.py and snapshot.py, not here:
 *
 *   - a stat line is parsed here only in the form the kernel writes it
 *     (plain decimal fields, a one-letter state); any other line goes whole
 *     to the caller's parser (procfs.parse_stat), which stays the one
 *     statement of the rules (tests hold the two to the same answers);
 *   - a task whose stat file is gone or hidden is left out, as
 *     procfs.read leaves it out; another file that cannot be read is None;
 *     running out of file descriptors or memory is an OSError;
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
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SLOT 4096     /* the first read of a file, as procfs.CHUNK: any stat line fits */
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
	long len[1 + MAX_FILES];   /* -1: stat gone (task left out) or file unreadable */
};

/* What one walk reads for every task: fixed once made. */
struct plan {
	int dir_fd;
	int tgid; /* 0: each id is a process under dir_fd */
	int want_uid;
	int nfiles;
	char files[MAX_FILES][NAME_MAX_];
	long caps[MAX_FILES]; /* the most read of each file */
	pid_t self;
};

/* Where one thread puts what it reads. */
struct arena {
	char *data;
	size_t used, cap;
	int fatal; /* an errno that is ours, not the task's */
};

/* Items are claimed one at a time (claim), by the helper and, once Python
 * asks for the batch, by this thread too: each into its own arena. */
struct batch {
	struct item *items;
	Py_ssize_t count;
	Py_ssize_t claim;
	struct arena ar[2]; /* 0: this thread's, 1: the helper's */
};

static int batch_fatal(const struct batch *b)
{
	return b->ar[0].fatal ? b->ar[0].fatal : b->ar[1].fatal;
}

/* What procfs.EXHAUSTED holds: failures of ours, raised, never skipped. */
static int exhausted(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM;
}

static int reserve(struct arena *b, size_t more)
{
	size_t want = b->used + more;
	char *grown;

	if (want <= b->cap)
		return 1;
	want = want < 2 * b->cap ? 2 * b->cap : want;
	grown = PyMem_RawRealloc(b->data, want);
	if (!grown) {
		b->fatal = ENOMEM;
		return 0;
	}
	b->data = grown;
	b->cap = want;
	return 1;
}

/* Append the file at path (under dir_fd) to the arena, at most cap bytes:
 * its length, or -1 if it cannot be read (b->fatal set if that is ours). */
static long slurp(struct arena *b, int dir_fd, const char *path, long cap)
{
	int fd = openat(dir_fd, path, OPEN_FLAGS);
	long got = 0;

	if (fd < 0) {
		if (exhausted(errno))
			b->fatal = errno;
		return -1;
	}
	while (got < cap) {
		size_t chunk = (size_t)(cap - got) < SLOT ? (size_t)(cap - got) : SLOT;
		ssize_t n;

		if (!reserve(b, (size_t)got + chunk)) /* room after what is read so far */
			break;
		n = read(fd, b->data + b->used + got, chunk);
		if (n < 0) {
			if (exhausted(errno))
				b->fatal = errno;
			got = -1;
			break;
		}
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	if (b->fatal)
		return -1;
	return got;
}

static void read_task(const struct plan *p, struct batch *batch, int who, struct item *it)
{
	struct arena *b = &batch->ar[who];

	char dir[16], path[16 + NAME_MAX_];
	long n, stat_len;

	for (int f = 0; f <= MAX_FILES; f++)
		it->len[f] = -1;
	it->has_uid = 0;
	it->arena = who;
	if (p->tgid && it->id == p->tgid)
		strcpy(dir, ".."); /* a group's leader: its process's files (group-wide times) */
	else
		snprintf(dir, sizeof(dir), "%d", it->id);
	/* stat: one read, as procfs.read */
	snprintf(path, sizeof(path), "%s/stat", dir);
	stat_len = slurp(b, p->dir_fd, path, SLOT);
	if (stat_len < 0)
		return;
	it->off[0] = b->used;
	b->used += (size_t)stat_len;
	if (p->want_uid) {
		struct stat st;

		if (fstatat(p->dir_fd, dir, &st, 0) < 0) {
			if (exhausted(errno))
				b->fatal = errno;
			return; /* as snapshot._extras: a task gone meanwhile is left out */
		}
		it->uid = st.st_uid;
		it->has_uid = 1;
	}
	for (int f = 0; f < p->nfiles; f++) {
		snprintf(path, sizeof(path), "%s/%s", dir, p->files[f]);
		n = slurp(b, p->dir_fd, path, p->caps[f]);
		if (b->fatal)
			return;
		it->off[1 + f] = b->used;
		it->len[1 + f] = n;
		if (n > 0)
			b->used += (size_t)n;
	}
	it->len[0] = stat_len; /* last: the task is complete */
}

/* Claim and read the batch's items until none is left, into arena who;
 * with skip_self, leave our own process's entry (a process walk, tgid 0)
 * unread, with length -2, for later. */
static void read_batch(const struct plan *p, struct batch *b, int who, int skip_self)
{
	for (;;) {
		Py_ssize_t i = __atomic_fetch_add(&b->claim, 1, __ATOMIC_RELAXED);
		struct item *it;

		if (i >= b->count || b->ar[who].fatal)
			return;
		it = &b->items[i];
		if (skip_self && !p->tgid && it->id == p->self) {
			it->len[0] = -2;
			continue;
		}
		read_task(p, b, who, it);
	}
}

/* Empty the batch's arenas for count new items. */
static void batch_reset(struct batch *b, Py_ssize_t count)
{
	b->count = count;
	b->claim = 0;
	for (int a = 0; a < 2; a++) {
		b->ar[a].used = 0;
		b->ar[a].fatal = 0;
	}
}

/* -- parsing, and the objects the caller makes --------------------------- */

/* A decimal field as the kernel prints it (optional '-', digits), ended by
 * a blank, a newline or the end; 0 if it is anything else or overflows. */
static int field(const char **at, const char *end, long long *out)
{
	const char *s = *at;
	int neg = 0;
	unsigned long long v = 0;

	if (s < end && *s == '-') {
		neg = 1;
		s++;
	}
	if (s == end || *s < '0' || *s > '9')
		return 0;
	while (s < end && *s >= '0' && *s <= '9') {
		if (v > (ULLONG_MAX - 9) / 10)
			return 0;
		v = v * 10 + (unsigned)(*s++ - '0');
	}
	if (v > (unsigned long long)LLONG_MAX)
		return 0;
	if (s < end && *s != ' ' && *s != '\n')
		return 0;
	*out = neg ? -(long long)v : (long long)v;
	*at = s < end && *s == ' ' ? s + 1 : s;
	return 1;
}

/* make(tid, tgid, ppid, name, state, tty_nr, cpu_ticks, start_ticks, nlwp,
 * uid, None, None, rest) for a line in the kernel's form; NULL with no
 * error set if the line is in any other form. */
static PyObject *fast(PyObject *make, int id, int tgid, const char *buf, long len, PyObject *uid)
{
	const char *open_ = memchr(buf, '(', (size_t)len);
	const char *close_ = memrchr(buf, ')', (size_t)len);
	const char *end = buf + len;
	const char *at, *rest_end = end;
	long long f[20];
	PyObject *args[13] = {NULL};
	PyObject *res = NULL;

	if (!open_ || !close_ || close_ < open_ || close_ + 4 > end)
		return NULL;
	at = close_ + 2;
	if (at[1] != ' ')
		return NULL; /* a state of one letter */
	at += 2;
	for (int i = 1; i < 20; i++)
		if (!field(&at, end, &f[i]))
			return NULL;
	if (f[1] < 0 || f[11] < 0 || f[12] < 0 || f[11] > LLONG_MAX - f[12])
		return NULL;
	while (rest_end > close_ + 2 && rest_end[-1] == '\n')
		rest_end--;
	args[0] = PyLong_FromLong(id);
	args[1] = PyLong_FromLong(tgid ? tgid : id);
	args[2] = PyLong_FromLongLong(f[1]);
	args[3] = PyUnicode_DecodeUTF8(open_ + 1, close_ - open_ - 1, "surrogateescape");
	args[4] = PyUnicode_FromOrdinal((unsigned char)close_[2]);
	args[5] = PyLong_FromUnsignedLong((unsigned long)(f[4] & 0xFFFFFFFFLL));
	args[6] = PyLong_FromLongLong(f[11] + f[12]);
	args[7] = PyLong_FromLongLong(f[19]);
	args[8] = PyLong_FromLongLong(f[17]);
	args[9] = Py_NewRef(uid);
	args[10] = Py_NewRef(Py_None);
	args[11] = Py_NewRef(Py_None);
	args[12] = PyBytes_FromStringAndSize(close_ + 2, rest_end - (close_ + 2));
	for (int i = 0; i < 13; i++)
		if (!args[i])
			goto out;
	res = PyObject_Vectorcall(make, args, 13, NULL);
out:
	for (int i = 0; i < 13; i++)
		Py_XDECREF(args[i]);
	if (!res && !PyErr_Occurred())
		PyErr_NoMemory();
	return res;
}

/* The object for one item: make(...) or parse(line, tid, tgid) (None if
 * that refuses the line); with files, (object, (bytes|None, ...)). */
static PyObject *object(const struct plan *p, const struct batch *b, const struct item *it,
			PyObject *make, PyObject *parse)
{
	const char *data = b->ar[it->arena].data;
	const char *line = data + it->off[0];
	PyObject *uid = it->has_uid ? PyLong_FromUnsignedLong(it->uid) : Py_NewRef(Py_None);
	PyObject *task, *raw, *pair;

	if (!uid)
		return NULL;
	task = fast(make, it->id, p->tgid, line, it->len[0], uid);
	if (!task && !PyErr_Occurred()) {
		task = PyObject_CallFunction(parse, "y#ii", line, (Py_ssize_t)it->len[0], it->id,
					     p->tgid ? p->tgid : it->id);
		if (task && task != Py_None && it->has_uid &&
		    PyObject_SetAttrString(task, "uid", uid) < 0)
			Py_CLEAR(task);
	}
	Py_DECREF(uid);
	if (!task || task == Py_None || !p->nfiles)
		return task;
	raw = PyTuple_New(p->nfiles);
	for (int f = 0; raw && f < p->nfiles; f++) {
		PyObject *v = it->len[1 + f] < 0 ? Py_NewRef(Py_None)
			: PyBytes_FromStringAndSize(data + it->off[1 + f], it->len[1 + f]);

		if (!v)
			Py_CLEAR(raw);
		else
			PyTuple_SET_ITEM(raw, f, v);
	}
	pair = raw ? PyTuple_Pack(2, task, raw) : NULL;
	Py_DECREF(task);
	Py_XDECREF(raw);
	return pair;
}

/* The batch's objects, in order, tasks left out; NULL on error. */
static PyObject *objects(const struct plan *p, const struct batch *b, PyObject *make,
			 PyObject *parse)
{
	PyObject *out;

	if (batch_fatal(b)) {
		errno = batch_fatal(b);
		return PyErr_SetFromErrno(PyExc_OSError);
	}
	out = PyList_New(0);
	for (Py_ssize_t i = 0; out && i < b->count; i++) {
		const struct item *it = &b->items[i];
		PyObject *obj;

		if (it->len[0] < 0)
			continue;
		obj = object(p, b, it, make, parse);
		if (!obj || (obj != Py_None && PyList_Append(out, obj) < 0))
			Py_CLEAR(out);
		Py_XDECREF(obj);
	}
	return out;
}

/* -- arguments ------------------------------------------------------------- */

static int plan_files(struct plan *p, PyObject *files, PyObject *caps)
{
	PyObject *fseq = PySequence_Fast(files, "files must be a sequence of names");
	PyObject *cseq = fseq ? PySequence_Fast(caps, "caps must be a sequence of sizes") : NULL;
	int ok = 0;

	if (!fseq || !cseq)
		goto out;
	p->nfiles = (int)PySequence_Fast_GET_SIZE(fseq);
	if (p->nfiles > MAX_FILES || PySequence_Fast_GET_SIZE(cseq) != p->nfiles) {
		PyErr_Format(PyExc_ValueError, "at most %d files, each with its cap", MAX_FILES);
		goto out;
	}
	for (int f = 0; f < p->nfiles; f++) {
		const char *name = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(fseq, f));
		long cap = PyLong_AsLong(PySequence_Fast_GET_ITEM(cseq, f));

		if (!name || (cap == -1 && PyErr_Occurred()))
			goto out;
		if (strlen(name) >= NAME_MAX_ || !*name || name[0] == '/' || strstr(name, "..")) {
			PyErr_Format(PyExc_ValueError, "%R is not a task file name", PySequence_Fast_GET_ITEM(fseq, f));
			goto out;
		}
		if (cap < 1 || cap > (1L << 30)) {
			PyErr_Format(PyExc_ValueError, "cap %ld is out of range", cap);
			goto out;
		}
		strcpy(p->files[f], name);
		p->caps[f] = cap;
	}
	ok = 1;
out:
	Py_XDECREF(fseq);
	Py_XDECREF(cseq);
	return ok;
}

/* ids as C ints, each 1..INT_MAX; NULL with an error set otherwise. */
static int *c_ids(PyObject *ids, Py_ssize_t *n)
{
	PyObject *seq = PySequence_Fast(ids, "ids must be a sequence of task ids");
	int *out;

	if (!seq)
		return NULL;
	*n = PySequence_Fast_GET_SIZE(seq);
	out = PyMem_RawMalloc(*n ? (size_t)*n * sizeof(int) : 1);
	if (!out) {
		Py_DECREF(seq);
		PyErr_NoMemory();
		return NULL;
	}
	for (Py_ssize_t i = 0; i < *n; i++) {
		long id = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));

		if (id == -1 && PyErr_Occurred())
			goto fail;
		if (id < 1 || id > INT_MAX) {
			PyErr_Format(PyExc_ValueError, "task id %ld is out of range", id);
			goto fail;
		}
		out[i] = (int)id;
	}
	Py_DECREF(seq);
	return out;
fail:
	PyMem_RawFree(out);
	Py_DECREF(seq);
	return NULL;
}

/* The numeric entries of directory fd, in the kernel's order (a group's
 * leader first in task/); -1 with errno if it cannot be listed. */
static Py_ssize_t list_ids(int fd, int **out)
{
	char buf[32768];
	Py_ssize_t n = 0, cap = 256;
	int *ids = PyMem_RawMalloc((size_t)cap * sizeof(int));
	long got;

	if (!ids) {
		errno = ENOMEM;
		return -1;
	}
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0) {
		for (long at = 0; at < got;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			const char *name = d->d_name;
			long long id = 0;
			int ok = name[0] >= '1' && name[0] <= '9';

			for (const char *c = name; ok && *c; c++) {
				ok = *c >= '0' && *c <= '9' && id <= INT_MAX / 10;
				id = id * 10 + (*c - '0');
			}
			at += d->d_reclen;
			if (!ok || id > INT_MAX)
				continue;
			if (n == cap) {
				int *grown = PyMem_RawRealloc(ids, (size_t)(cap *= 2) * sizeof(int));

				if (!grown) {
					PyMem_RawFree(ids);
					errno = ENOMEM;
					return -1;
				}
				ids = grown;
			}
			ids[n++] = (int)id;
		}
	}
	if (got < 0) {
		int err = errno;

		PyMem_RawFree(ids);
		errno = err;
		return -1;
	}
	*out = ids;
	return n;
}

static void batch_free(struct batch *b)
{
	PyMem_RawFree(b->items);
	PyMem_RawFree(b->ar[0].data);
	PyMem_RawFree(b->ar[1].data);
	memset(b, 0, sizeof(*b));
}

static int batch_init(struct batch *b, Py_ssize_t size)
{
	memset(b, 0, sizeof(*b));
	b->items = PyMem_RawCalloc(size ? (size_t)size : 1, sizeof(struct item));
	for (int a = 0; a < 2; a++) {
		b->ar[a].cap = (size_t)(size ? size : 1) * 512;
		b->ar[a].data = PyMem_RawMalloc(b->ar[a].cap);
	}
	if (!b->items || !b->ar[0].data || !b->ar[1].data) {
		batch_free(b);
		PyErr_NoMemory();
		return 0;
	}
	return 1;
}

/* -- read_stats: all at once, on this thread ------------------------------ */

static PyObject *read_stats(PyObject *Py_UNUSED(mod), PyObject *args)
{
	struct plan p = {0};
	struct batch b;
	PyObject *ids, *make, *parse, *out = NULL;
	PyObject *files = NULL, *caps = NULL;
	Py_ssize_t n;
	int *c;

	if (!PyArg_ParseTuple(args, "iOipOO|OO:read_stats", &p.dir_fd, &ids, &p.tgid, &p.want_uid,
			      &make, &parse, &files, &caps))
		return NULL;
	if (p.tgid < 0) {
		PyErr_SetString(PyExc_ValueError, "tgid must be 0 or a task id");
		return NULL;
	}
	if (files && !plan_files(&p, files, caps ? caps : Py_None))
		return NULL;
	c = c_ids(ids, &n);
	if (!c)
		return NULL;
	if (n > MAX_IDS) {
		PyErr_Format(PyExc_ValueError, "at most %d ids per call", MAX_IDS);
		PyMem_RawFree(c);
		return NULL;
	}
	if (batch_init(&b, n)) {
		for (Py_ssize_t i = 0; i < n; i++)
			b.items[i].id = c[i];
		batch_reset(&b, n);
		Py_BEGIN_ALLOW_THREADS
		read_batch(&p, &b, 0, 0);
		Py_END_ALLOW_THREADS
		out = objects(&p, &b, make, parse);
		batch_free(&b);
	}
	PyMem_RawFree(c);
	return out;
}

/* -- Walk: batches, the next one read by a helper thread ------------------- */

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
} Walk;

static void *helper_main(void *arg)
{
	Walk *w = arg;

	w->helper_tid = (pid_t)syscall(SYS_gettid);
	read_batch(&w->plan, &w->b[1], 1, 1);
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

/* Start reading b[1] on the helper; 0 if it could not start (read it here). */
static int start_helper(Walk *w)
{
	sigset_t all, old;
	int started = 0;

	if (w->plan.tgid == w->plan.self)
		return 0; /* our own group: read by this thread alone */
	sigfillset(&all);
	if (pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
		started = pthread_create(&w->helper, NULL, helper_main, w) == 0;
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
	if (w->reading && w->owner == getpid()) {
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
	pid_t me = getpid();

	if (w->owner == me)
		return;
	if (w->reading)
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
	out = Walk_step(w);
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

static int Walk_init(Walk *w, PyObject *args, PyObject *kw)
{
	static char *names[] = {"dir_fd", "ids", "tgid", "want_uid", "make", "parse",
				"files", "caps", NULL};
	PyObject *ids, *make, *parse, *files = NULL, *caps = NULL;
	struct plan p = {0};

	if (w->ids || w->busy) {
		PyErr_SetString(PyExc_RuntimeError, "a Walk is made once");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "iOipOO|OO:Walk", names, &p.dir_fd, &ids,
					 &p.tgid, &p.want_uid, &make, &parse, &files, &caps))
		return -1;
	if (p.tgid < 0) {
		PyErr_SetString(PyExc_ValueError, "tgid must be 0 or a task id");
		return -1;
	}
	if (files && !plan_files(&p, files, caps ? caps : Py_None))
		return -1;
	p.self = getpid();
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
	w->plan = p;
	w->make = Py_NewRef(make);
	w->parse = Py_NewRef(parse);
	w->owner = getpid();
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

static PyTypeObject WalkType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "tidscope.proc._procread.Walk",
	.tp_basicsize = sizeof(Walk),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "Walk(dir_fd, ids, tgid, want_uid, make, parse, files=(), caps=()): an\n"
		  "iterator of lists, one per batch of ids, of make(...) objects (or, with\n"
		  "files, (object, (bytes|None, ...)) pairs); the next batch is read by a helper\n"
		  "thread while the caller works on this one.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)Walk_init,
	.tp_dealloc = (destructor)Walk_dealloc,
	.tp_traverse = (traverseproc)Walk_traverse,
	.tp_clear = (inquiry)Walk_clear,
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)Walk_next,
};

static PyMethodDef methods[] = {
	{"read_stats", read_stats, METH_VARARGS,
	 "read_stats(dir_fd, ids, tgid, want_uid, make, parse, files=(), caps=()) -> list:\n"
	 "what one Walk batch gives, for at most MAX_IDS ids, read by this thread."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "tidscope.proc._procread",
	.m_doc = "Many /proc task files read at once, without the GIL; see tidscope.proc.snapshot.",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__procread(void)
{
	PyObject *m;

	if (PyType_Ready(&WalkType) < 0)
		return NULL;
	m = PyModule_Create(&module);
	if (m && (PyModule_AddIntConstant(m, "MAX_IDS", MAX_IDS) < 0 ||
		  PyModule_AddIntConstant(m, "BATCH", BATCH) < 0 ||
		  PyModule_AddObjectRef(m, "Walk", (PyObject *)&WalkType) < 0))
		Py_CLEAR(m);
	return m;
}
