"""``tidscope watch --poll``: births, exits and renames found by comparing
scans of /proc, where the process-events connector is refused or not asked.

Polling is lossy, and says so (:attr:`Poller.first_line`): a task that lives
between two scans is never seen, and nothing counts what was missed (so
:attr:`Poller.lost` is None, unknown, never 0).  Scans slower than the
interval (a tiny interval, many tasks) keep a longer bound than the first
line says: the longest gap is then said at the end (:attr:`Poller.last_line`).
What it does report keeps these rules:

- A task is (tgid, tid, start time): the tgid is the directory it was found
  under and the start time is ``stat`` field 22.  The same ids with another
  start time are another task: the old one's exit, then the new one's fork.
  (Two tasks of the same ids started in the same clock tick, both between
  two scans, cannot be told apart.)
- A task in state Z or X has exited (the connector reports an exit when the
  task dies, not when its parent reaps it).  A task first seen dead gets its
  fork and its exit.
- fork: a task not in the previous scan, started since that scan began (one
  that started earlier was there to be seen: a listing that missed it, or a
  task that has just come into our view, is taken in without an event).
  ``thread`` is tid != tgid, the kernel's own ids.  ``parent_tgid`` is the
  task's PPid (stat field 4): its ``real_parent``'s tgid, which for a thread
  is the parent of its whole process, as in the connector's fork event; it
  is the parent when the task was seen, so a parent that had already died
  shows as the reaper that adopted the task.  ``parent_tid`` is None (the
  connector gives the forking thread, which /proc does not keep).
- ``time_ns`` (CLOCK_MONOTONIC, as the connector's): a fork's is the task's
  start time, converted from CLOCK_BOOTTIME clock ticks, so up to one tick
  (1/CLK_TCK s) early.  Every other event's is the end of the scan that
  found it: the change happened after the previous scan began, and at most
  an interval and a scan before this time.  Events are therefore not in
  time order across scans.
- exit: a task of the previous scan that is dead or gone, said as a
  thread's, a leader's (its group has a live task still: the leader stays
  a zombie) or the process's (no task of its group lives: said once, by
  its leader's id; when the leader had left first, after the last
  thread's exit, with ``last_tid`` where one thread was gone).
  ``exit_code`` and ``exit_signal`` are None (a zombie's stat field 52
  reads 0 unless we may ptrace it).  ``parent_tgid`` is the PPid last seen
  for a leader, None for a thread.  A task missing from a scan is looked up
  once more on its own before it is called gone (a listing can skip live
  threads while others exit); one whose directory is there but cannot be
  read is kept as it was.
- comm: a live task whose name changed: a rename or, for a group leader, an
  exec by the leader; polling cannot tell which.  A workqueue worker's name
  (stat field 9 has PF_WQ_WORKER) changes with its work: not reported.
- exec by another thread is reported where it is certain: a dead leader
  that lives again with the same start time, or a live leader whose own
  minor-fault count (task/TID/stat, read for the leaders of groups of more
  than one task) went down: the exec'ing thread took the leader's id and
  age.  The leader it killed has a leader's exit.  Its own id ends without
  an exit: when one thread of the group is gone, it is that one (the
  exec's ``parent_tid``); when several are, each one's exit has
  ``maybe_exec``.
- ``cpu`` is -1: no event was reported by a CPU.  ``comm`` holds the name
  the scan saw (fork, exit: as last seen; comm, exec: the new name).
- Tasks we cannot see (hidepid, another namespace) are not events.  Under
  hidepid=invisible, a task that takes another user's credentials leaves
  our view and shows as an exit.
- One scan's events come in this order: exits (by tgid, a group's threads
  before its leader), execs, renames, forks (by start time, then tgid, a
  leader before its threads), then the exits of tasks first seen dead.

This module is longer than 400 lines because one scan's comparison
(:func:`changes` and the helpers that say each exit's role and find an
exec) keeps the rules above together, over two scans; the scanning itself
is :class:`Poller`.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

from tidscope.proc import snapshot
from tidscope.proc.files import NOTHING, PROC, Unread, read, stat_of
from tidscope.proc.root import clock_ticks, is_proc_mount
from tidscope.proc.task import DEAD, Task, parse_stat
from tidscope.watch.event import Event

INTERVAL = 0.1  # seconds from one scan's start to the next's, by default
CPU_UNKNOWN = -1
SLACK_NS = 1_000_000  # clock-reading jitter allowed in the birth test
PF_WQ_WORKER = 0x20  # stat field 9: the task is a kernel workqueue worker
LOSSY = (
    "polling {proc} every {interval:g} s, which is lossy: tasks that live less than"
    " about {interval:g} s may be missed and are not counted; exits carry no status,"
    " and a name change may be an exec"
)
LATE = 1.5  # a gap between scans this many intervals long is said at the end
SLOW = (
    "scans of {proc} were up to {gap:.3g} s apart, not {interval:g} s: tasks that lived"
    " less than about {gap:.3g} s may have been missed"
)


class Seen(NamedTuple):
    """One task as a scan found it (a tuple: a scan makes one per task)."""

    start_ticks: int  # stat field 22: since boot, in clock ticks
    ppid: int
    name: str
    dead: bool  # state Z or X
    rest: bytes = b""  # the stat line after the name, as task.Task.rest
    # a leader of a group of more than one task: its own minor faults (its
    # task/TID/stat; the group's stat, read for a leader, sums its threads')
    own_minflt: int | None = None

    @property
    def worker(self) -> bool:
        """A kernel workqueue worker (stat field 9): its name shows its work."""
        fields = self.rest.split(b" ", 7)
        flags = fields[6] if len(fields) > 6 else b""
        return flags.isdigit() and int(flags) & PF_WQ_WORKER != 0


Scan = dict[tuple[int, int], Seen]  # (tgid, tid) -> what was seen


@dataclass(frozen=True)
class Clock:
    """Start ticks to CLOCK_MONOTONIC ns: ``offset_ns`` is CLOCK_BOOTTIME
    minus CLOCK_MONOTONIC (the time spent suspended), read at the scan."""

    hz: int
    offset_ns: int

    @classmethod
    def now(cls, hz: int) -> Clock:
        boot = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        mono = time.monotonic_ns()
        return cls(hz, boot - mono)

    def monotonic_ns(self, start_ticks: int) -> int:
        return start_ticks * 1_000_000_000 // self.hz - self.offset_ns

    @property
    def tick_ns(self) -> int:
        return -(-1_000_000_000 // self.hz)


def scan(proc: str = PROC) -> Scan:
    """Every task of ``proc`` we can read (TidscopeError if it lists none)."""
    return {
        (t.tgid, t.tid): Seen(t.start_ticks, t.ppid, t.name, t.state in DEAD, t.rest)
        for t in snapshot.tasks(proc)
    }


def _seen(task: Task) -> Seen:
    return Seen(task.start_ticks, task.ppid, task.name, task.state in DEAD, task.rest)


def look(proc: str, tgid: int, tid: int, check: bool) -> tuple[bool, Seen | None]:
    """(whether task ``tid`` of group ``tgid`` is still there, what it is):
    one task missing from a scan, looked up on its own."""
    where = f"{proc}/{tgid}/task/{tid}"
    data = read(f"{where}/stat", None, check)
    task = None if data is None else parse_stat(data, tid, tgid, check)
    if task is not None:
        return True, _seen(task)
    return _exists(where), None  # there but not readable: kept as last seen


def _exists(path: str) -> bool:
    """Whether ``path`` is there (a refusal to look says it is)."""
    st = stat_of(path, raises=NOTHING)
    return not (isinstance(st, Unread) and st.gone)


def changes(before: Scan, after: Scan, since_ns: int, found_ns: int, clock: Clock) -> list[Event]:
    """The events between scan ``before`` (begun at ``since_ns``) and scan
    ``after`` (ended at ``found_ns``), in the order the module states."""
    ended: list[tuple[tuple[int, int], Seen]] = []  # tasks alive before, not now
    execs: dict[int, Seen] = {}  # tgid -> its leader's tid, now the exec'ing thread
    renames: list[Event] = []
    born: list[tuple[tuple[int, int], Seen]] = []
    for key, old in before.items():
        new = after.get(key)
        if new is not None and new.start_ticks == old.start_ticks:
            if key[0] == key[1] and not new.dead and (old.dead or _replaced(old, new)):
                execs[key[0]] = new
                if not old.dead:  # the leader was alive: the exec killed it
                    ended.append((key, old))
            elif new.dead and not old.dead:
                ended.append((key, new))
            elif not new.dead and new.name != old.name and not new.worker:
                renames.append(_event("comm", key, new, found_ns))
            continue
        if not old.dead:
            ended.append((key, old))
        if new is not None:
            born.append((key, new))
    for key, new in after.items():
        if key not in before:
            born.append((key, new))
    earliest = since_ns - clock.tick_ns - SLACK_NS  # a start tick no later can't be new
    born = [(k, s) for k, s in born if clock.monotonic_ns(s.start_ticks) > earliest]
    born.sort(key=lambda item: (item[1].start_ticks, item[0][0], item[0][1] != item[0][0], item[0]))
    alive = _alive_groups(after)
    exits, by = _exits(ended, before, alive, execs, found_ns)
    exec_events = [
        Event("exec", found_ns, CPU_UNKNOWN, tgid, tgid, by.get(tgid), comm=seen.name)
        for tgid, seen in sorted(execs.items())
    ]
    forks = [_fork(key, seen, clock) for key, seen in born]
    dead = [(key, seen) for key, seen in born if seen.dead]
    stillborn = [_exit(key, seen, found_ns, _role(key, alive)) for key, seen in dead]
    return [*exits, *exec_events, *renames, *forks, *stillborn]


def _replaced(old: Seen, new: Seen) -> bool:
    """Whether a live leader's tid names another task than at the last scan,
    with the same start time: only an exec by another thread of the group
    does that (it takes the leader's tid and start time).  A task's own
    minor-fault count never goes down; the exec'ing thread's may be lower."""
    was, now = old.own_minflt, new.own_minflt
    return was is not None and now is not None and now < was


def own_minflt(scan: Scan, tgids: set[int], proc: str) -> None:
    """Read the own minor faults of the leaders of ``tgids`` into ``scan``."""
    for tgid in tgids:
        seen = scan.get((tgid, tgid))
        if seen is None or seen.dead:
            continue
        data = read(f"{proc}/{tgid}/task/{tgid}/stat", None, False)
        task = None if data is None else parse_stat(data, tgid, tgid, False)
        if task is not None and task.start_ticks == seen.start_ticks:
            fields = task.rest.split(b" ", 8)  # the state is field 3; minflt, field 10
            if len(fields) > 8 and fields[7].isdigit():
                scan[tgid, tgid] = seen._replace(own_minflt=int(fields[7]))


def _crowded(*scans: Scan) -> set[int]:
    """The groups of more than one task in any of ``scans``."""
    found: set[int] = set()
    for scan in scans:
        found.update(tgid for tgid, tid in scan if tgid != tid)
    return found


def _alive_groups(scan: Scan) -> dict[int, int]:
    """tgid -> the start time of its leader, for every group with a live task."""
    leaders = {key[0]: seen.start_ticks for key, seen in scan.items() if key[0] == key[1]}
    return {key[0]: leaders.get(key[0], -1) for key, seen in scan.items() if not seen.dead}


def _role(key: tuple[int, int], alive: dict[int, int]) -> str:
    tgid, tid = key
    if tid != tgid:
        return "thread"
    return "leader" if tgid in alive else "process"


def _exits(
    ended: list[tuple[tuple[int, int], Seen]],
    before: Scan,
    alive: dict[int, int],
    execs: dict[int, Seen],
    found_ns: int,
) -> tuple[list[Event], dict[int, int]]:
    """The exits of ``ended``, each said as a thread's, a leader's or the
    group's (a group none of whose tasks lives now, and whose leader is not
    another task now), in tgid order, a group's threads before its leader;
    and the tid that exec'd, by tgid, where it is certain."""
    by_group: dict[int, list[tuple[tuple[int, int], Seen]]] = {}
    for key, seen in ended:
        by_group.setdefault(key[0], []).append((key, seen))
    out: list[Event] = []
    by: dict[int, int] = {}
    for tgid in sorted(by_group):
        tasks = sorted(by_group[tgid], key=lambda item: (item[0][1] == tgid, item[0][1]))
        leader = before.get((tgid, tgid))
        lives = tgid in alive and (leader is None or alive[tgid] in (-1, leader.start_ticks))
        if tgid in execs:
            threads = [key[1] for key, _ in tasks if key[1] != tgid]
            if len(threads) == 1:  # the one thread gone is the one that exec'd
                by[tgid] = threads[0]
                tasks = [item for item in tasks if item[0][1] == tgid]
            for key, seen in tasks:
                role = "leader" if key[1] == tgid else "thread"
                out.append(_exit(key, seen, found_ns, role, maybe_exec=role == "thread"))
            continue
        for key, seen in tasks:
            if key[1] != tgid:
                out.append(_exit(key, seen, found_ns, "thread"))
            else:
                out.append(_exit(key, seen, found_ns, "leader" if lives else "process"))
        if not lives and leader is not None and leader.dead:  # a zombie leader's group ends
            threads = [key[1] for key, _ in tasks]
            last = threads[0] if len(threads) == 1 else None
            out.append(_exit((tgid, tgid), leader, found_ns, "process", last_tid=last))
    return out, by


def _fork(key: tuple[int, int], seen: Seen, clock: Clock) -> Event:
    tgid, tid = key
    at = clock.monotonic_ns(seen.start_ticks)
    return Event("fork", at, CPU_UNKNOWN, tid, tgid, None, seen.ppid, tid != tgid, comm=seen.name)


def _exit(
    key: tuple[int, int],
    seen: Seen,
    found_ns: int,
    role: str,
    last_tid: int | None = None,
    maybe_exec: bool = False,
) -> Event:
    tgid, tid = key
    parent = seen.ppid if tid == tgid else None
    return Event(
        "exit",
        found_ns,
        CPU_UNKNOWN,
        tid,
        tgid,
        None,
        parent,
        tid != tgid,
        comm=seen.name,
        role=role,
        last_tid=last_tid,
        maybe_exec=maybe_exec,
    )


def _event(kind: str, key: tuple[int, int], seen: Seen, found_ns: int) -> Event:
    tgid, tid = key
    return Event(kind, found_ns, CPU_UNKNOWN, tid, tgid, comm=seen.name)


class Poller:
    """Scans of ``proc`` every ``interval`` seconds (from one scan's start
    to the next's; at once when a scan, or the caller, took longer); a
    context manager like :class:`tidscope.watch.connector.Connector`, whose first
    scan (in ``__enter__``) is the baseline: what exists then is no event.
    Scans run only inside :meth:`events`.  ``scans`` counts them and
    ``longest_gap_ns`` is the longest time between two starts: tasks that
    lived less than that could have been missed."""

    lost: int | None = None  # unknowable: polling cannot count what it missed
    overruns = 0  # no receive buffer to overrun

    def __init__(self, interval: float = INTERVAL, proc: str = PROC) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"polling interval {interval!r} is not a number of seconds above 0")
        self.interval = interval
        self.proc = proc
        self.scans = 0
        self.longest_gap_ns = 0  # between the starts of two scans in a row
        self._check = not is_proc_mount(proc)
        self._hz = clock_ticks()
        self._seen: Scan | None = None
        self._began_ns = 0  # the last scan's start
        self._pending: deque[Event] = deque()

    @property
    def first_line(self) -> str:
        """The warning to print before anything else: polling is lossy."""
        return LOSSY.format(proc=self.proc, interval=self.interval)

    @property
    def last_line(self) -> str | None:
        """The note to print at the end when two scans were much further
        apart than the interval (scans slower than it, as with a tiny
        interval or many tasks; or a late wake-up): the first line's bound
        did not hold, and this one is what was kept.  None otherwise."""
        gap = self.longest_gap_ns / 1e9
        if gap <= self.interval * LATE:
            return None
        return SLOW.format(proc=self.proc, gap=gap, interval=self.interval)

    def __enter__(self) -> Poller:
        self._began_ns = time.monotonic_ns()
        self._seen = scan(self.proc)
        own_minflt(self._seen, _crowded(self._seen), self.proc)
        self.scans = 1
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._seen = None
        self._pending.clear()

    def events(self, deadline: float | None = None) -> Iterator[Event]:
        """Events as scans find them, until ``deadline`` (time.monotonic());
        what a scan found is all handed over, even past the deadline.  A
        new call goes on where the last one stopped."""
        assert self._seen is not None, "use Poller as a context manager"
        while True:
            while self._pending:
                yield self._pending.popleft()
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return
            due = self._began_ns / 1e9 + self.interval
            if now < due:
                time.sleep((due if deadline is None else min(due, deadline)) - now)
                continue
            self._pending.extend(self._step())

    def _step(self) -> list[Event]:
        assert self._seen is not None
        began = time.monotonic_ns()
        clock = Clock.now(self._hz)
        after = scan(self.proc)
        before = self._seen
        gone: set[int] = set()  # groups whose task directory has gone
        for key in sorted(before.keys() - after.keys()):
            if key[0] in gone:
                continue
            if not _exists(f"{self.proc}/{key[0]}/task"):
                gone.add(key[0])
                continue
            there, seen = look(self.proc, key[0], key[1], self._check)
            if there:
                after[key] = before[key] if seen is None else seen
        own_minflt(after, _crowded(before, after), self.proc)
        events = changes(before, after, self._began_ns, time.monotonic_ns(), clock)
        self.longest_gap_ns = max(self.longest_gap_ns, began - self._began_ns)
        self._seen, self._began_ns = after, began
        self.scans += 1
        return events
