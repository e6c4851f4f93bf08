"""Walking /proc: every process, or every task of every thread group.

A task's tgid is the directory it was found under.  That directory is held
open while its tasks are read, which pins the thread group the kernel
resolved at open time: if the pid dies and is reused meanwhile, reads fail
instead of describing some other group's threads.  The kernel lists a
group's leader first in ``task/``, so a directory whose first task is not
itself names no thread group (a pid reused by a thread, or a tid given as a
pid) and yields nothing.

Records are yielded one at a time; only the files the caller's ``want``
names are read beyond ``stat``.  An entry that cannot be read, or does not
hold what the kernel writes there, is left out like a vanished task; when
that leaves nothing at all, :func:`why_nothing` says what was wrong.
"""

from __future__ import annotations

import errno
import os
from stat import S_ISREG

from tidscope.errors import TidscopeError, describe, remedy
from tidscope.numeric import entry_id, entry_ids
from tidscope.proc import files
from tidscope.proc.files import (
    CHUNK,
    CMDLINE_MAX,
    DIRECTORY,
    PROC,
    STATUS_MAX,
    Unread,
    kind,
    listing,
    opened,
    passable,
    read,
    read_all,
    stat_of,
)
from tidscope.proc.root import is_proc_mount
from tidscope.proc.task import Task, parse_cmdline, parse_stat, parse_status, tgid_of

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator
    from typing import Any

try:  # the C reader: the same tasks as the Python loops here, faster
    from tidscope.proc import _procread
except ImportError:  # pragma: no cover - a build without it
    _procread = None  # type: ignore[assignment]

UID = "uid"  # owner of the task's /proc directory: one stat(2)
STATUS = "status"  # Tgid, NSpid, NStgid, TracerPid, Threads, uids
CMDLINE = "cmdline"
EXTRAS = frozenset({UID, STATUS, CMDLINE})
NOTHING: frozenset[str] = frozenset()


def pid_names(root: str = PROC) -> list[str]:
    """The numeric entries of ``root``: one per thread group, ascending."""
    names = listing(root, raises=files.NOTHING)
    if isinstance(names, Unread):
        fix = remedy(names.errno) or "point --proc-root at a proc mount"
        raise TidscopeError(f"cannot list {root}: {describe(names.errno)}: {fix}")
    ids = sorted(i for i in map(entry_id, names) if i is not None)
    if not ids:  # a proc mount of our PID namespace shows at least ourselves
        raise TidscopeError(
            f"no processes are visible in {root}: point --proc-root at a proc mount"
        )
    return [str(i) for i in ids]


def _extras(task: Task, where: str, dir_fd: int | None, want: Collection[str], check: bool) -> bool:
    """Read what ``want`` asks for; False if the task vanished meanwhile."""
    if UID in want:
        try:
            task.uid = os.stat(where, dir_fd=dir_fd).st_uid
        except OSError as err:
            if passable(err):
                return False
            raise
    if STATUS in want:
        data = read_all(f"{where}/status", dir_fd, STATUS_MAX, check)
        task.status = parse_status(data, check) if data is not None else None
    if CMDLINE in want:
        data = read_all(f"{where}/cmdline", dir_fd, CMDLINE_MAX, check)
        task.cmdline = parse_cmdline(data) if data is not None else None
    if not EXTRAS.issuperset(want):  # wchan, cgroup, ns/*...: taskfiles.py
        from tidscope.proc import taskfiles  # imported by the columns that need it

        taskfiles.read_into(task, where, dir_fd, want, check)
    return True


def _process(name: str, root: str, want: Collection[str], check: bool) -> Task | None:
    where = f"{root}/{name}"
    data = read(f"{where}/stat", None, check)
    if data is None:
        return None
    pid = int(name)  # a name pid_names or we made
    task = parse_stat(data, pid, pid, check)
    if task is None or (want and not _extras(task, where, None, want, check)):
        return None
    return task


def processes(root: str = PROC, want: Collection[str] = NOTHING) -> Iterator[Task]:
    """Every process, from ``/proc/<pid>/stat``: process-wide times, the leader's name."""
    names = pid_names(root)
    check = not is_proc_mount(root)
    if _procread is not None and not check:
        yield from _fast(root, [int(name) for name in names], 0, want)
        return
    for name in names:
        task = _process(name, root, want, check)
        if task is not None:
            yield task


def process(pid: int, root: str = PROC, want: Collection[str] = NOTHING) -> Task | None:
    """Process ``pid``, or None if no thread group has that id."""
    if tgid_of(pid, root) != pid:
        return None
    return _process(str(pid), root, want, not is_proc_mount(root))


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
    check = not is_proc_mount(root)
    try:
        task_fd = os.open(f"{root}/{name}/task", DIRECTORY)
    except OSError as err:
        if passable(err):
            return
        raise
    try:
        if _procread is not None and not check and only is None:
            # the C reader lists the directory too, and checks its leader
            yield from _fast(task_fd, None, int(name), want, f"{root}/{name}/task")
            return
        try:
            tids = os.listdir(task_fd)
        except OSError as err:
            if passable(err):
                return
            raise
        if not tids or tids[0] != name:
            return
        pid = int(name)
        if _procread is not None and not check:
            wanted = [i for i in map(int, tids) if only is None or i in only]
            yield from _fast(task_fd, wanted, pid, want, f"{root}/{name}/task")
            return
        # a proc mount's names are the kernel's own plain ids (see procfs.parse_stat)
        ids = entry_ids(tids) if check else map(int, tids)
        for tid, ident in zip(tids, ids, strict=True):
            if ident is None or (only is not None and ident not in only):
                continue
            # As procps: the leader's row is its process's (process-wide times).
            where = ".." if tid == name else tid
            try:
                data = read(f"{where}/stat", task_fd, check)
                if data is None:
                    continue
                task = parse_stat(data, ident, pid, check)
                if task is None or (want and not _extras(task, where, task_fd, want, check)):
                    continue
            except OSError as err:
                raise _rooted(err, f"{root}/{name}/task") from None
            yield task
    finally:
        os.close(task_fd)


def _kernel_stat(data: bytes, tid: int, tgid: int) -> Task | None:
    return parse_stat(data, tid, tgid, False)


def _status(task: Task, data: bytes | None) -> None:
    task.status = parse_status(data, False) if data is not None else None


def _cmdline(task: Task, data: bytes | None) -> None:
    task.cmdline = parse_cmdline(data) if data is not None else None


def _into_extra(name: str, keep: int | None = None) -> Callable[[Task, bytes | None], None]:
    """What stores file ``name`` in ``task.extra``, its first ``keep``
    bytes if given (as taskfiles' own reader keeps them)."""

    def store(task: Task, data: bytes | None) -> None:
        if task.extra is None:
            task.extra = {}
        task.extra[name] = data if data is None or keep is None else data[:keep]

    return store


# The wants whose file the C reader reads with the stat file (our own
# process's status included, read when no helper thread adds to its count):
# want -> (file, most bytes read, what stores it in the task); taskfiles'
# (wchan, cgroup) join them the first time one is wanted (_preread)
_PREREAD: dict[str, tuple[str, int, Callable[[Task, bytes | None], None]]] = {
    STATUS: ("status", STATUS_MAX, _status),
    CMDLINE: ("cmdline", CMDLINE_MAX, _cmdline),
}


def _preread(want: Collection[str]) -> dict[str, Any]:
    """:data:`_PREREAD`, with taskfiles' once ``want`` names a file beyond
    :data:`EXTRAS` (taskfiles is imported only then)."""
    if len(_PREREAD) == 2 and not EXTRAS.issuperset(want):
        from tidscope.proc.taskfiles import CGROUP, CGROUP_MAX, WCHAN, WCHAN_MAX

        _PREREAD[WCHAN] = (WCHAN, CHUNK, _into_extra(WCHAN, WCHAN_MAX))
        _PREREAD[CGROUP] = (CGROUP, CGROUP_MAX, _into_extra(CGROUP))
    return _PREREAD


def _fast(
    where: str | int,
    ids: list[int] | None,
    tgid: int,
    want: Collection[str],
    label: str | None = None,
) -> Iterator[Task]:
    """The tasks ``ids`` under ``where`` (a proc mount's root, ``tgid`` 0,
    or group ``tgid``'s open ``task/`` directory, ``label`` its path, which
    the reader lists when ``ids`` is None), read by the C reader in
    batches, with the files of ``want`` it can read: the same tasks, in the
    same order, as the loops above give.  A read that fails for a reason
    no task gives (EIO...) is raised, naming its file."""
    assert _procread is not None
    preread = _preread(want)
    pre = [w for w in want if w in preread]
    rest = [w for w in want if w != UID and w not in preread]
    files = tuple(preread[w][0] for w in pre)
    caps = tuple(preread[w][1] for w in pre)
    stores = [preread[w][2] for w in pre]
    fd = os.open(where, DIRECTORY) if isinstance(where, str) else where
    try:
        try:
            walk = _procread.Walk(fd, ids, tgid, UID in want, Task, _kernel_stat, files, caps)
        except OSError as err:  # listing the directory: the group is gone, or ours ran out
            if passable(err):
                return
            raise
        try:
            for batch in _named(walk, label or str(where)):
                for found in batch:
                    if files:
                        task, raw = found
                        for store, data in zip(stores, raw, strict=True):
                            store(task, data)
                    else:
                        task = found
                    place = ".." if task.tid == tgid else str(task.tid)
                    try:
                        if rest and not _extras(task, place, fd, rest, False):
                            continue
                    except OSError as err:
                        raise _rooted(err, label or str(where)) from None
                    yield task
        finally:
            # Its helper thread reads through fd: joined (by dropping the
            # walk) before fd closes, here or in group(), even when an
            # exception's traceback keeps this frame alive.
            del walk
    finally:
        if isinstance(where, str):
            os.close(fd)


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


def why_nothing(root: str = PROC, threads: bool = False) -> str:
    """Why a walk of ``root`` (of every thread, if ``threads``) showed no
    task at all, as one line: what was wrong with its entries, and the fix.
    Called only then, so the walk itself counts nothing."""
    names = pid_names(root)  # raises if no entry even looks like a process
    found: dict[str, list[str]] = {}
    for name in names:
        problem = unreadable(root, name, threads)
        if problem is not None:
            found.setdefault(problem[1], []).append(problem[0])
    if not found:
        return f"every process in {root} vanished while it was read: run again"
    parts = [
        f"{paths[0]} {what}" + (f" (and {len(paths) - 1} more)" if len(paths) > 1 else "")
        for what, paths in sorted(found.items(), key=lambda item: -len(item[1]))
    ]
    limits = [
        remedy(code)
        for code in (errno.EMFILE, errno.ENFILE, errno.ENOMEM)
        if any(errno.errorcode[code] in what for what in found)
    ]
    if limits:
        fix = str(limits[0])
    elif not is_proc_mount(root):
        fix = "point --proc-root at a proc mount"
    elif all("EACCES" in what or "EPERM" in what for what in found):
        fix = "run as root, or as the owner, to look into other users' processes"
    else:
        fix = "run again"
    shown = "; ".join(parts[:3]) + ("; ..." if len(parts) > 3 else "")
    return f"no task in {root} could be read ({len(names)} entries): {shown}: {fix}"


def unreadable(root: str, name: str, threads: bool = False) -> tuple[str, str] | None:
    """(path, what is wrong with it) for the first file of process ``name``
    a walk could not use, or None if it can be read now."""
    where = f"{root}/{name}"
    if threads:
        tids = listing(f"{where}/task", raises=files.NOTHING)
        if isinstance(tids, Unread):
            return f"{where}/task", _failure(tids)
        if not tids or tids[0] != name:
            return f"{where}/task", f"does not list its leader {name} first"
    path = f"{where}/stat"
    st = stat_of(path, raises=files.NOTHING)  # no open yet: a FIFO is named as one
    if isinstance(st, Unread):
        return path, _failure(st)
    if not S_ISREG(st.st_mode):
        return path, f"is {kind(st.st_mode)}"
    fd = opened(path, raises=files.NOTHING)
    if isinstance(fd, Unread):
        return path, _failure(fd)
    os.close(fd)
    data = read(path)
    if data is None:
        return path, "could not be read"
    if parse_stat(data, 1, 1) is None:
        return path, "is not a stat line"
    return None


def _failure(unread: Unread) -> str:
    return "is missing" if unread.errno == errno.ENOENT else f"cannot be read ({unread.why})"


def _named(walk: Iterable[list[Any]], base: str) -> Iterator[list[Any]]:
    """The walk's batches; its failure names its file under ``base`` (the
    C reader names it relative to the directory it reads)."""
    batches = iter(walk)
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except OSError as err:
            raise _rooted(err, base) from None
        yield batch


def _rooted(err: OSError, base: str) -> OSError:
    """``err`` naming its file by its whole path: a name relative to the
    directory ``base`` read (``../stat``, a leader's own file from its
    group's ``task/``) joined to it and made plain (``/proc/17/stat``)."""
    if err.filename and not str(err.filename).startswith("/"):
        path = os.path.normpath(f"{base}/{err.filename}")
        return OSError(err.errno, err.strerror, path)
    return err
