"""Reading /proc's files: the one way tidscope opens and reads them, and
what a file that cannot be read means.

Races are ordinary control flow here: a task can vanish between listing and
reading, which yields None, never an exception.  So does a file we may not
read (``hidepid``, another user's task): callers show what they could read.
Running out of descriptors or memory is ours, not the file's, and raised.

Files are read as bytes with one ``os.open`` and as few ``os.read`` calls as
the file needs; the procfs root is a parameter so that tests, and users with
a second proc mount, can point it elsewhere.  A root that is not the
kernel's (``--proc-root`` at a copy, or a hostile tree) may hold anything
where a file should be: every open is non-blocking (a FIFO cannot hang us),
every read is capped (``/dev/zero`` cannot fill memory), and anything but a
regular file reads as unreadable, like a hidden one.  The per-task files of
a root that is a proc mount skip that check (``check=False``: an ``fstat``
per file would cost a tenth of a ``ps -T``): there the kernel makes every
file, regular (see mounts.is_proc_mount).
"""

from __future__ import annotations

import errno
import os
import stat

PROC = "/proc"
READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
DIRECTORY = READ | os.O_DIRECTORY
CHUNK = 4096  # one read holds any stat line; longer files are read to EOF

# The most of a file read: procps's cap for a command line; a status file
# lists at most 65,536 supplementary groups; the system tables (mountinfo,
# /proc/stat, tty/drivers) are read once.
CMDLINE_MAX = 128 * 1024
STATUS_MAX = 1024 * 1024
TABLE_MAX = 4 * 1024 * 1024

# What a vanished or hidden task raises: ENOENT, ESRCH, EACCES/EPERM, ENOTDIR.
GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)
# Errors that are ours, not the file's: reported, never taken for a hidden task.
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


def passable(err: OSError) -> bool:
    """Whether ``err`` means "leave this file out" (gone, hidden, or not a
    file /proc would hold: a socket, a symlink loop...) rather than a
    failure of ours (no file descriptors or memory left), which is raised."""
    return err.errno not in EXHAUSTED


def kind(mode: int) -> str:
    """What a file of ``mode`` is, for messages: ``a FIFO``, ``a directory``..."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "no regular file"


def _open(path: str, dir_fd: int | None, check: bool) -> int | None:
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except OSError as err:
        if passable(err):
            return None
        raise
    if check and not _regular(fd):
        os.close(fd)
        return None
    return fd


def read(path: str, dir_fd: int | None = None, check: bool = True) -> bytes | None:
    """One read of a small file (``stat``), or None if it is gone, hidden or
    no regular file.  ``check=False`` skips the last test: for the kernel's
    own files (see :func:`is_proc_mount`).  (The hot path of ``ps -T``:
    :func:`_open` inlined.)"""
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in EXHAUSTED:
            raise
        return None
    try:
        if check and not _regular(fd):
            return None
        return os.read(fd, CHUNK)
    except OSError as err:
        if err.errno in EXHAUSTED:
            raise
        return None
    finally:
        os.close(fd)


def _regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def read_all(
    path: str, dir_fd: int | None = None, limit: int = STATUS_MAX, check: bool = True
) -> bytes | None:
    """A whole file (``status``, ``cmdline``) up to ``limit`` bytes, or None
    as :func:`read`."""
    fd = _open(path, dir_fd, check)
    if fd is None:
        return None
    try:
        return read_fd(fd, limit)
    except OSError as err:
        if passable(err):
            return None
        raise
    finally:
        os.close(fd)


def read_fd(fd: int, limit: int) -> bytes:
    """The open file ``fd`` read to its end, up to ``limit`` bytes; an
    error is raised, for the caller to judge."""
    chunks = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(CHUNK * 4, left))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
