/* Start `spawn --run`'s command with the signal state the caller chooses.
 *
 * posix_spawn(3) would do, but glibc's leaves its internal signals (32, 33)
 * ignored in the new program, and a program must not inherit a SIG_IGN it
 * did not ask for.  Here the child resets every caught signal, and every
 * signal in `defaults`, to SIG_DFL, sets `mask`, and execs.  Like
 * posix_spawn it is a vfork: the child shares our memory until execve, so
 * all signals stay blocked until no handler of ours can run in it.
 * Not part of the raw-clone path; its typed face is tidscope/core/shell.py.
 */
#include "module.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define NSIGNALS 64

/* The kernel's struct sigaction, large enough for every layout: the
 * handler comes first, and all zero is SIG_DFL with no flags and no mask. */
struct ksigaction {
	unsigned long word[4];
};

static void child(const char *path, char *const argv[], char *const envp[],
		  unsigned long mask, unsigned long defaults, pid_t parent,
		  volatile int *err)
{
	/* The shell dies with us, even when we are SIGKILLed (what it starts
	 * does not: nothing is left to end it then); a parent that died
	 * before this took effect is seen at once. */
	if (syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0 ||
	    syscall(SYS_getppid) != parent) {
		*err = errno ? errno : ESRCH;
		_exit(127);
	}
	for (int sig = 1; sig <= NSIGNALS; sig++) {
		struct ksigaction sa;

		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (syscall(SYS_rt_sigaction, sig, NULL, &sa, sizeof(mask)) != 0)
			continue;
		int keep = sa.word[0] == (unsigned long)SIG_DFL ||
			   sa.word[0] == (unsigned long)SIG_IGN;
		if (keep && !(defaults >> (sig - 1) & 1))
			continue;
		memset(&sa, 0, sizeof(sa));
		syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof(mask));
	}
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &mask, NULL, sizeof(mask));
	execve(path, argv, envp);
	*err = errno; /* our memory: the parent reads it once we are gone */
	_exit(127);
}

/* Start path with that signal mask, and SIG_DFL for every caught signal
 * and every signal in defaults (bit N-1: signal N); the pid, or -errno
 * (execve's included). */
static pid_t start(const char *path, char *const argv[], char *const envp[],
		   unsigned long mask, unsigned long defaults)
{
	unsigned long all = ~0UL, old;
	volatile int err = 0;
	const pid_t parent = (pid_t)syscall(SYS_getpid); /* the kernel's, as the guard's */

	if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof(all)) != 0)
		return -errno;
	pid_t pid = vfork();
	if (pid == 0)
		child(path, argv, envp, mask, defaults, parent, &err);
	int failed = pid < 0 ? errno : err;
	if (pid > 0 && failed) /* exec failed: the child has exited */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, sizeof(old));
	return failed ? -failed : pid;
}

/* Each item of a list of bytes as a NULL-terminated array, valid while
 * the list lives; NULL with an exception set on failure. */
static char **byte_strings(PyObject *list, const char *what)
{
	if (!PyList_Check(list)) {
		PyErr_Format(PyExc_TypeError, "%s must be a list of bytes", what);
		return NULL;
	}
	Py_ssize_t n = PyList_GET_SIZE(list);
	char **out = PyMem_Calloc((size_t)n + 1, sizeof(*out));
	if (!out)
		return (char **)PyErr_NoMemory();
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *item = PyList_GET_ITEM(list, i);
		if (!PyBytes_Check(item) || strlen(PyBytes_AS_STRING(item)) !=
						    (size_t)PyBytes_GET_SIZE(item)) {
			PyMem_Free(out);
			PyErr_Format(PyExc_ValueError, "%s must be bytes without NUL", what);
			return NULL;
		}
		out[i] = PyBytes_AS_STRING(item);
	}
	return out;
}

/* spawn_command(path, argv, env, mask, defaults) -> pid */
static PyObject *spawn_command(PyObject *Py_UNUSED(mod), PyObject *args)
{
	const char *path;
	PyObject *argv_list, *env_list;
	unsigned long mask, defaults;
	char **argv = NULL, **envp = NULL;
	PyObject *result = NULL;

	if (!PyArg_ParseTuple(args, "yO!O!kk", &path, &PyList_Type, &argv_list, &PyList_Type,
			      &env_list, &mask, &defaults))
		return NULL;
	if (!(argv = byte_strings(argv_list, "argv")) || !(envp = byte_strings(env_list, "env")))
		goto out;
	pid_t pid = start(path, argv, envp, mask, defaults);
	if (pid < 0) {
		errno = -pid;
		PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
		goto out;
	}
	result = PyLong_FromLong(pid);
out:
	PyMem_Free(argv);
	PyMem_Free(envp);
	return result;
}

PyMethodDef ts_command_methods[] = {
	{"spawn_command", spawn_command, METH_VARARGS,
	 "spawn_command(path, argv, env, mask, defaults) -> pid: vfork and exec with that"
	 " signal mask, and SIG_DFL for caught signals and those in defaults."},
	{NULL, NULL, 0, NULL},
};
