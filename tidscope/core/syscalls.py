"""Raw syscalls in this process: the one gateway, and this architecture's numbers.

Python's os module has no call for most of what tidscope asks the kernel
directly (prctl, kcmp, unshare, mount, SysV semaphores, ioprio,
arch_prctl), and for what it has, libc's wrapper may stand between:
getpid, getppid and getuid "cannot fail" in libc, so a filtered call (a
seccomp sandbox) comes back from os as a negative number, its -errno,
where a pid or a uid was expected.  Here every call is
issued as itself, by number, and a -1 is an OSError:

- :func:`syscall` ``(name, *args)``: the OSError names the syscall
  (``unshare: [Errno 1] ...``), for steps whose failure is reported;
- :func:`by_number` ``(nr, *args)``: the gateway itself, for a caller that
  makes many calls and reads the errno (share's kcmp sorts).

An argument is an int or a writable buffer, passed by address; the GIL is
released for the call.  :data:`SYSCALLS` holds the numbers of the syscalls
tidscope uses by name: these calls, and the programs raw-clone children run
(:mod:`tidscope.core.clone`).
"""

from __future__ import annotations

from tidscope.core import _syscall

SYSCALLS: dict[str, int] = _syscall.SYSCALLS

by_number = _syscall.syscall


def syscall(name: str, *args: int | bytearray | memoryview) -> int:
    """Syscall ``name`` in this process; OSError names it on failure."""
    try:
        return _syscall.syscall(SYSCALLS[name], *args)
    except OSError as err:
        raise OSError(err.errno, err.strerror, name) from None
