"""Walking /proc: every process, or every task of every thread group.

A task's tgid is the directory it was found under.  That directory is held
open while its tasks are read, which pins the thread group the kernel
resolved at open time: if the pid dies and is reused meanwhile, reads fail
instead of describing some other group's threads.  The kernel lists a
group's leader first in ``task/``, so a directory whose first task is not
itself names no thread group (a pid reused by a thread, or a tid given as a
pid) and yields nothing.

Records are yielded one at a time; only the files the caller's ``want``
names are read beyond ``stat``.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Iterator

from tidscope.errors import TidscopeError
from tidscope.procfs import (
    DIRECTORY,
    GONE,
    PROC,
    Task,
    parse_cmdline,
    parse_stat,
    parse_status,
    read,
    read_all,
    tgid_of,
)

UID = "uid"  # owner of the task's /proc directory: one stat(2)
STATUS = "status"  # Tgid, NSpid, NStgid, TracerPid, Threads, uids
CMDLINE = "cmdline"
EXTRAS = frozenset({UID, STATUS, CMDLINE})
NOTHING: frozenset[str] = frozenset()


def pid_names(root: str = PROC) -> list[str]:
    """The numeric entries of ``root``: one per thread group, ascending."""
    try:
        names = os.listdir(root)
    except OSError as err:
        raise TidscopeError(
            f"cannot list {root}: {err.strerror}: point --proc-root at a proc mount"
        ) from None
    pids = sorted((n for n in names if n.isdigit()), key=int)
    if not pids:  # a proc mount of our PID namespace shows at least ourselves
        raise TidscopeError(
            f"no processes are visible in {root}: point --proc-root at a proc mount"
        )
    return pids


def _extras(task: Task, where: str, dir_fd: int | None, want: Collection[str]) -> bool:
    """Read what ``want`` asks for; False if the task vanished meanwhile."""
    if UID in want:
        try:
            task.uid = os.stat(where, dir_fd=dir_fd).st_uid
        except GONE:
            return False
    if STATUS in want:
        data = read_all(f"{where}/status", dir_fd)
        task.status = parse_status(data) if data is not None else None
    if CMDLINE in want:
        data = read_all(f"{where}/cmdline", dir_fd)
        task.cmdline = parse_cmdline(data) if data is not None else None
    return True


def _process(name: str, root: str, want: Collection[str]) -> Task | None:
    where = f"{root}/{name}"
    data = read(f"{where}/stat")
    if data is None:
        return None
    pid = int(name)
    task = parse_stat(data, pid, pid)
    if task is None or (want and not _extras(task, where, None, want)):
        return None
    return task


def processes(root: str = PROC, want: Collection[str] = NOTHING) -> Iterator[Task]:
    """Every process, from ``/proc/<pid>/stat``: process-wide times, the leader's name."""
    for name in pid_names(root):
        task = _process(name, root, want)
        if task is not None:
            yield task


def process(pid: int, root: str = PROC, want: Collection[str] = NOTHING) -> Task | None:
    """Process ``pid``, or None if no thread group has that id."""
    if tgid_of(pid, root) != pid:
        return None
    return _process(str(pid), root, want)


def group(
    tgid: int | str,
    root: str = PROC,
    want: Collection[str] = NOTHING,
    only: Collection[int] | None = None,
) -> Iterator[Task]:
    """The tasks of thread group ``tgid`` (those in ``only``, if given), leader first.

    The leader is read from the group's own directory, as procps reads it:
    its times are the whole process's.
    """
    name = str(tgid)
    try:
        task_fd = os.open(f"{root}/{name}/task", DIRECTORY)
    except GONE:
        return
    try:
        try:
            tids = os.listdir(task_fd)
        except GONE:
            return
        if not tids or tids[0] != name:
            return
        pid = int(name)
        for tid in tids:
            if only is not None and int(tid) not in only:
                continue
            # As procps: the leader's row is its process's (process-wide times).
            where = ".." if tid == name else tid
            data = read(f"{where}/stat", task_fd)
            if data is None:
                continue
            task = parse_stat(data, int(tid), pid)
            if task is None or (want and not _extras(task, where, task_fd, want)):
                continue
            yield task
    finally:
        os.close(task_fd)


def tasks(root: str = PROC, want: Collection[str] = NOTHING) -> Iterator[Task]:
    """Every task of every thread group (leaders as in :func:`group`)."""
    for name in pid_names(root):
        yield from group(name, root, want)


def selected(
    pids: Iterable[int] = (),
    tids: Iterable[int] = (),
    root: str = PROC,
    want: Collection[str] = NOTHING,
) -> Iterator[Task]:
    """All tasks of the groups in ``pids`` plus the tasks ``tids``, each once,
    in /proc order (ascending tgid, then the kernel's task order)."""
    whole = set(pids)
    some: dict[int, set[int]] = {}
    for tid in set(tids):
        tgid = tgid_of(tid, root)
        if tgid is not None and tgid not in whole:
            some.setdefault(tgid, set()).add(tid)
    for tgid in sorted(whole | some.keys()):
        yield from group(tgid, root, want, None if tgid in whole else some[tgid])
