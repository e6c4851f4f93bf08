/* tidscope.core._syscall: one raw syscall in this process, by number.
 *
 * The gateway for what Python's os module has no call for (prctl, kcmp,
 * unshare, mount, SysV semaphores, ioprio, arch_prctl...) and for what must
 * not go through libc's wrapper: getpid, getppid and getuid "cannot fail"
 * there, so a call a seccomp filter refuses comes back from os as its
 * -errno, taken for an id (tests/test_sabotage.py).  syscall(3) hands the
 * number and the arguments to the kernel as they are, and a -1 from any
 * call is an OSError.
 *
 * SYSCALLS are the numbers of this architecture that tidscope uses by name:
 * here, and in the programs raw-clone children run (tidscope.core.clone).
 * tidscope/core/syscalls.py is the typed face; nothing else imports this.
 */
#define PY_SSIZE_T_CLEAN
#define _GNU_SOURCE
#include <Python.h>

#include <sys/syscall.h>
#include <unistd.h>

#define NARGS 6 /* the most a syscall takes */

/* syscall(nr, *args): an argument is an int or a writable buffer (passed
 * by address, held until the call returns); -1 raises OSError (errno);
 * the GIL is released for the call. */
static PyObject *raw_syscall(PyObject *Py_UNUSED(mod), PyObject *args)
{
	long a[NARGS] = {0};
	Py_buffer bufs[NARGS];
	int nbufs = 0;
	Py_ssize_t n = PyTuple_GET_SIZE(args);
	PyObject *result = NULL;

	if (n < 1 || n > NARGS + 1) {
		PyErr_SetString(PyExc_TypeError, "syscall(nr, *args) takes 1 to 7 arguments");
		return NULL;
	}
	long nr = PyLong_AsLong(PyTuple_GET_ITEM(args, 0));
	if (nr == -1 && PyErr_Occurred())
		return NULL;
	for (Py_ssize_t j = 1; j < n; j++) {
		PyObject *o = PyTuple_GET_ITEM(args, j);
		if (PyObject_CheckBuffer(o)) {
			if (PyObject_GetBuffer(o, &bufs[nbufs], PyBUF_WRITABLE) < 0)
				goto out;
			a[j - 1] = (long)bufs[nbufs++].buf;
		} else {
			a[j - 1] = PyLong_AsLong(o);
			if (a[j - 1] == -1 && PyErr_Occurred())
				goto out;
		}
	}
	long r;
	Py_BEGIN_ALLOW_THREADS
	r = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	Py_END_ALLOW_THREADS
	result = r == -1 ? PyErr_SetFromErrno(PyExc_OSError) : PyLong_FromLong(r);
out:
	while (nbufs)
		PyBuffer_Release(&bufs[--nbufs]);
	return result;
}

static PyMethodDef methods[] = {
	{"syscall", raw_syscall, METH_VARARGS,
	 "syscall(nr, *args) -> int: a raw syscall in this process; buffers pass by address."},
	{NULL, NULL, 0, NULL},
};

/* The syscalls tidscope uses by name, with this architecture's numbers. */
static const struct {
	const char *name;
	long nr;
} syscalls[] = {
	{"getpid", SYS_getpid},
	{"gettid", SYS_gettid},
	{"getppid", SYS_getppid},
	{"prctl", SYS_prctl},
	{"close", SYS_close},
	{"chdir", SYS_chdir},
	{"getcwd", SYS_getcwd},
	{"umask", SYS_umask},
	{"rt_sigaction", SYS_rt_sigaction},
	{"sethostname", SYS_sethostname},
	{"uname", SYS_uname},
	{"read", SYS_read},
	{"write", SYS_write},
	{"openat", SYS_openat},
	{"fcntl", SYS_fcntl},
	{"dup3", SYS_dup3},
	{"futex", SYS_futex},
	{"kill", SYS_kill},
	{"exit", SYS_exit},
	{"clone", SYS_clone},
	{"clone3", SYS_clone3},
	{"kcmp", SYS_kcmp},
	{"process_vm_readv", SYS_process_vm_readv},
	{"unshare", SYS_unshare},
	{"mount", SYS_mount},
	{"umount2", SYS_umount2},
	{"msgget", SYS_msgget},
	{"msgctl", SYS_msgctl},
	{"semget", SYS_semget},
	{"semop", SYS_semop},
	{"semctl", SYS_semctl},
	{"ioprio_set", SYS_ioprio_set},
	{"ioprio_get", SYS_ioprio_get},
	{"clock_gettime", SYS_clock_gettime},
	{"nanosleep", SYS_nanosleep},
	{"socket", SYS_socket},
	{"bind", SYS_bind},
	{"getuid", SYS_getuid},
	{"geteuid", SYS_geteuid},
	{"setresuid", SYS_setresuid},
	{"ptrace", SYS_ptrace},
	{"wait4", SYS_wait4},
	{"tgkill", SYS_tgkill},
	{"rt_sigprocmask", SYS_rt_sigprocmask},
	{"rt_sigtimedwait", SYS_rt_sigtimedwait},
	{"setpriority", SYS_setpriority},
	{"getpriority", SYS_getpriority},
	{"pidfd_open", SYS_pidfd_open},
	{"pidfd_send_signal", SYS_pidfd_send_signal},
#ifdef SYS_arch_prctl
	{"arch_prctl", SYS_arch_prctl},
#endif
};

static int add_numbers(PyObject *m)
{
	PyObject *table = PyDict_New();

	if (!table)
		return -1;
	for (size_t i = 0; i < sizeof(syscalls) / sizeof(syscalls[0]); i++) {
		PyObject *v = PyLong_FromLong(syscalls[i].nr);
		if (!v || PyDict_SetItemString(table, syscalls[i].name, v) < 0) {
			Py_XDECREF(v);
			Py_DECREF(table);
			return -1;
		}
		Py_DECREF(v);
	}
	if (PyModule_AddObject(m, "SYSCALLS", table) < 0) {
		Py_DECREF(table);
		return -1;
	}
	return 0;
}

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "tidscope.core._syscall",
	.m_doc = "One raw syscall in this process, by number; see tidscope.core.syscalls.",
	.m_size = -1,
	.m_methods = methods,
};

PyMODINIT_FUNC PyInit__syscall(void)
{
	PyObject *m = PyModule_Create(&module);

	if (m && add_numbers(m) < 0)
		Py_CLEAR(m);
	return m;
}
