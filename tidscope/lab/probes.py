"""Observations of a child from its parent's side, for the flag experiments.

Each returns what it saw or, when a syscall of ours failed, the step that
failed as an :class:`~tidscope.proc.files.Unread` (``kcmp KCMP_VM: EPERM``,
``read /proc/self/fdinfo/5: EIO``): a look we could not take is never
counted as an effect, present or absent.  Files are read through
proc/files.py with nothing raised: running out of descriptors is a step
that failed like any other.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tidscope.core import flags
from tidscope.core.clone import Children, Op, Report, die_with_parent
from tidscope.core.kcmp import KCMP
from tidscope.core.syscalls import syscall
from tidscope.proc import files, masks
from tidscope.proc import root as proc_root
from tidscope.proc import task as proc_task
from tidscope.proc.files import PROC, Unread, failed

T = TypeVar("T")


def ours(step: str, fn: Callable[..., T], *args: Any) -> T | Unread:
    """``fn(*args)`` from our side, or the failed step when it raised OSError."""
    try:
        return fn(*args)
    except OSError as err:
        return failed(step, err)


def pid() -> int:
    """Our pid, by the raw syscall: os.getpid() hides a failure as -1."""
    return syscall("getpid")


def kcmp(pid1: int, pid2: int, resource: str) -> bool | Unread:
    """Do the two tasks share ``resource``?  (A kernel without kcmp, ENOSYS,
    is a look not taken like any other.)"""
    try:
        return syscall("kcmp", pid1, pid2, KCMP[resource], 0, 0) == 0
    except OSError as err:
        return failed(f"kcmp KCMP_{resource}", err)


def foreign_proc() -> Unread | None:
    """Why /proc cannot be read as ours, or None: when it shows another pid
    namespace than ours (proc.root), a task's pid from the kernel names
    another task there, and every look into /proc is a step not taken."""
    other = proc_root.mismatch()
    return None if other is None else Unread(PROC, other.removeprefix(PROC).strip())


def ns_inode(task: int, ns: str) -> int | Unread:
    """The inode of ``task``'s ``ns`` namespace (or ``stat /proc/...: EPERM``)."""
    st = foreign_proc() or files.stat_of(f"/proc/{task}/ns/{ns}", raises=files.NOTHING)
    return st if isinstance(st, Unread) else st.st_ino


def new_ns(task: int, ns: str) -> tuple[bool | Unread, dict[str, Any]]:
    """Is ``task`` in another ``ns`` namespace than ours?  With both inodes,
    as evidence."""
    mine, theirs = ns_inode(pid(), ns), ns_inode(task, ns)
    new: bool | Unread
    if isinstance(mine, Unread):
        new = mine
    elif isinstance(theirs, Unread):
        new = theirs
    else:
        new = mine != theirs
    return new, {f"our_{ns}_ns_inode": str(mine), f"child_{ns}_ns_inode": str(theirs)}


def read_file(path: str, limit: int = 1 << 16) -> bytes | Unread:
    """Up to ``limit`` bytes of ``path``, or the step that failed: its
    ``open`` or its ``read``, whatever the errno (EMFILE too)."""
    if path.startswith(f"{PROC}/"):
        other = foreign_proc()
        if other is not None:
            return other
    return files.contents(path, limit=limit, check=False, raises=files.NOTHING)


def need_file(path: str, limit: int = 1 << 16) -> bytes:
    """:func:`read_file`, for a read the experiment cannot do without: its
    failure is an OSError that names the step."""
    data = read_file(path, limit)
    if isinstance(data, Unread):
        raise data.error()
    return data


def status(tgid: int, tid: int | None = None) -> dict[str, str] | Unread:
    """A task's /proc status, or the failed step."""
    tid = tgid if tid is None else tid
    data = read_file(f"/proc/{tgid}/task/{tid}/status")
    return data if isinstance(data, Unread) else proc_task.status_fields(data)


def signal_bit(fields: dict[str, str] | Unread, field: str, signo: int) -> bool | Unread:
    if isinstance(fields, Unread):
        return fields
    mask = fields.get(field)
    if mask is None:
        return failed(f"{field} in /proc status", errno.ENODATA)
    bits = masks.parse(mask)
    if bits is None:
        return failed(f"{field} in /proc status (not a mask: {mask!r})", errno.EINVAL)
    return masks.has_signal(bits, signo)


def status_int(fields: dict[str, str] | Unread, field: str) -> int | Unread:
    if isinstance(fields, Unread):
        return fields
    try:
        return int(fields[field])
    except (KeyError, ValueError):
        return failed(f"{field} in /proc status", errno.ENODATA)


def spawn_one(
    value: int,
    program: Sequence[Op] = (),
    *,
    scratch: bytes = b"",
    clone3: bool = False,
    exit_signal: int = 0,
    outside_parent: bool = False,
    **kw: Any,
) -> Children:
    """One parked raw child (enter it with ``with``); process children die
    with the lab (see clone.die_with_parent: after the program, so that
    the program's result indices stay as written).  ``outside_parent``:
    the child is in a PID namespace its parent is not in (the lab
    unshared one), so its getppid() is 0, as after CLONE_NEWPID."""
    newpid = flags.FLAGS["NEWPID"] if outside_parent else 0
    prog = [*program, *die_with_parent(value | newpid)]
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
