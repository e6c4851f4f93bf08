"""Each thread's own counters, for readings taken one interval apart
(``tidscope top``).

Unlike a ``ps`` walk (snapshot.py), a group's leader is read from its own
task directory (``task/<pid>/stat``: the leader thread's times), never from
its process's (``<pid>/stat``: the whole group's).  A group's ``task/``
directory is held open (:class:`Group`) while its threads are read, and a
second pass over some of them reads through the same descriptor: the thread
group the kernel resolved at open time, never a group that reused its pid
meanwhile.  Its first entry must be the leader, as snapshot.group requires.

Each batch of threads comes with the CLOCK_BOOTTIME second it was read at
(a thread's start time counts from boot: the two compare), so that the
rate of a thread is taken over the time between its own two reads, not
between the starts of two walks that each take a while.

The files besides ``stat`` are read whole, or up to their cap
(:data:`CAPS`); a file that cannot be read is None.  On a proc mount the C
reader reads them, two threads at a time; under a ``--proc-root`` that is
no proc mount, the Python loop below, checking each file (files.read).
The parsers of ``schedstat`` and ``sched`` are here, ``status``'s in
task.py.

:meth:`Group.numbers` is the reading top makes of every thread at every
refresh: ``stat`` and ``schedstat`` as one flat tuple of numbers each
(:data:`NUMBERS` names its places), no object per thread: the C reader
parses both when they are in the kernel's form, and :func:`numbers`, over
task.parse_stat, reads any other line (and every line when the C reader
is not used); tests hold the two to the same answers.
"""

from __future__ import annotations

import os
import time

from tidscope.numeric import kernel_ints
from tidscope.proc.files import CHUNK, DIRECTORY, STATUS_MAX, passable, read, read_all
from tidscope.proc.root import is_proc_mount
from tidscope.proc.task import Task, parse_stat

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

    Raw = tuple[bytes | None, ...]
    Batch = tuple[float, list[tuple[Task, Raw]]]
    Numbers = tuple[Any, ...]  # see NUMBERS

try:  # the C reader
    from tidscope.proc import _procread
except ImportError:  # pragma: no cover - a build without it
    _procread = None  # type: ignore[assignment]

SCHEDSTAT = "schedstat"  # run ns, wait ns, times run: did it run at all?
STATUS = "status"  # voluntary and involuntary context switches
SCHED = "sched"  # se.nr_migrations (the scheduler's debug file)
WCHAN = "wchan"  # where it sleeps
CAPS = {SCHEDSTAT: 256, STATUS: STATUS_MAX, SCHED: 16 * 1024, WCHAN: CHUNK}
WCHAN_MAX = 63  # as procps (and proc/taskfiles.py) keep a symbol

# The places of a thread's tuple in the numbers form (Group.numbers): stat's
# fields (proc(5): minflt 10, majflt 12, utime 14, stime 15, nice 19,
# starttime 22, processor 39, rt_priority 40, policy 41; lcpu and policy None
# where the line stops before them), the owner of its directory (None unless
# asked), and schedstat's ns on a CPU and times run (None, None unreadable).
NUMBERS = (
    "tid",
    "start",
    "name",
    "state",
    "minflt",
    "majflt",
    "utime",
    "stime",
    "nice",
    "lcpu",
    "rtprio",
    "policy",
    "uid",
    "run_ns",
    "runs",
)


def boottime() -> float:
    """Seconds since boot, as start times count them (CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _kernel_stat(data: bytes, tid: int, tgid: int) -> Task | None:
    return parse_stat(data, tid, tgid, False)


def _int(task: Task, field: int) -> int:
    try:
        return int(task.field(field))
    except ValueError:
        return 0


def numbers(
    data: bytes, tid: int, tgid: int, uid: int | None, sched: bytes | None, check: bool = False
) -> Numbers | None:
    """One thread's tuple in the numbers form (:data:`NUMBERS`) from its
    ``stat`` line and its ``schedstat`` (None: unread), or None if the
    line is no task's (task.parse_stat)."""
    task = parse_stat(data, tid, tgid, check)
    if task is None:
        return None
    ran = schedstat(sched)
    lcpu, policy = task.field(39), task.field(41)
    return (
        tid,
        task.start_ticks,
        task.name,
        task.state,
        _int(task, 10),
        _int(task, 12),
        _int(task, 14),
        _int(task, 15),
        _int(task, 19),
        _int(task, 39) if lcpu else None,
        _int(task, 40),
        _int(task, 41) if policy else None,
        uid,
        ran[0] if ran else None,
        ran[1] if ran else None,
    )


class Group:
    """Thread group ``tgid``'s ``task/`` directory, held open until
    :meth:`close`; ``fd`` is None if the group is gone (or hidden)."""

    def __init__(self, tgid: int, root: str) -> None:
        self.tgid = tgid
        self.root = root
        self.check = not is_proc_mount(root)
        self.fd: int | None
        try:
            self.fd = os.open(f"{root}/{tgid}/task", DIRECTORY)
        except OSError as err:
            if not passable(err):
                raise
            self.fd = None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def batches(
        self, names: Sequence[str], ids: Sequence[int] | None = None, want_uid: bool = False
    ) -> Iterator[Batch]:
        """The threads ``ids`` (every one, listed now, if None), each with
        the files ``names`` (keys of :data:`CAPS`) as bytes or None, in
        batches, each with the second it was read at."""
        fd = self.fd
        if fd is None:
            return
        if _procread is not None and not self.check:
            walk = self._walk(ids, want_uid, Task, _kernel_stat, names)
            for batch in walk:
                when = boottime()
                if names:
                    yield when, batch
                else:
                    yield when, [(task, ()) for task in batch]
            return
        yield from self._checked(names, ids, want_uid)

    def numbers(
        self, ids: Sequence[int] | None = None, want_uid: bool = False
    ) -> Iterator[tuple[float, list[Numbers]]]:
        """The threads ``ids`` (every one, listed now, if None), each as a
        tuple in the numbers form (:data:`NUMBERS`: its ``stat`` and
        ``schedstat``, and its directory's owner if ``want_uid``), in
        batches, each with the second it was read at."""
        fd = self.fd
        if fd is None:
            return
        if _procread is None or self.check:
            yield from self._checked_numbers(ids, want_uid)
            return
        for batch in self._walk(ids, want_uid, None, numbers, (SCHEDSTAT,), numbers=True):
            yield boottime(), batch

    def _walk(
        self,
        ids: Sequence[int] | None,
        want_uid: bool,
        make: Callable[..., Any] | None,
        parse: Callable[..., Any],
        names: Sequence[str],
        numbers: bool = False,
    ) -> Iterator[list[Any]]:
        """The C reader's batches of this group's threads ``ids`` (nothing
        if the group is gone), each thread's leader read from its own
        directory."""
        assert _procread is not None and self.fd is not None
        caps = tuple(CAPS[n] for n in names)
        try:
            walk = _procread.Walk(
                self.fd, ids, self.tgid, want_uid, make, parse, tuple(names), caps,
                leader_own=True, numbers=numbers,
            )  # fmt: skip
        except OSError as err:  # listing: the group is gone, or ours ran out
            if passable(err):
                return
            raise
        try:
            yield from walk
        finally:
            del walk  # its helper thread reads through fd: joined first

    def _checked(
        self, names: Sequence[str], ids: Sequence[int] | None, want_uid: bool
    ) -> Iterator[Batch]:
        """What :meth:`batches` gives, read in Python with every file checked."""
        found: list[tuple[Task, Raw]] = []
        for tid, where, data in self._stats(ids):
            task = parse_stat(data, tid, self.tgid, self.check)
            if task is None:
                continue
            if want_uid:
                task.uid = self._owner(where)
                if task.uid is None:
                    continue
            found.append((task, self._files(where, names)))
        yield boottime(), found

    def _checked_numbers(
        self, ids: Sequence[int] | None, want_uid: bool
    ) -> Iterator[tuple[float, list[Numbers]]]:
        """What :meth:`numbers` gives, read in Python with every file checked."""
        found: list[Numbers] = []
        for tid, where, data in self._stats(ids):
            uid = self._owner(where) if want_uid else None
            if want_uid and uid is None:
                continue
            sched = self._files(where, (SCHEDSTAT,))[0]
            got = numbers(data, tid, self.tgid, uid, sched, self.check)
            if got is not None:
                found.append(got)
        yield boottime(), found

    def _stats(self, ids: Sequence[int] | None) -> Iterator[tuple[int, str, bytes]]:
        """(tid, its directory's name, its ``stat``) of each of ``ids``
        (every one listed now if None) whose ``stat`` could be read."""
        from tidscope.numeric import entry_ids

        fd = self.fd
        assert fd is not None
        if ids is None:
            try:
                os.lseek(fd, 0, os.SEEK_SET)  # listed again at each reading: from its start
                names_listed = os.listdir(fd)
            except OSError as err:
                if passable(err):
                    return
                raise
            if not names_listed or names_listed[0] != str(self.tgid):
                return
            ids = [i for i in entry_ids(names_listed) if i is not None]
        for tid in ids:
            where = str(tid)
            data = read(f"{where}/stat", fd, self.check)
            if data is not None:
                yield tid, where, data

    def _owner(self, where: str) -> int | None:
        """The owner of task directory ``where``; None if it is gone (or hidden)."""
        try:
            return os.stat(where, dir_fd=self.fd).st_uid
        except OSError as err:
            if not passable(err):
                raise
            return None

    def _files(self, where: str, names: Sequence[str]) -> Raw:
        return tuple(read_all(f"{where}/{n}", self.fd, CAPS[n], self.check) for n in names)


def group_ids(root: str) -> list[int]:
    """Every thread group's id under ``root`` (snapshot.pid_names: raises
    if ``root`` shows none)."""
    from tidscope.proc.snapshot import pid_names

    return [int(name) for name in pid_names(root)]


# -- the files' numbers ------------------------------------------------------------------


def schedstat(data: bytes | None) -> tuple[int, int] | None:
    """(ns on a CPU, times run) from ``schedstat``, or None if it is not
    the kernel's three numbers."""
    if data is None:
        return None
    values = kernel_ints(*data.split())
    if values is None or len(values) != 3:
        return None
    return values[0], values[2]


def sched_number(data: bytes | None, key: bytes) -> int | None:
    """The number of line ``key`` of a ``sched`` file (``se.nr_migrations
    :  12``), or None if there is none or it is no plain number."""
    if data is None:
        return None
    at = data.find(b"\n" + key + b" ")
    if at < 0:
        return None
    line = data[at + 1 : data.find(b"\n", at + 1) if data.find(b"\n", at + 1) > 0 else None]
    _, sep, value = line.partition(b":")
    values = kernel_ints(value.strip()) if sep else None
    return values[0] if values and len(values) == 1 else None


def wchan(data: bytes | None) -> str | None:
    """Where a thread sleeps, from ``wchan``: None if it runs (``0``), or
    if the file could not be read."""
    if data is None:
        return None
    name = data[:WCHAN_MAX].strip(b"\0\n ")
    if not name or name == b"0":
        return None
    return name.decode("utf-8", "surrogateescape")
