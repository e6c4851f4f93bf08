"""kcmp(2) by the raw syscall: its types, as the kernel numbers them.

kcmp(pid1, pid2, type, 0, 0) answers whether two tasks point at the same
kernel object of ``type``: 0 the same, 1 the first is less, 2 greater.  The
order is of pointers obfuscated with a per-boot key, so it is consistent
for one boot and tasks can be sorted by it.  The caller needs
PTRACE_MODE_READ_REALCREDS over both tasks (else EPERM); a task that is gone
is ESRCH, and a kernel built without CONFIG_KCMP answers ENOSYS.

A NULL pointer compares equal to every other NULL pointer: kernel threads
have no mm, exited tasks have released their mm, files, fs, I/O context
and SysV undo list, and a task that never did I/O has no I/O context.
"""

from __future__ import annotations

from tidscope.core.syscalls import SYSCALLS

NR: int = SYSCALLS["kcmp"]

# include/uapi/linux/kcmp.h: the types clone flags share, named by flag.
KCMP = {"VM": 1, "FILES": 2, "FS": 3, "SIGHAND": 4, "IO": 5, "SYSVSEM": 6}

# What each type compares, for people.
WHAT = {
    "VM": "address space",
    "FILES": "file descriptor table",
    "FS": "root, working directory and umask",
    "SIGHAND": "signal handlers",
    "IO": "I/O context",
    "SYSVSEM": "System V semaphore undo list",
}
