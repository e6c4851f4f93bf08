"""One watch event, as every source gives it (the connector, a poll of
/proc, ptrace), and what it is about: a thread, a leader or a process."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """One kernel event.  ``tid``/``tgid`` name the task it is about; for a
    fork, the new task.  ``thread`` (fork and exit only): the task is not
    its group's leader.  ``parent_*``: the fork's ``real_parent`` or, for
    an exit, the task's parent (0 where the kernel gives none, as for
    threads); ptrace's tracer.  ``time_ns`` is the kernel's CLOCK_MONOTONIC."""

    kind: str
    time_ns: int
    cpu: int
    tid: int
    tgid: int
    parent_tid: int | None = None
    parent_tgid: int | None = None
    thread: bool | None = None
    exit_code: int | None = None  # the wait status (status << 8 | signal)
    exit_signal: int | None = None  # sent to the parent; -1 for a thread
    comm: str | None = None
    ids: tuple[int, int] | None = None  # uid/gid: real, effective
    flags: int | None = None  # fork, traced (--run): the clone flags the call asked for
    call: str | None = None  # fork, traced: the system call (clone, clone3, fork, vfork)
    # exit: "thread" (a non-leader thread's), "leader" (the leader thread's,
    # while other threads of its group live on) or "process" (the group's
    # end: its last thread's exit); None where not yet said (a raw event)
    role: str | None = None
    last_tid: int | None = None  # a process exit: the thread that ended it, if not the leader
    maybe_exec: bool = False  # a polled thread exit that may be the exec'ing thread's


def scope(event: Event) -> str | None:
    """What an event is about: "thread", "leader" (an exit only) or "process";
    None when the kernel does not say (exec, comm, ids...)."""
    if event.role is not None:
        return event.role
    return None if event.thread is None else "thread" if event.thread else "process"


def said(event: Event, role: str | None, **changes: object) -> Event:
    """``event`` with its ``role`` (and ``changes``) said."""
    fields = dict(event.__dict__, role=role, **changes)
    copy: Event = _new(Event)
    _set(copy, "__dict__", fields)
    return copy


_new = object.__new__
_set = object.__setattr__


def _event(
    kind: str,
    time_ns: int,
    cpu: int,
    tid: int,
    tgid: int,
    parent_tid: int | None = None,
    parent_tgid: int | None = None,
    thread: bool | None = None,
    exit_code: int | None = None,
    exit_signal: int | None = None,
) -> Event:
    """``Event(...)`` for the kinds that carry no name, ids or clone flags,
    at a third of the cost: the frozen dataclass's ``__init__`` sets each of
    its 14 fields through ``object.__setattr__``; this fills the instance's
    dict at once (same fields, same values: equal and hashed alike)."""
    event: Event = _new(Event)
    _set(
        event,
        "__dict__",
        {
            "kind": kind,
            "time_ns": time_ns,
            "cpu": cpu,
            "tid": tid,
            "tgid": tgid,
            "parent_tid": parent_tid,
            "parent_tgid": parent_tgid,
            "thread": thread,
            "exit_code": exit_code,
            "exit_signal": exit_signal,
            "comm": None,
            "ids": None,
            "flags": None,
            "call": None,
            "role": None,
            "last_tid": None,
            "maybe_exec": False,
        },
    )
    return event


def selected(event: Event, pid: int | None, threads: bool | None) -> bool:
    """--pid: the event's tgid or parent tgid is ``pid``; ``threads`` True
    (False): only thread (process) births and exits, as the event says (a
    leader's exit while its group lives on is a thread's)."""
    if pid is not None and pid not in (event.tgid, event.parent_tgid):
        return False
    if threads is None:
        return True
    what = scope(event)
    return what in ("thread", "leader") if threads else what == "process"
