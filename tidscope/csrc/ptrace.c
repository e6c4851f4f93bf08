/* tidscope.watch._ptrace: the few ptrace(2) requests `tidscope watch --run` makes.
 *
 * Each function parses its arguments, makes one request and turns -1 into
 * OSError from errno; the policy (which stop is which, what to print) is in
 * tidscope/watch/tracer.py.  The GIL is released only where we may block.
 *
 * Invariants:
 * - start() returns a child that is traced from before its execve(2) and
 *   never runs a line of CMD untraced: the child waits on a pipe until the
 *   tracer has seized it.  If the seize or the exec fails, the child is
 *   killed and reaped before start() raises, so nothing is left behind.
 * - call() reads the registers of a tracee stopped in its clone event, so
 *   the system call's arguments are still in them: the flags printed are
 *   the ones the kernel was given (for clone3, the first field of the
 *   caller's struct clone_args, read from its memory).  A 32-bit caller
 *   (x86_64's ia32, arm64's AArch32) makes the call by its own numbers and
 *   registers: they are read as such and its numbers given as the native
 *   ones.  So does a 64-bit x86 task that makes it with `int $0x80`: the
 *   kernel runs that as an ia32 call, and PTRACE_GET_SYSCALL_INFO's arch
 *   says so (its code segment does not).
 * - Every OSError names the request that failed (its filename), so that
 *   the error printed says which call it was.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef __WALL
#define __WALL 0x40000000
#endif

extern char **environ;

/* OSError from errno, its filename the request that failed. */
static PyObject *failed(const char *what)
{
	return PyErr_SetFromErrnoWithFilename(PyExc_OSError, what);
}

/* The TracerPid of `pid` (0: untraced, or unreadable). */
static long tracer_of(pid_t pid)
{
	char path[64], buf[4096], *at;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	at = strstr(buf, "\nTracerPid:");
	return at ? strtol(at + sizeof "\nTracerPid:" - 1, NULL, 10) : 0;
}

/* Kill a child that never became CMD (our unreaped child: its pid is its
 * own) and reap it.  Seized, it may sit in a ptrace stop (its exit stop,
 * if it left by itself), which SIGKILL does not end: each stop is resumed
 * until the child is reaped.  A wait failing otherwise is tried again, a
 * bounded number of times (then the child is left to init). */
static void discard(pid_t pid)
{
	const struct timespec tick = {0, 1000000};
	int status, tries = 0;

	kill(pid, SIGKILL);
	for (;;) {
		pid_t r = waitpid(pid, &status, __WALL);

		if (r == pid && WIFSTOPPED(status)) {
			ptrace(PTRACE_CONT, pid, 0, 0);
			continue;
		}
		if (r == pid || (r < 0 && errno != EINTR && ++tries > 1000))
			return;
		if (r < 0 && errno != EINTR)
			nanosleep(&tick, NULL);
	}
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
	} else {
		/* the start signal unread: -errno says so (0 at end of file:
		 * our parent gave up on us, and says why itself) */
		err = n < 0 ? -errno : 0;
	}
	if (err && write(report, &err, sizeof err) < 0)
		_exit(127);
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
	long tracer = 0;
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
		goto fail_pipe;
	if (pipe2(report, O_CLOEXEC) < 0) {
		err = errno;
		close(go[0]);
		close(go[1]);
		errno = err;
		goto fail_pipe;
	}
	pid = fork();
	if (pid == 0)
		child(go[0], report[1], path, argv);
	err = pid < 0 ? errno : 0;
	close(go[0]);
	close(report[1]);
	if (pid > 0) {
		step = "ptrace(PTRACE_SEIZE)";
		if (ptrace(PTRACE_SEIZE, pid, 0, options) < 0) {
			err = errno;
			/* our own tracer may have taken the child at its birth */
			if (err == EPERM)
				tracer = tracer_of(pid);
		} else if ((step = "write", write(go[1], "x", 1) != 1))
			err = errno;
		else
			step = path;
	}
	close(go[1]); /* unseized, the child reads end of file and leaves */
	if (pid > 0 && err == EPERM && !tracer) {
		/* A child that could not read its start signal has left (said
		 * so first), and a child that left cannot be seized: its
		 * failure is the one to report, or ours to read what it said.
		 * Not waited for: a child still there says nothing (it holds
		 * the start pipe's other end too, and would never see its end). */
		int said = 0;

		if (fcntl(report[0], F_SETFL, O_NONBLOCK) == 0) {
			do
				n = read(report[0], &said, sizeof said);
			while (n < 0 && errno == EINTR);
			if (n == sizeof said && said < 0) {
				err = -said;
				step = "read";
			} else if (n < 0 && errno != EAGAIN) { /* what would tell why is unread */
				err = errno;
				step = "read";
			}
		}
	} else if (pid > 0 && !err) {
		/* End of file: execve succeeded (it closes the pipe before the
		 * tracee's exec stop, so this never waits on our own stop). */
		Py_BEGIN_ALLOW_THREADS
		do
			n = read(report[0], &err, sizeof err);
		while (n < 0 && errno == EINTR);
		Py_END_ALLOW_THREADS
		if (n < 0) {
			err = errno; /* not execve's answer: our read's */
			step = "read";
		} else if (n != sizeof err) {
			err = 0;
		} else if (err < 0) { /* the child could not read its start signal */
			err = -err;
			step = "read";
		}
	}
	close(report[0]);
	if (pid > 0 && err)
		discard(pid);
	PyMem_Free(argv);
	Py_DECREF(seq);
	if (err) {
		/* the filename says which step failed (CMD's path for execve);
		 * filename2, the pid of the child's tracer, if it had one */
		PyObject *name = PyUnicode_DecodeFSDefault(step);
		PyObject *other = tracer ? PyLong_FromLong(tracer) : NULL;

		errno = err;
		if (name && (other || !tracer))
			PyErr_SetFromErrnoWithFilenameObjects(PyExc_OSError, name, other);
		Py_XDECREF(name);
		Py_XDECREF(other);
		return NULL;
	}
	return PyLong_FromLong(pid);
fail_pipe:
	PyErr_SetFromErrnoWithFilename(PyExc_OSError, "pipe2");
fail:
	PyMem_Free(argv);
	Py_DECREF(seq);
	return NULL;
}

static PyObject *request(PyObject *args, enum __ptrace_request what, const char *name)
{
	int pid, data = 0;

	if (!PyArg_ParseTuple(args, "i|i", &pid, &data))
		return NULL;
	if (ptrace(what, pid, 0, (void *)(uintptr_t)data) < 0)
		return failed(name);
	Py_RETURN_NONE;
}

static PyObject *cont(PyObject *self, PyObject *args)
{
	(void)self;
	return request(args, PTRACE_CONT, "ptrace(PTRACE_CONT)");
}

static PyObject *listen_(PyObject *self, PyObject *args)
{
	(void)self;
	return request(args, PTRACE_LISTEN, "ptrace(PTRACE_LISTEN)");
}

static PyObject *event_msg(PyObject *self, PyObject *args)
{
	int pid;
	unsigned long msg = 0;

	(void)self;
	if (!PyArg_ParseTuple(args, "i", &pid))
		return NULL;
	if (ptrace(PTRACE_GETEVENTMSG, pid, 0, &msg) < 0)
		return failed("ptrace(PTRACE_GETEVENTMSG)");
	return PyLong_FromUnsignedLong(msg);
}

/* The PTRACE_EVENT_* of the stop a tracee is in now (0: a signal's stop).
 * A stop reported by waitpid may be over by the time we ask about it: a
 * SIGKILL wakes the tracee, which then stops again at its exit. */
static PyObject *stop_event(PyObject *self, PyObject *args)
{
	siginfo_t info;
	int pid;

	(void)self;
	if (!PyArg_ParseTuple(args, "i", &pid))
		return NULL;
	if (ptrace(PTRACE_GETSIGINFO, pid, 0, &info) < 0)
		return failed("ptrace(PTRACE_GETSIGINFO)");
	return PyLong_FromLong(info.si_signo == SIGTRAP ? (info.si_code >> 8) & 0xff : 0);
}

/* The clone-family calls of a 32-bit task (x86's ia32 table and ARM's
 * EABI table agree on these four). */
#define COMPAT_FORK 2
#define COMPAT_CLONE 120
#define COMPAT_VFORK 190
#define COMPAT_CLONE3 435

#ifndef PTRACE_GET_SYSCALL_INFO
#define PTRACE_GET_SYSCALL_INFO 0x420e
#endif
#define ARCH_I386 0x40000003 /* AUDIT_ARCH_I386 */

/* Which call a tracee stopped inside a system call is in. */
struct callsite {
	const char *name; /* clone, clone3, fork, vfork; NULL for another */
	unsigned long nr; /* as the task numbers it */
	unsigned long arg0;
};

static const char *native_name(unsigned long nr)
{
	if (nr == SYS_clone)
		return "clone";
	if (nr == SYS_clone3)
		return "clone3";
#ifdef SYS_fork
	if (nr == SYS_fork)
		return "fork";
	if (nr == SYS_vfork)
		return "vfork";
#endif
	return NULL;
}

static const char *compat_name(unsigned long nr)
{
	switch (nr) {
	case COMPAT_CLONE:
		return "clone";
	case COMPAT_CLONE3:
		return "clone3";
	case COMPAT_FORK:
		return "fork";
	case COMPAT_VFORK:
		return "vfork";
	}
	return NULL;
}

#if defined(__x86_64__)
/* Whether the call `pid` is stopped in is an ia32 one (an ia32 task's, or a
 * 64-bit task's `int $0x80`): the kernel marks the task TS_COMPAT for the
 * call, which PTRACE_GET_SYSCALL_INFO reports as its arch (Linux 5.3 on;
 * before, only an ia32 task's code segment tells). */
static int ia32_call(pid_t pid)
{
	struct {
		uint8_t op;
		uint8_t pad[3];
		uint32_t arch;
	} info;

	if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) < 0)
		return 0;
	return info.arch == ARCH_I386;
}
#endif

/* The system call and its first argument, from the registers; on failure
 * *what names the request. */
static int syscall_regs(pid_t pid, struct callsite *at, const char **what)
{
#if defined(__x86_64__)
	struct user_regs_struct regs;

	*what = "ptrace(PTRACE_GETREGS)";
	if (ptrace(PTRACE_GETREGS, pid, 0, &regs) < 0)
		return -1;
	at->nr = regs.orig_rax;
	if (regs.cs == 0x23 || ia32_call(pid)) { /* an ia32 call: its arguments from ebx on */
		at->name = compat_name(at->nr);
		at->arg0 = (uint32_t)regs.rbx;
	} else {
		at->name = native_name(at->nr);
		at->arg0 = regs.rdi;
	}
	return 0;
#elif defined(__aarch64__)
	union {
		struct user_regs_struct native;
		uint32_t compat[18]; /* r0-r15, cpsr, ORIG_r0 */
	} regs;
	struct iovec io = {&regs, sizeof regs};

	*what = "ptrace(PTRACE_GETREGSET)";
	if (ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &io) < 0)
		return -1;
	if (io.iov_len == sizeof regs.compat) { /* an AArch32 task: r7 numbers the call */
		at->nr = regs.compat[7];
		at->name = compat_name(at->nr);
		at->arg0 = regs.compat[17];
	} else {
		at->nr = regs.native.regs[8];
		at->name = native_name(at->nr);
		at->arg0 = regs.native.regs[0]; /* the return value is stored only on the way out */
	}
	return 0;
#else
	(void)pid;
	(void)at;
	*what = "ptrace(PTRACE_GETREGS)";
	errno = ENOSYS;
	return -1;
#endif
}

static PyObject *call(PyObject *self, PyObject *args)
{
	struct callsite at;
	const char *what;
	int pid;

	(void)self;
	if (!PyArg_ParseTuple(args, "i", &pid))
		return NULL;
	if (syscall_regs(pid, &at, &what) < 0)
		return failed(what);
	if (at.name && !strcmp(at.name, "clone3")) {
		/* flags is the first u64 of struct clone_args */
		uint64_t first;
		struct iovec local = {&first, sizeof first};
		struct iovec remote = {(void *)at.arg0, sizeof first};

		if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != (ssize_t)sizeof first)
			return failed("process_vm_readv");
		at.arg0 = (unsigned long)first;
	}
	if (!at.name)
		return Py_BuildValue("(kk)", at.nr, at.arg0);
	return Py_BuildValue("(sk)", at.name, at.arg0);
}

static PyMethodDef methods[] = {
	{"start", start, METH_VARARGS,
	 "start(path, argv, options) -> pid: fork, seize with options, execve."},
	{"cont", cont, METH_VARARGS, "cont(pid, signo=0): PTRACE_CONT."},
	{"listen", listen_, METH_VARARGS, "listen(pid): PTRACE_LISTEN."},
	{"event_msg", event_msg, METH_VARARGS, "event_msg(pid) -> int: PTRACE_GETEVENTMSG."},
	{"stop_event", stop_event, METH_VARARGS,
	 "stop_event(pid) -> int: the PTRACE_EVENT_* of the stop it is in (0: none)."},
	{"call", call, METH_VARARGS,
	 "call(pid) -> (name, flags): the clone call a tracee is stopped in (its number\n"
	 "instead of a name if it is no clone call)."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "tidscope.watch._ptrace",
	"The ptrace(2) requests of tidscope watch --run.", -1, methods,
	NULL, NULL, NULL, NULL,
};

/* What /proc/TID/syscall shows for a task inside a clone-family call,
 * native or 32-bit. */
static const unsigned long clone_calls[] = {
	SYS_clone,    SYS_clone3,    COMPAT_CLONE,
	COMPAT_CLONE3, COMPAT_FORK,  COMPAT_VFORK,
#ifdef SYS_fork
	SYS_fork,     SYS_vfork,
#endif
};

PyMODINIT_FUNC PyInit__ptrace(void)
{
	size_t n = sizeof clone_calls / sizeof clone_calls[0];
	PyObject *m = PyModule_Create(&module);
	PyObject *nrs = PyTuple_New((Py_ssize_t)n);

	for (size_t i = 0; nrs && i < n; i++) {
		PyObject *nr = PyLong_FromUnsignedLong(clone_calls[i]);

		if (!nr) {
			Py_CLEAR(nrs);
			break;
		}
		PyTuple_SET_ITEM(nrs, (Py_ssize_t)i, nr);
	}
	if (!m || !nrs || PyModule_AddObject(m, "CLONE_CALLS", nrs) < 0) {
		Py_XDECREF(nrs);
		Py_XDECREF(m);
		return NULL;
	}
	return m;
}
