"""Observations of a child from its parent's side, for the flag experiments.

Each returns what it saw or, when a syscall of ours failed, the
:class:`Failed` step: a look we could not take
is never counted as an effect, present or absent.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from tidscope.core.clone import Children, Op, Report, die_with_parent
from tidscope.core.kcmp import KCMP
from tidscope.core.syscalls import syscall
from tidscope.proc import masks
from tidscope.proc import status as proc_status

T = TypeVar("T")


@dataclass(frozen=True)
class Failed:
    """An observation not made: ``step`` failed with ``errno``."""

    step: str  # "child getuid", "kcmp", "read /proc/self/fdinfo/5"
    errno: int

    def __str__(self) -> str:
        return f"{self.step}: {errno.errorcode.get(self.errno, str(self.errno))}"


def ours(step: str, fn: Callable[..., T], *args: Any) -> T | Failed:
    """``fn(*args)`` from our side, or the Failed step when it raised OSError."""
    try:
        return fn(*args)
    except OSError as err:
        return Failed(step, err.errno or 0)


def pid() -> int:
    """Our pid, by the raw syscall: os.getpid() hides a failure as -1."""
    return syscall("getpid")


def kcmp(pid1: int, pid2: int, resource: str) -> bool | Failed:
    """Do the two tasks share ``resource``?  (A kernel without kcmp, ENOSYS,
    is a look not taken like any other.)"""
    try:
        return syscall("kcmp", pid1, pid2, KCMP[resource], 0, 0) == 0
    except OSError as err:
        return Failed(f"kcmp KCMP_{resource}", err.errno or 0)


def ns_inode(task: int, ns: str) -> int | Failed:
    path = f"/proc/{task}/ns/{ns}"
    return ours(f"stat {path}", lambda: os.stat(path).st_ino)


def new_ns(task: int, ns: str) -> tuple[bool | Failed, dict[str, Any]]:
    """Is ``task`` in another ``ns`` namespace than ours?  With both inodes,
    as evidence."""
    mine, theirs = ns_inode(pid(), ns), ns_inode(task, ns)
    new: bool | Failed
    if isinstance(mine, Failed):
        new = mine
    elif isinstance(theirs, Failed):
        new = theirs
    else:
        new = mine != theirs
    return new, {f"our_{ns}_ns_inode": str(mine), f"child_{ns}_ns_inode": str(theirs)}


def read_file(path: str, limit: int = 1 << 16) -> bytes | Failed:
    """Up to ``limit`` bytes of ``path``, or the step that failed: its
    ``open`` or its ``read``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as err:
        return Failed(f"open {path}", err.errno or 0)
    try:
        return os.read(fd, limit)
    except OSError as err:
        return Failed(f"read {path}", err.errno or 0)
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


def need_file(path: str, limit: int = 1 << 16) -> bytes:
    """:func:`read_file`, for a read the experiment cannot do without: its
    failure is an OSError that names the step."""
    data = read_file(path, limit)
    if isinstance(data, Failed):
        raise OSError(data.errno, os.strerror(data.errno), data.step)
    return data


def status(tgid: int, tid: int | None = None) -> dict[str, str] | Failed:
    """A task's /proc status, or the failed step."""
    tid = tgid if tid is None else tid
    data = read_file(f"/proc/{tgid}/task/{tid}/status")
    return data if isinstance(data, Failed) else proc_status.status_fields(data)


def signal_bit(fields: dict[str, str] | Failed, field: str, signo: int) -> bool | Failed:
    if isinstance(fields, Failed):
        return fields
    mask = fields.get(field)
    if mask is None:
        return Failed(f"{field} in /proc status", errno.ENODATA)
    bits = masks.parse(mask)
    if bits is None:
        return Failed(f"{field} in /proc status (not a mask: {mask!r})", errno.EINVAL)
    return masks.has_signal(bits, signo)


def status_int(fields: dict[str, str] | Failed, field: str) -> int | Failed:
    if isinstance(fields, Failed):
        return fields
    try:
        return int(fields[field])
    except (KeyError, ValueError):
        return Failed(f"{field} in /proc status", errno.ENODATA)


def spawn_one(
    value: int,
    program: Sequence[Op] = (),
    *,
    scratch: bytes = b"",
    clone3: bool = False,
    exit_signal: int = 0,
    **kw: Any,
) -> Children:
    """One parked raw child (enter it with ``with``); process children die
    with the lab (see clone.die_with_parent: after the program, so that
    the program's result indices stay as written)."""
    prog = [*program, *die_with_parent(value)]
    return Children(
        1,
        value,
        program=prog,
        scratch=[scratch],
        clone3=clone3,
        exit_signal=exit_signal,
        foreign_parent=True,
        **kw,
    )


def child_pid(ch: Children, rep: Report) -> int:
    """The child's thread group leader, in our PID namespace."""
    return pid() if ch.is_thread else rep.tid
