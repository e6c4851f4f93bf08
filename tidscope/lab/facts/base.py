"""What a thread fact is, what its observation returns, and the looks at
tasks from outside that the facts share.

A fact is a one-line statement about Linux threads that people get wrong,
and an observation made in a lab (lab/runner.py) that could show it false.
It returns a :class:`Seen`: ``shows``, the looks where the statement says
something happens, and ``contrast``, the looks where it says it does not;
each look is True when it came out as the statement says, False when it
did not, None when it cannot be made here by design, or an
:class:`~tidscope.proc.files.Unread` naming the step that failed, which
is never evidence.  Every wait has a deadline: one that passes is an
Unread (ETIMEDOUT) naming what was awaited, never a ``fail``.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tidscope.core.clone import Op, scratch
from tidscope.core.syscalls import SYSCALLS, syscall
from tidscope.lab.experiments.base import Check, Unobservable, Unread, failed, ours
from tidscope.lab.probes import read_file, signal_bit, status
from tidscope.proc.files import Unread as _Unread

__all__ = [
    "DEADLINE",
    "Check",
    "Fact",
    "Seen",
    "Unobservable",
    "Unread",
    "failed",
    "ours",
]

T = TypeVar("T")

DEADLINE = 10.0  # seconds any one wait for a task may take
WAIT_FOR_SIGNAL = 20  # seconds a raw waiter waits for its signal at most


@dataclass
class Seen:
    """One fact's looks (see the module's docstring) and their evidence."""

    shows: dict[str, Check]
    contrast: dict[str, Check]
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fact:
    name: str
    statement: str  # the fact, in one line
    method: str  # how it is observed
    observe: Callable[[], Seen]
    isolated: bool = False  # needs a lab with its own namespaces (or a user namespace)


# -- waiting, with a deadline ----------------------------------------------------------


def until(what: str, probe: Callable[[], T | Unread], timeout: float = DEADLINE) -> T | Unread:
    """``probe()`` until it returns something true (or an Unread, which
    ends the wait), at most ``timeout`` seconds; past it, an Unread naming
    ``what`` was awaited and what was last seen."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if isinstance(got, _Unread) or got:
            return got
        if time.monotonic() > deadline:
            return failed(f"{what} (waited {timeout:g}s; last seen: {got!r})", errno.ETIMEDOUT)
        time.sleep(0.002)


def readable(fd: int, timeout: float) -> bool | Unread:
    """Whether ``fd`` (a pidfd: its task has exited) is readable within
    ``timeout`` seconds."""
    waiter = select.poll()
    waiter.register(fd, select.POLLIN)
    return ours("poll", lambda: bool(waiter.poll(timeout * 1000)))


def ends(pidfd: int, what: str, timeout: float = DEADLINE) -> bool | Unread:
    """True once the task of ``pidfd`` has ended (its pidfd is readable),
    within ``timeout`` seconds; past them, an Unread naming ``what`` was
    awaited: never a False that a verdict could count."""
    got = readable(pidfd, timeout)
    if got is False:
        return failed(f"{what} (waited {timeout:g}s)", errno.ETIMEDOUT)
    return got


def exit_of(pidfd: int) -> str | Unread | None:
    """How the process of ``pidfd`` ended, as waitid(2) says it without
    reaping it (None: it has not)."""

    def look() -> str | None:
        got = os.waitid(os.P_PIDFD, pidfd, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if got is None:
            return None
        if got.si_code == os.CLD_EXITED:
            return f"exited {got.si_status}"
        return f"killed by {signal.Signals(got.si_status).name}"

    return ours("waitid P_PIDFD", look)


def start_pthread(thread: threading.Thread) -> None:
    """Start a Python thread (a pthread); a failure is an OSError naming
    the step, with no errno: Python says only "can't start new thread",
    not which errno the clone3 (or clone) of pthread_create met."""
    try:
        thread.start()
    except RuntimeError as err:
        raise OSError(f"pthread_create (clone3, or clone): {err}") from None


# -- tasks, from outside --------------------------------------------------------------


def tasks(pid: int) -> list[int] | Unread:
    """The tids of ``pid``'s thread group, as /proc lists them (libc's
    opendir makes an openat and an fstat, either of which may be what
    failed)."""
    from tidscope.proc import files

    path = f"/proc/{pid}/task"
    names = files.listing(path, where=f"listdir {path} (openat, fstat)", raises=files.NOTHING)
    return names if isinstance(names, _Unread) else sorted(int(n) for n in names)


def stat_fields(pid: int, tid: int) -> list[str] | Unread:
    """A task's stat fields from field 3 (its state) on, as proc(5) numbers
    them minus 3."""
    data = read_file(f"/proc/{pid}/task/{tid}/stat")
    if isinstance(data, _Unread):
        return data
    return data.rpartition(b")")[2].decode().split()


def state(pid: int, tid: int) -> str | Unread:
    """A task's state letter (stat field 3)."""
    fields = stat_fields(pid, tid)
    return fields if isinstance(fields, _Unread) else fields[0]


def states(pid: int, tids: list[int]) -> dict[int, str] | Unread:
    """Each task's state letter; the first failing read, if one fails."""
    out: dict[int, str] = {}
    for tid in tids:
        got = state(pid, tid)
        if isinstance(got, _Unread):
            return got
        out[tid] = got
    return out


def pending(pid: int, tid: int, field: str, signo: int) -> bool | Unread:
    """Is ``signo`` in a task's ``SigPnd`` (its own) or ``ShdPnd`` (its
    thread group's)?"""
    return signal_bit(status(pid, tid), field, signo)


def tgkill(tgid: int, tid: int, signo: int) -> bool | Unread:
    """tgkill(2): ``signo`` to thread ``tid`` of ``tgid`` (ours: the tgid
    check keeps it from reaching any other task); True when sent."""
    return ours("tgkill", lambda: syscall("tgkill", tgid, tid, signo) == 0)


def gone(pid: int, tid: int) -> bool | Unread:
    """Whether task ``tid`` is no longer in ``pid``'s group."""
    from tidscope.proc import files

    st = files.stat_of(f"/proc/{pid}/task/{tid}", raises=files.NOTHING)
    if isinstance(st, _Unread):
        return True if st.gone else st
    return False


def in_syscall(pid: int, tid: int, name: str) -> bool | Unread:
    """Whether task ``tid`` is blocked in syscall ``name`` now (its
    /proc syscall file)."""
    data = read_file(f"/proc/{pid}/task/{tid}/syscall")
    if isinstance(data, _Unread):
        return data
    first = data.split(b" ", 1)[0]
    return first.isdigit() and int(first) == SYSCALLS[name]


# -- raw waiters ------------------------------------------------------------------------

SI_USER, SI_TKILL = 0, -6
SIGINFO_AT = 24  # where in its scratch a waiter's siginfo goes (128 bytes)


def waiter(*signos: int, seconds: int | None = WAIT_FOR_SIGNAL) -> tuple[list[Op], bytes]:
    """The program and scratch of a raw thread that waits for one of
    ``signos`` (blocked, as every raw child's signals are) in
    rt_sigtimedwait, at most ``seconds`` (None: until one comes, or the
    thread is killed), then exits."""
    mask = 0
    for signo in signos:
        mask |= 1 << (signo - 1)
    data = struct.pack("Qqq", mask, seconds or 0, 0)
    timeout = scratch(8) if seconds is not None else 0
    prog = [Op("rt_sigtimedwait", (scratch(0), scratch(SIGINFO_AT), timeout, 8))]
    return prog, data


def siginfo(raw: bytes) -> tuple[int, int, int]:
    """(si_signo, si_code, si_pid) of the siginfo a waiter took."""
    signo, _, code, _, sender = struct.unpack("iiiii", raw[SIGINFO_AT : SIGINFO_AT + 20])
    return signo, code, sender
