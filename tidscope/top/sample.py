"""One reading of every selected thread: what its files say now.

A thread is its tid and its start time (:attr:`Reading.key`): a tid the
kernel gave to a new thread since the last reading is another thread.

Each reading reads ``stat`` and ``schedstat`` of every thread (proc/threads:
the C reader, two threads at a time).  ``status`` (context switches),
``sched`` (migrations) and ``wchan`` cost three times as much again, and
only change when the thread runs: they are read for a thread seen for the
first time and for one that ran since the last reading (its ``schedstat``
time on a CPU, or its count of times run, moved), and carried over from the
last reading for the others, whose counts then rise by nothing.  Where
``schedstat`` cannot be read, they are read for every thread.
"""

from __future__ import annotations

import os

from tidscope.proc import threads as files
from tidscope.proc.status import Status
from tidscope.proc.task import Task, tgid_of
from tidscope.top.select import Selection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

HZ = os.sysconf("SC_CLK_TCK")
FIRST = (files.SCHEDSTAT,)
AGAIN = (files.STATUS, files.SCHED, files.WCHAN)


def _int(task: Task, field: int) -> int:
    value = task.field(field)
    try:
        return int(value)
    except ValueError:
        return 0


class Reading:
    """One thread at one read: its ``stat`` figures, the boot-time second
    it was read at, and those of the other files (None: unreadable)."""

    __slots__ = (
        "ivcsw",
        "key",
        "lcpu",
        "majflt",
        "migrations",
        "minflt",
        "name",
        "nice",
        "policy",
        "ran",
        "rtprio",
        "start",
        "state",
        "stime",
        "tgid",
        "tid",
        "uid",
        "utime",
        "vcsw",
        "wchan",
        "when",
    )

    def __init__(self, task: Task, when: float, ran: tuple[int, int] | None) -> None:
        self.tid = task.tid
        self.tgid = task.tgid
        self.start = task.start_ticks
        self.key = (task.tid, task.start_ticks)
        self.name = task.name
        self.state = task.state
        self.uid = task.uid
        self.when = when
        self.ran = ran
        self.minflt = _int(task, 10)
        self.majflt = _int(task, 12)
        self.utime = _int(task, 14)
        self.stime = _int(task, 15)
        self.nice = _int(task, 19)
        self.lcpu: int | None = _int(task, 39) if task.field(39) else None
        self.rtprio = _int(task, 40)
        self.policy: int | None = _int(task, 41) if task.field(41) else None
        self.vcsw: int | None = None
        self.ivcsw: int | None = None
        self.migrations: int | None = None
        self.wchan: str | None = None

    def carry(self, old: Reading) -> None:
        """Take what only changes when a thread runs from ``old``."""
        self.vcsw = old.vcsw
        self.ivcsw = old.ivcsw
        self.migrations = old.migrations
        self.wchan = old.wchan

    def fill(self, status: bytes | None, sched: bytes | None, wchan: bytes | None) -> None:
        if status is not None:
            parsed = Status(status)
            self.vcsw = parsed.number(b"voluntary_ctxt_switches")
            self.ivcsw = parsed.number(b"nonvoluntary_ctxt_switches")
        self.migrations = files.sched_number(sched, b"se.nr_migrations")
        self.wchan = files.wchan(wchan)

    @property
    def started(self) -> float:
        """The boot-time second it started at (to the clock tick)."""
        return self.start / HZ


Readings = dict[tuple[int, int], Reading]


class Sampler:
    """Reads the threads ``selection`` picks under ``root``, each time
    carrying over from the last reading what did not change."""

    def __init__(self, selection: Selection, root: str, want_uid: bool = True) -> None:
        self.selection = selection
        self.root = root
        self.want_uid = want_uid or bool(selection.users)
        self.last: Readings = {}
        self.began = 0.0  # when the last reading began (boot time)

    @staticmethod
    def clock() -> float:
        """The clock readings are timed by (seconds since boot)."""
        return files.boottime()

    def _groups(self) -> Iterable[tuple[int, list[int] | None]]:
        """(tgid, the tids to read or None for all) of each group to read."""
        sel = self.selection
        if not sel.ids_only:
            for tgid in files.group_ids(self.root):
                yield tgid, None
            return
        some: dict[int, set[int]] = {}
        for tid in sel.tids:
            group = tgid_of(tid, self.root)
            if group is not None and group not in sel.pids:
                some.setdefault(group, set()).add(tid)
        for tgid in sorted(sel.pids | some.keys()):
            yield tgid, None if tgid in sel.pids else sorted(some[tgid])

    def read(self) -> Readings:
        """Every selected thread now."""
        last = self.last
        now: Readings = {}
        sel = self.selection
        self.began = files.boottime()
        for tgid, only in self._groups():
            with files.Group(tgid, self.root) as group:
                again: dict[int, Reading] = {}
                for when, batch in group.batches(FIRST, only, self.want_uid):
                    for task, raw in batch:
                        if not sel.wants(task):
                            continue
                        reading = Reading(task, when, files.schedstat(raw[0]))
                        old = last.get(reading.key)
                        if old is not None and reading.ran is not None and reading.ran == old.ran:
                            reading.carry(old)
                        else:
                            again[reading.tid] = reading
                        now[reading.key] = reading
                if again:
                    for _, batch in group.batches(AGAIN, sorted(again)):
                        for task, (status, sched, wchan) in batch:
                            reading = again[task.tid]
                            if task.start_ticks == reading.start:  # not a tid reused meanwhile
                                reading.fill(status, sched, wchan)
        self.last = now
        return now
