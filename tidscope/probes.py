"""Observations of a child from its parent's side, for the flag experiments.

Each returns what it saw, or None when the kernel would not let us look
(kcmp compiled out or denied, /proc hidden): a missing observation is never
counted as an effect.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from typing import Any

from tidscope import flags, procfs
from tidscope.clone import Children, Op, Report
from tidscope.lab import sys

# kcmp(2) types for the resources clone flags share.
KCMP = {"VM": 1, "FILES": 2, "FS": 3, "SIGHAND": 4, "IO": 5, "SYSVSEM": 6}
PR_SET_PDEATHSIG = 1


def kcmp(pid1: int, pid2: int, resource: str) -> bool | None:
    """Do the two tasks share ``resource``?  None if kcmp is unavailable."""
    try:
        return sys("kcmp", pid1, pid2, KCMP[resource], 0, 0) == 0
    except OSError:
        return None


def ns_inode(pid: int, ns: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return None


def new_ns(pid: int, ns: str) -> tuple[bool | None, dict[str, int | None]]:
    """Is ``pid`` in another ``ns`` namespace than ours (None if /proc will
    not say)?  With both inodes, as evidence."""
    mine, theirs = ns_inode(os.getpid(), ns), ns_inode(pid, ns)
    new = None if mine is None or theirs is None else mine != theirs
    return new, {f"our_{ns}_ns_inode": mine, f"child_{ns}_ns_inode": theirs}


def status(tgid: int, tid: int | None = None) -> dict[str, str]:
    return procfs.task_status(tgid, tid if tid is not None else tgid) or {}


def signal_bit(status_fields: dict[str, str], field: str, signo: int) -> bool | None:
    mask = status_fields.get(field)
    return None if mask is None else bool(int(mask, 16) >> (signo - 1) & 1)


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
    with the lab.

    The PR_SET_PDEATHSIG op goes last, so the program's result indices
    stay as written."""
    is_thread = flags.has(value, "THREAD")
    prog = list(program)
    if not is_thread:
        prog.append(Op("prctl", (PR_SET_PDEATHSIG, int(signal.SIGKILL))))
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
    return ch.tgid(rep.tid)
