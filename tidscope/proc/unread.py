"""A value that was not observed, and why: tidscope's one "not read".

Whatever could not be read or seen (a /proc file, a line of it, a link, a
directory listing, a syscall of a lab, a psutil call) is an :class:`Unread`
naming ``where`` it failed and ``why``: an errno by name (``errno`` holds
its number), or what the file held instead of what was asked for (``errno``
0).  It is never a value: a field shows it as not readable, a lab's verdict
built on it is an error.

What an errno means here is told by the properties, so that no caller takes
one failure for another: :attr:`Unread.gone` (the task, or the file, is no
longer there), :attr:`Unread.refused` (it is there, but not ours to read:
``hidepid``, another user's task, a ptrace check), :attr:`Unread.exhausted`
(we ran out of descriptors or memory: ours, not the file's); anything else
(EIO, EINVAL...) is a failing read, never an empty answer.
"""

from __future__ import annotations

import errno as errnos
import os

from tidscope.errors import errno_name

# A task, or one of its files, that is no longer there.  (ENOENT is also a
# kernel built without that file: see taskdir.TaskDir.gone.)
VANISHED = frozenset({errnos.ENOENT, errnos.ESRCH})
# Not ours to look at: hidepid, another user's task, a ptrace access check.
REFUSED = frozenset({errnos.EACCES, errnos.EPERM})
# Errors that are ours, not the file's: reported, never taken for a hidden task.
EXHAUSTED = frozenset({errnos.EMFILE, errnos.ENFILE, errnos.ENOMEM})
# What a listing leaves out: a task gone or not ours to see, and what no
# /proc file answers (a fake root's socket, symbolic-link loop, device or
# directory).  Any other failure (EIO, EINVAL, our EMFILE...) is raised by
# the readers that answer None: a failed read is no empty answer.
LEFT_OUT = (
    VANISHED
    | REFUSED
    | frozenset(
        {
            errnos.ENOTDIR,
            errnos.ELOOP,
            errnos.ENXIO,
            errnos.ENODEV,
            errnos.EISDIR,
            errnos.EOPNOTSUPP,
        }
    )
)


class Unread:
    """A value not observed: ``where`` (a file, a line of it, a step such as
    ``open /proc/1/status`` or ``kcmp KCMP_VM``, a psutil call) did not give
    it, for ``why`` (an errno's name, ``errno`` its number; or what the file
    said instead, ``errno`` 0).  Compared by value, and never changed once
    made.  (A plain class: proc/files.py is imported by ``tidscope ps``,
    which must not pay for importing dataclasses.)"""

    __slots__ = ("errno", "where", "why")

    where: str
    why: str
    errno: int

    def __init__(self, where: str, why: str, errno: int = 0) -> None:
        self.where = where
        self.why = why
        self.errno = errno

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Unread):
            return NotImplemented
        return (self.where, self.why, self.errno) == (other.where, other.why, other.errno)

    def __hash__(self) -> int:
        return hash((self.where, self.why, self.errno))

    def __repr__(self) -> str:
        return f"Unread({self.where!r}, {self.why!r}, {self.errno!r})"

    def __str__(self) -> str:
        return f"{self.where}: {self.why}"

    @property
    def gone(self) -> bool:
        """The task or file is no longer there (ENOENT, ESRCH)."""
        return self.errno in VANISHED

    @property
    def refused(self) -> bool:
        """There, but not ours to read (EACCES, EPERM)."""
        return self.errno in REFUSED

    @property
    def exhausted(self) -> bool:
        """We ran out of descriptors or memory (EMFILE, ENFILE, ENOMEM)."""
        return self.errno in EXHAUSTED

    def error(self) -> OSError:
        """This failure as the OSError it was (``filename`` is ``where``);
        for one that was no syscall's (``errno`` 0), an OSError with no errno."""
        if not self.errno:
            return OSError(str(self))
        return OSError(self.errno, os.strerror(self.errno), self.where)


def failed(where: str, err: OSError | int) -> Unread:
    """What a failed syscall on ``where`` tells: its errno (``err``, or the
    OSError's), by name."""
    code = err if isinstance(err, int) else err.errno or 0
    return Unread(where, errno_name(code), code)
