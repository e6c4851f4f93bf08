/* tidscope._procread: read many /proc stat files at the kernel's own pace.
 *
 * One function, read_stats(): open, read and close the stat file of each
 * id under one directory, without the GIL, split between this thread and
 * one helper thread when there are enough of them; then, with the GIL,
 * one Python object per task, made by the caller's constructor.  What the
 * objects hold is decided in tidscope/procfs.py, not here:
 *
 *   - the line is parsed here only in the form the kernel writes it (plain
 *     decimal fields, a one-letter state); any other line goes whole to
 *     the caller's parser (procfs.parse_stat), which stays the one
 *     statement of the rules (tests hold the two to the same answers);
 *   - a file that is gone or hidden leaves its task out, as procfs.read
 *     does; running out of file descriptors or memory is an OSError;
 *   - the helper thread blocks every signal, so handlers run on Python's
 *     main thread only; if it cannot be started, this thread reads all;
 *   - our own process is never read while the helper lives, so that its
 *     thread count (and task list) is what a single-threaded reader sees.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT 4096    /* one read, as procfs.CHUNK: any stat line fits */
#define MAX_IDS 1024 /* per call: the buffers are SLOT bytes per id */
#define SPLIT 64     /* fewer ids than this are read by one thread */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)

struct item {
	int id;
	int len;     /* bytes read; -1 if the task is to be left out */
	int has_uid; /* uid holds the owner of the task's directory */
	uid_t uid;
};

struct job {
	int dir_fd;
	int tgid;     /* 0: each id is a process under dir_fd */
	int want_uid;
	struct item *items;
	char *bufs;
	Py_ssize_t from, to;
	int fatal;    /* an errno that is ours, not the task's */
	int self;     /* our own pid: read by this thread alone */
};

/* What procfs.EXHAUSTED holds: failures of ours, raised, never skipped. */
static int exhausted(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM;
}

static void read_one(struct job *job, struct item *it, char *buf)
{
	char path[32];
	const char *dir = path;
	int fd;
	ssize_t n;

	it->len = -1;
	it->has_uid = 0;
	if (job->tgid && it->id == job->tgid) {
		/* a group's leader reads its process's stat (group-wide times) */
		dir = "..";
		snprintf(path, sizeof(path), "../stat");
	} else {
		snprintf(path, sizeof(path), "%d/stat", it->id);
	}
	fd = openat(job->dir_fd, path, OPEN_FLAGS);
	if (fd < 0) {
		if (exhausted(errno))
			job->fatal = errno;
		return;
	}
	n = read(fd, buf, SLOT);
	if (n < 0 && exhausted(errno))
		job->fatal = errno;
	close(fd);
	if (n < 0)
		return;
	if (job->want_uid) {
		struct stat st;
		char name[16];

		if (dir == path) {
			snprintf(name, sizeof(name), "%d", it->id);
			dir = name;
		}
		if (fstatat(job->dir_fd, dir, &st, 0) < 0) {
			if (exhausted(errno))
				job->fatal = errno;
			return;
		}
		it->uid = st.st_uid;
		it->has_uid = 1;
	}
	it->len = (int)n;
}

static void *read_range(void *arg)
{
	struct job *job = arg;

	for (Py_ssize_t i = job->from; i < job->to && !job->fatal; i++)
		if (job->tgid || job->items[i].id != job->self)
			read_one(job, &job->items[i], job->bufs + i * SLOT);
	return NULL;
}

/* Read items [0, n): the second half on a helper thread when worth it. */
static int read_all(struct job *job, Py_ssize_t n)
{
	struct job other = *job;
	pthread_t helper;
	sigset_t all, old;
	int started = 0;

	job->from = 0;
	job->to = n;
	job->self = getpid();
	other.self = job->self;
	if (n >= SPLIT && job->tgid != job->self) {
		other.from = n / 2;
		other.to = n;
		sigfillset(&all);
		if (pthread_sigmask(SIG_SETMASK, &all, &old) == 0) {
			started = pthread_create(&helper, NULL, read_range, &other) == 0;
			pthread_sigmask(SIG_SETMASK, &old, NULL);
		}
		if (started)
			job->to = n / 2;
	}
	read_range(job);
	if (started) {
		pthread_join(helper, NULL);
		if (!job->fatal)
			job->fatal = other.fatal;
	}
	for (Py_ssize_t i = 0; i < n && !job->tgid && !job->fatal; i++)
		if (job->items[i].id == job->self)
			read_one(job, &job->items[i], job->bufs + i * SLOT);
	return job->fatal;
}

/* A decimal field as the kernel prints it (optional '-', digits), ended by
 * a blank, a newline or the end; 0 if it is anything else or overflows. */
static int field(const char **p, const char *end, long long *out)
{
	const char *s = *p;
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
	*p = s < end && *s == ' ' ? s + 1 : s;
	return 1;
}

/* make(tid, tgid, ppid, name, state, tty_nr, cpu_ticks, start_ticks, nlwp,
 * uid, None, None, rest) for a line in the kernel's form; NULL with no
 * error set if the line is in any other form. */
static PyObject *fast(PyObject *make, const struct item *it, int tgid, const char *buf)
{
	const char *open_ = memchr(buf, '(', (size_t)it->len);
	const char *close_ = memrchr(buf, ')', (size_t)it->len);
	const char *end = buf + it->len;
	const char *p;
	long long f[20];
	PyObject *args[13] = {NULL};
	PyObject *res = NULL;
	const char *rest_end = end;

	if (!open_ || !close_ || close_ < open_ || close_ + 4 > end)
		return NULL;
	p = close_ + 2;
	if (p[1] != ' ')
		return NULL; /* a state of one letter */
	p += 2;
	for (int i = 1; i < 20; i++)
		if (!field(&p, end, &f[i]))
			return NULL;
	if (f[1] < 0 || f[11] < 0 || f[12] < 0 || f[11] > LLONG_MAX - f[12])
		return NULL;
	while (rest_end > close_ + 2 && rest_end[-1] == '\n')
		rest_end--;
	args[0] = PyLong_FromLong(it->id);
	args[1] = PyLong_FromLong(tgid ? tgid : it->id);
	args[2] = PyLong_FromLongLong(f[1]);
	args[3] = PyUnicode_DecodeUTF8(open_ + 1, close_ - open_ - 1, "surrogateescape");
	args[4] = PyUnicode_FromOrdinal((unsigned char)close_[2]);
	args[5] = PyLong_FromUnsignedLong((unsigned long)(f[4] & 0xFFFFFFFFLL));
	args[6] = PyLong_FromLongLong(f[11] + f[12]);
	args[7] = PyLong_FromLongLong(f[19]);
	args[8] = PyLong_FromLongLong(f[17]);
	args[9] = it->has_uid ? PyLong_FromUnsignedLong(it->uid) : Py_NewRef(Py_None);
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

/* parse(line, tid, tgid): procfs.parse_stat, for lines fast() does not take. */
static PyObject *slow(PyObject *parse, const struct item *it, int tgid, const char *buf)
{
	PyObject *task = PyObject_CallFunction(parse, "y#ii", buf, (Py_ssize_t)it->len, it->id,
					       tgid ? tgid : it->id);

	if (task && task != Py_None && it->has_uid) {
		PyObject *uid = PyLong_FromUnsignedLong(it->uid);

		if (!uid || PyObject_SetAttrString(task, "uid", uid) < 0)
			Py_CLEAR(task);
		Py_XDECREF(uid);
	}
	return task;
}

static PyObject *read_stats(PyObject *Py_UNUSED(mod), PyObject *args)
{
	int dir_fd, tgid, want_uid;
	PyObject *ids, *make, *parse, *seq, *out = NULL;
	struct job job;
	Py_ssize_t n;
	int err;

	if (!PyArg_ParseTuple(args, "iOipOO:read_stats", &dir_fd, &ids, &tgid, &want_uid, &make,
			      &parse))
		return NULL;
	if (tgid < 0) {
		PyErr_SetString(PyExc_ValueError, "tgid must be 0 or a task id");
		return NULL;
	}
	seq = PySequence_Fast(ids, "ids must be a sequence of task ids");
	if (!seq)
		return NULL;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > MAX_IDS) {
		PyErr_Format(PyExc_ValueError, "at most %d ids per call", MAX_IDS);
		goto fail;
	}
	memset(&job, 0, sizeof(job));
	job.dir_fd = dir_fd;
	job.tgid = tgid;
	job.want_uid = want_uid;
	job.items = PyMem_Calloc(n ? (size_t)n : 1, sizeof(struct item));
	job.bufs = PyMem_Malloc(n ? (size_t)n * SLOT : 1);
	if (!job.items || !job.bufs) {
		PyErr_NoMemory();
		goto done;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		long id = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));

		if (id == -1 && PyErr_Occurred())
			goto done;
		if (id < 1 || id > INT_MAX) {
			PyErr_Format(PyExc_ValueError, "task id %ld is out of range", id);
			goto done;
		}
		job.items[i].id = (int)id;
		job.items[i].len = -1;
	}
	Py_BEGIN_ALLOW_THREADS
	err = read_all(&job, n);
	Py_END_ALLOW_THREADS
	if (err) {
		errno = err;
		PyErr_SetFromErrno(PyExc_OSError);
		goto done;
	}
	out = PyList_New(0);
	for (Py_ssize_t i = 0; out && i < n; i++) {
		const struct item *it = &job.items[i];
		const char *buf = job.bufs + i * SLOT;
		PyObject *task;

		if (it->len < 0)
			continue;
		task = fast(make, it, tgid, buf);
		if (!task && !PyErr_Occurred())
			task = slow(parse, it, tgid, buf);
		if (!task || (task != Py_None && PyList_Append(out, task) < 0))
			Py_CLEAR(out);
		Py_XDECREF(task);
	}
done:
	PyMem_Free(job.items);
	PyMem_Free(job.bufs);
fail:
	Py_DECREF(seq);
	return out;
}

static PyMethodDef methods[] = {
	{"read_stats", read_stats, METH_VARARGS,
	 "read_stats(dir_fd, ids, tgid, want_uid, make, parse) -> list: the stat file of each\n"
	 "id under dir_fd (tgid 0: processes; else the task/ directory of group tgid, whose\n"
	 "leader reads ../stat), as make(...) or parse(line, tid, tgid) objects; tasks gone\n"
	 "or hidden are left out."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "tidscope._procread",
	.m_doc = "Many /proc stat files read at once, without the GIL; see tidscope.snapshot.",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__procread(void)
{
	PyObject *m = PyModule_Create(&module);

	if (m && PyModule_AddIntConstant(m, "MAX_IDS", MAX_IDS) < 0)
		Py_CLEAR(m);
	return m;
}
