"""One reading of every selected thread: what its files say now.

A thread is its tid and its start time (:attr:`Reading.key`): a tid the
kernel gave to a new thread since the last reading is another thread.

Each reading reads ``stat`` and ``schedstat`` of every thread, in the numbers
form (proc/threads.Group.numbers: one flat tuple a thread, parsed by the C
reader, two threads reading at a time; no object is made for a thread but
its :class:`Reading`).  The owner of its directory (the user), ``status``
(context switches), ``sched`` (migrations) and ``wchan`` cost three times as
much again, and only change when the thread runs (a thread's credentials
are changed by itself only, and its directory's owner is its effective
uid): they are read for a thread seen for the first time and for one that
ran since the last reading (its ``schedstat`` time on a CPU, or its count of
times run, moved), and carried over from the last reading for the others,
whose counts then rise by nothing.  Where ``schedstat`` cannot be read, they
are read for every thread.  A thread gone (or its tid reused) between the
two reads keeps its ``stat`` figures, with those unread.  With ``-u`` the
owner is read with ``stat``, for every thread: it selects.
"""

from __future__ import annotations

import os

from tidscope.proc import threads as files
from tidscope.proc.task import Status, tgid_of
from tidscope.top.select import Selection

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    Numbers = tuple[Any, ...]
    # the owner, voluntary and involuntary switches, migrations, wchan
    More = tuple[int | None, int | None, int | None, int | None, str | None]

HZ = os.sysconf("SC_CLK_TCK")
AGAIN = (files.STATUS, files.SCHED, files.WCHAN)
# places in a thread's numbers (proc/threads.NUMBERS)
(TID, START, NAME, STATE, MINFLT, MAJFLT, UTIME, STIME, NICE) = range(9)
(LCPU, RTPRIO, POLICY, UID, RUN, RUNS) = range(9, len(files.NUMBERS))
# places in Reading.more: what only changes when a thread runs
OWNER, VCSW, IVCSW, MIGRATIONS, WCHAN = range(5)
UNREAD: More = (None, None, None, None, None)


class Reading:
    """One thread at one read: its numbers (proc/threads.NUMBERS), its
    group, the boot-time second it was read at, and ``more``: what only
    changes when it runs (its directory's owner, voluntary and involuntary
    context switches, migrations, wchan; None: unreadable), shared with the
    last reading when it did not run."""

    __slots__ = ("idle", "more", "numbers", "tgid", "when")

    def __init__(self, numbers: Numbers, tgid: int, when: float, more: More = UNREAD) -> None:
        self.numbers = numbers
        self.tgid = tgid
        self.when = when
        self.more = more
        # its row's values over an interval in which nothing of it changed
        # (interval.py)
        self.idle: tuple[Any, ...] | None = None

    def fill(
        self, uid: int | None, status: bytes | None, sched: bytes | None, wchan: bytes | None
    ) -> None:
        vcsw = ivcsw = None
        if status is not None:
            parsed = Status(status)
            vcsw = parsed.number(b"voluntary_ctxt_switches")
            ivcsw = parsed.number(b"nonvoluntary_ctxt_switches")
        self.more = (
            uid,
            vcsw,
            ivcsw,
            files.sched_number(sched, b"se.nr_migrations"),
            files.wchan(wchan),
        )

    @property
    def tid(self) -> int:
        return int(self.numbers[TID])

    @property
    def start(self) -> int:
        return int(self.numbers[START])

    @property
    def key(self) -> tuple[int, int]:
        return self.numbers[TID], self.numbers[START]

    @property
    def name(self) -> str:
        return str(self.numbers[NAME])

    @property
    def state(self) -> str:
        return str(self.numbers[STATE])

    @property
    def uid(self) -> int | None:
        uid = self.numbers[UID]
        return self.more[0] if uid is None else int(uid)  # OWNER

    @property
    def ran(self) -> tuple[int, int] | None:
        """(ns on a CPU, times run) from ``schedstat``; None if unread."""
        n = self.numbers
        return None if n[RUNS] is None else (n[RUN], n[RUNS])

    @property
    def vcsw(self) -> int | None:
        return self.more[1]  # VCSW

    @property
    def ivcsw(self) -> int | None:
        return self.more[2]  # IVCSW

    @property
    def migrations(self) -> int | None:
        return self.more[3]  # MIGRATIONS

    @property
    def wchan(self) -> str | None:
        return self.more[4]  # WCHAN

    @property
    def started(self) -> float:
        """The boot-time second it started at (to the clock tick)."""
        return int(self.numbers[START]) / HZ


Readings = dict[tuple[int, int], Reading]


class Sampler:
    """Reads the threads ``selection`` picks under ``root``, each time
    carrying over from the last reading what did not change."""

    def __init__(self, selection: Selection, root: str) -> None:
        self.selection = selection
        self.root = root
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
        every = sel.everything
        owner_first = bool(sel.users)  # -u selects by the owner: read it with stat
        self.began = files.boottime()
        for tgid, only in self._groups():
            with files.Group(tgid, self.root) as group:
                again: dict[int, Reading] = {}
                for when, batch in group.numbers(only, owner_first):
                    for n in batch:
                        key = (n[TID], n[START])
                        old = last.get(key)
                        if (
                            old is not None
                            and n[RUNS] is not None
                            and n[RUNS] == old.numbers[RUNS]
                            and n[RUN] == old.numbers[RUN]
                        ):  # it did not run: what only changes when it runs is the same
                            reading = Reading(n, tgid, when, old.more)
                            if every or sel.wants(reading):
                                now[key] = reading
                        else:
                            reading = Reading(n, tgid, when)
                            if every or sel.wants(reading):
                                now[key] = again[n[TID]] = reading
                if again:
                    self._again(group, again, not owner_first)
        self.last = now
        return now

    @staticmethod
    def _again(group: files.Group, again: dict[int, Reading], owner: bool) -> None:
        """Read what only changes when a thread runs, for ``again``."""
        for _, batch in group.batches(AGAIN, sorted(again), owner):
            for task, (status, sched, wchan) in batch:
                reading = again[task.tid]
                if task.start_ticks == reading.start:  # not a tid reused meanwhile
                    reading.fill(task.uid, status, sched, wchan)
