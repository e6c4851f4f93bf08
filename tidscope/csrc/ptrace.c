/* tidscope._ptrace: the few ptrace(2) requests `tidscope watch --run` makes.
 *
 * Each function parses its arguments, makes one request and turns -1 into
 * OSError from errno; the policy (which stop is which, what to print) is in
 * tidscope/tracer.py.  The GIL is released only where we may block.
 *
 * Invariants:
 * - start() returns a child that is traced from before its execve(2) and
 *   never runs a line of CMD untraced: the child waits on a pipe until the
 *   tracer has seized it.  If the seize or the exec fails, the child is
 *   killed and reaped before start() raises, so nothing is left behind.
 * - call() reads the registers of a tracee stopped in its clone event, so
 *   the system call's arguments are still in them: the flags printed are
 *   the ones the kernel was given (for clone3, the first field of the
 *   caller's struct clone_args, read from its memory).
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef __WALL
#define __WALL 0x40000000
#endif

extern char **environ;

static PyObject *from_errno(void)
{
	return PyErr_SetFromErrno(PyExc_OSError);
}

/* Kill a child that never became CMD and wait until it is gone. */
static void discard(pid_t pid)
{
	int status;

	kill(pid, SIGKILL);
	while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
		;
}

/* Runs in the child between fork and execve: async-signal-safe calls only. */
static _Noreturn void child(int go, int report, const char *path, char *const argv[])
{
	char byte;
	int err;
	ssize_t n;

	/* Python ignores SIGPIPE and SIGXFSZ; CMD gets the defaults back, as
	 * subprocess gives them back. */
	signal(SIGPIPE, SIG_DFL);
	signal(SIGXFSZ, SIG_DFL);
	do
		n = read(go, &byte, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1) {
		execve(path, argv, environ);
		err = errno;
		if (write(report, &err, sizeof err) < 0)
			_exit(127);
	}
	_exit(127);
}

static PyObject *start(PyObject *self, PyObject *args)
{
	const char *path;
	PyObject *list, *seq;
	unsigned long options;
	char **argv;
	int go[2], report[2], err = 0;
	const char *step = "fork";
	pid_t pid;
	ssize_t n;

	(void)self;
	if (!PyArg_ParseTuple(args, "yOk", &path, &list, &options))
		return NULL;
	seq = PySequence_Fast(list, "argv must be a sequence of bytes");
	if (!seq)
		return NULL;
	Py_ssize_t argc = PySequence_Fast_GET_SIZE(seq);
	argv = PyMem_Calloc((size_t)argc + 1, sizeof *argv);
	if (!argv) {
		Py_DECREF(seq);
		return PyErr_NoMemory();
	}
	for (Py_ssize_t i = 0; i < argc; i++) {
		argv[i] = PyBytes_AsString(PySequence_Fast_GET_ITEM(seq, i));
		if (!argv[i])
			goto fail;
	}
	if (pipe2(go, O_CLOEXEC) < 0)
		goto fail_errno;
	if (pipe2(report, O_CLOEXEC) < 0) {
		err = errno;
		close(go[0]);
		close(go[1]);
		errno = err;
		goto fail_errno;
	}
	pid = fork();
	if (pid == 0)
		child(go[0], report[1], path, argv);
	err = pid < 0 ? errno : 0;
	close(go[0]);
	close(report[1]);
	if (pid > 0) {
		step = "ptrace(PTRACE_SEIZE)";
		if (ptrace(PTRACE_SEIZE, pid, 0, options) < 0)
			err = errno;
		else if ((step = "write", write(go[1], "x", 1) != 1))
			err = errno;
		else
			step = path;
	}
	close(go[1]); /* unseized, the child reads end of file and leaves */
	if (pid > 0 && !err) {
		/* End of file: execve succeeded (it closes the pipe before the
		 * tracee's exec stop, so this never waits on our own stop). */
		Py_BEGIN_ALLOW_THREADS
		do
			n = read(report[0], &err, sizeof err);
		while (n < 0 && errno == EINTR);
		Py_END_ALLOW_THREADS
		if (n < 0)
			err = errno;
		else if (n != sizeof err)
			err = 0;
	}
	close(report[0]);
	if (pid > 0 && err)
		discard(pid);
	PyMem_Free(argv);
	Py_DECREF(seq);
	if (err) {
		/* the filename says which step failed: CMD's path for execve */
		errno = err;
		return PyErr_SetFromErrnoWithFilename(PyExc_OSError, step);
	}
	return PyLong_FromLong(pid);
fail_errno:
	from_errno();
fail:
	PyMem_Free(argv);
	Py_DECREF(seq);
	return NULL;
}

static PyObject *request(PyObject *args, enum __ptrace_request what)
{
	int pid, data = 0;

	if (!PyArg_ParseTuple(args, "i|i", &pid, &data))
		return NULL;
	if (ptrace(what, pid, 0, (void *)(uintptr_t)data) < 0)
		return from_errno();
	Py_RETURN_NONE;
}

static PyObject *cont(PyObject *self, PyObject *args)
{
	(void)self;
	return request(args, PTRACE_CONT);
}

static PyObject *listen_(PyObject *self, PyObject *args)
{
	(void)self;
	return request(args, PTRACE_LISTEN);
}

static PyObject *event_msg(PyObject *self, PyObject *args)
{
	int pid;
	unsigned long msg = 0;

	(void)self;
	if (!PyArg_ParseTuple(args, "i", &pid))
		return NULL;
	if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) < 0)
		return from_errno();
	return PyLong_FromUnsignedLong(msg);
}

/* The system call number and its first argument, from the registers. */
static int syscall_regs(pid_t pid, unsigned long *nr, unsigned long *arg0)
{
#if defined(__x86_64__)
	struct user_regs_struct regs;

	if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
		return -1;
	*nr = regs.orig_rax;
	*arg0 = regs.rdi;
	return 0;
#elif defined(__aarch64__)
	struct user_regs_struct regs;
	struct iovec io = {&regs, sizeof regs};

	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &io) < 0)
		return -1;
	*nr = regs.regs[8];
	*arg0 = regs.regs[0]; /* the return value is stored only on the way out */
	return 0;
#else
	(void)pid;
	(void)nr;
	(void)arg0;
	errno = ENOSYS;
	return -1;
#endif
}

static PyObject *call(PyObject *self, PyObject *args)
{
	int pid;
	unsigned long nr, flags;

	(void)self;
	if (!PyArg_ParseTuple(args, "i", &pid))
		return NULL;
	if (syscall_regs(pid, &nr, &flags) < 0)
		return from_errno();
	if (nr == SYS_clone3) {
		/* flags is the first u64 of struct clone_args */
		uint64_t first;
		struct iovec local = {&first, sizeof first};
		struct iovec remote = {(void *)flags, sizeof first};

		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof first)
			return from_errno();
		flags = (unsigned long)first;
	}
	return Py_BuildValue("(kk)", nr, flags);
}

static PyMethodDef methods[] = {
	{"start", start, METH_VARARGS,
	 "start(path, argv, options) -> pid: fork, seize with options, execve."},
	{"cont", cont, METH_VARARGS, "cont(pid, signo=0): PTRACE_CONT."},
	{"listen", listen_, METH_VARARGS, "listen(pid): PTRACE_LISTEN."},
	{"event_msg", event_msg, METH_VARARGS, "event_msg(pid) -> int: PTRACE_GETEVENTMSG."},
	{"call", call, METH_VARARGS,
	 "call(pid) -> (nr, flags): the clone call a tracee is stopped in."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "tidscope._ptrace",
	"The ptrace(2) requests of tidscope watch --run.", -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ptrace(void)
{
	PyObject *m = PyModule_Create(&module);

	if (!m)
		return NULL;
	if (PyModule_AddIntConstant(m, "SYS_CLONE3", SYS_clone3) < 0 ||
	    PyModule_AddIntConstant(m, "SYS_CLONE", SYS_clone) < 0 ||
#ifdef SYS_fork
	    PyModule_AddIntConstant(m, "SYS_FORK", SYS_fork) < 0 ||
	    PyModule_AddIntConstant(m, "SYS_VFORK", SYS_vfork) < 0 ||
#endif
	    0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
