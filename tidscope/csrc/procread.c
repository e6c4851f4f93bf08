/* tidscope.proc._procread: read many /proc task files at the kernel's own pace.
 *
 * Walk(dir_fd, ids, tgid, ...) (walker.c) reads, for each id under one
 * directory, its stat file, the owner of its directory if asked, and whole
 * files named by the caller (status, wchan, cmdline...), in batches: while
 * Python turns one batch into objects (and ps formats them), a helper
 * thread reads the next, without the GIL.  read_stats() is the same
 * reading, done at once by the calling thread.  procread.h maps the files
 * and states the rules the objects keep; this file is the module: its
 * functions, and the arguments they and Walk take.
 */
#include "procread.h"

#include <limits.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* -- arguments ------------------------------------------------------------- */

/* The plan's files: at most MAX_FILES names under a task's directory, each
 * with the most bytes read of it; 0 with an error set otherwise. */
int plan_files(struct plan *p, PyObject *files, PyObject *caps)
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
int *c_ids(PyObject *ids, Py_ssize_t *n)
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

/* getpid(2) itself: the pid a proc root must show us as "self" (libc's
 * getpid may be a preload's lie); None if the call fails (a seccomp filter). */
static PyObject *kernel_pid(PyObject *self, PyObject *unused)
{
	long pid;

	(void)self;
	(void)unused;
	pid = syscall(SYS_getpid);
	if (pid < 0)
		Py_RETURN_NONE;
	return PyLong_FromLong(pid);
}

static PyMethodDef methods[] = {
	{"kernel_pid", kernel_pid, METH_NOARGS,
	 "kernel_pid() -> int | None: getpid(2) by its number; None if it fails."},
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
