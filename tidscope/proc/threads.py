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
status.py.
"""

from __future__ import annotations

import os
import time

from tidscope.numeric import kernel_ints
from tidscope.proc.files import CHUNK, DIRECTORY, STATUS_MAX, passable, read, read_all
from tidscope.proc.mounts import is_proc_mount
from tidscope.proc.task import Task, parse_stat

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    Raw = tuple[bytes | None, ...]
    Batch = tuple[float, list[tuple[Task, Raw]]]

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


def boottime() -> float:
    """Seconds since boot, as start times count them (CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def _kernel_stat(data: bytes, tid: int, tgid: int) -> Task | None:
    return parse_stat(data, tid, tgid, False)


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
            caps = tuple(CAPS[n] for n in names)
            try:
                walk = _procread.Walk(
                    fd,
                    ids,
                    self.tgid,
                    want_uid,
                    Task,
                    _kernel_stat,
                    tuple(names),
                    caps,
                    leader_own=True,
                )
            except OSError as err:  # listing: the group is gone, or ours ran out
                if passable(err):
                    return
                raise
            try:
                for batch in walk:
                    when = boottime()
                    if names:
                        yield when, batch
                    else:
                        yield when, [(task, ()) for task in batch]
            finally:
                del walk  # its helper thread reads through fd: joined first
            return
        yield from self._checked(names, ids, want_uid)

    def _checked(
        self, names: Sequence[str], ids: Sequence[int] | None, want_uid: bool
    ) -> Iterator[Batch]:
        """What :meth:`batches` gives, read in Python with every file checked."""
        from tidscope.numeric import entry_ids

        fd = self.fd
        assert fd is not None
        if ids is None:
            try:
                names_listed = os.listdir(fd)
            except OSError as err:
                if passable(err):
                    return
                raise
            if not names_listed or names_listed[0] != str(self.tgid):
                return
            ids = [i for i in entry_ids(names_listed) if i is not None]
        found: list[tuple[Task, Raw]] = []
        for tid in ids:
            where = str(tid)
            data = read(f"{where}/stat", fd, self.check)
            task = parse_stat(data, tid, self.tgid, self.check) if data is not None else None
            if task is None:
                continue
            if want_uid:
                try:
                    task.uid = os.stat(where, dir_fd=fd).st_uid
                except OSError as err:
                    if not passable(err):
                        raise
                    continue
            raw = tuple(read_all(f"{where}/{n}", fd, CAPS[n], self.check) for n in names)
            found.append((task, raw))
        yield boottime(), found


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
