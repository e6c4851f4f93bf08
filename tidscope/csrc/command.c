/* Start `spawn --run`'s command with the signal state the caller chooses.
 *
 * posix_spawn(3) would do, but glibc's leaves its internal signals (32, 33)
 * ignored in the new program, and a program must not inherit a SIG_IGN it
 * did not ask for.  Here the child resets every caught signal, and every
 * signal in `defaults`, to SIG_DFL, sets `mask`, and execs.  Like
 * posix_spawn it is a vfork: the child shares our memory until execve, so
 * all signals stay blocked until no handler of ours can run in it.
 * Not part of the raw-clone path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rawclone.h"

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

pid_t ts_spawn_command(const char *path, char *const argv[], char *const envp[],
		       unsigned long mask, unsigned long defaults)
{
	unsigned long all = ~0UL, old;
	volatile int err = 0;
	const pid_t parent = getpid();

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
