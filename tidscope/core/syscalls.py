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

import errno

from tidscope.core import _syscall

SYSCALLS: dict[str, int] = _syscall.SYSCALLS

by_number = _syscall.syscall


def syscall(name: str, *args: int | bytearray | memoryview) -> int:
    """Syscall ``name`` in this process; OSError names it on failure."""
    try:
        return _syscall.syscall(SYSCALLS[name], *args)
    except OSError as err:
        raise OSError(err.errno, err.strerror, name) from None


IOVEC = "=QQ"  # struct iovec: base, length (64-bit); struct is imported when used


def read_memory(pid: int, address: int, size: int) -> bytes:
    """``size`` bytes at ``address`` in task ``pid``'s memory, by
    process_vm_readv(2) (it needs PTRACE_MODE_ATTACH_REALCREDS over the
    task); OSError naming the call, EFAULT for a short read.  ctypes only
    gives the buffer's address (imported here: its library's mappings are
    no business of the commands that never read another's memory); the
    call is the raw one."""
    import ctypes
    import struct

    iovec = struct.Struct(IOVEC)
    buf = bytearray(2 * iovec.size + size)
    cell = ctypes.c_char.from_buffer(buf, 2 * iovec.size)
    iovec.pack_into(buf, 0, ctypes.addressof(cell), size)
    iovec.pack_into(buf, iovec.size, address, size)
    del cell
    view = memoryview(buf)
    try:
        got = syscall("process_vm_readv", pid, view[: iovec.size], 1, view[iovec.size :], 1, 0)
    finally:
        view.release()
    if got != size:
        raise OSError(errno.EFAULT, f"read {got} of {size} bytes", "process_vm_readv")
    return bytes(buf[2 * iovec.size :])
