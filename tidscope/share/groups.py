"""What tasks share, observed: kcmp(2) groups for six resources, and
namespace groups from ``/proc/TID/ns/*``.

Rules this module keeps:

- Each resource's tasks are sorted with kcmp(2) as the comparator, which is
  O(n log n) calls; the tasks come in /proc order, each thread group's tasks
  together, so Timsort's runs make a group of equal tasks cost about one
  call a task.  One pass over the sorted neighbours then checks the order
  with the answers of that moment and cuts it into groups of equal tasks.
- A NULL pointer is equal to every NULL pointer (see kcmp.py), so tasks
  without the object would look as if they shared it.  A zombie child of
  ours has released its mm, files, fs, I/O context and undo list; it is
  sorted with the tasks, and the tasks equal to it form group 0, "none":
  observed for each resource, never assumed.
- kcmp needs PTRACE_MODE_READ_REALCREDS over both tasks: each task is
  checked alone first, kcmp(t, t).  EPERM makes it not comparable, with the
  reason and what /proc shows about its credentials; ESRCH, gone.  A kernel
  without kcmp (ENOSYS) is one error, :class:`NoKcmp`.
- Races are control flow.  A call that fails during a sort (ESRCH: a task
  exited; EPERM: it changed credentials) ends that sort; each of the two
  tasks is checked alone, the one that fails is dropped from every
  resource, every other task is checked once more, and the resource is
  sorted again without those that failed.  A neighbour found out of order
  (a pid reused during the sort) sorts it again.  At the end a task that is
  gone, or whose start time changed (its pid was reused), is dropped: the
  groups of the others never depended on it.
- A namespace is the (st_dev, st_ino) of the task's ``ns/<type>`` link:
  readlink(2) names the inode, and one stat(2) per namespace found gives
  both.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cmp_to_key

from tidscope.core.kcmp import KCMP, NR
from tidscope.core.syscalls import by_number
from tidscope.errors import TidscopeError
from tidscope.proc import files, snapshot
from tidscope.proc import status as proc_status
from tidscope.proc import task as proc_task
from tidscope.proc.files import PROC
from tidscope.proc.task import Task
from tidscope.proc.unread import Unread

RESOURCES = tuple(KCMP)  # VM FILES FS SIGHAND IO SYSVSEM
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
NONE = 0  # the group of the tasks that have no such object
MAX_SORTS = 50  # sorts of one resource before the churn is reported instead
WALL = 0x40000000  # __WALL: our zombie has no exit signal

Syscall = Callable[..., int]


class NoKcmp(TidscopeError):
    """The kernel answers kcmp(2) with ENOSYS."""

    def __init__(self) -> None:
        super().__init__(
            "this kernel has no kcmp(2) (ENOSYS: built without CONFIG_KCMP, or a seccomp"
            " filter refuses it): what tasks share cannot be observed here"
        )


@dataclass(frozen=True)
class Call:
    """One kcmp(2) call: 0 the same object, 1 pid1's is less, 2 greater, or -errno."""

    pid1: int
    pid2: int
    resource: str
    result: int


@dataclass
class Sharing:
    """What was observed.  ``tasks`` are the rows, in /proc order; group
    numbers count from 1 in that order, one count per resource or namespace
    type, and NONE (0) is "no such object"; a task missing from a resource's
    map could not be compared (``refused`` says why)."""

    tasks: list[Task]
    groups: dict[str, dict[int, int]]  # resource -> tid -> group
    namespaces: dict[str, dict[int, int]]  # type -> tid -> group
    inodes: dict[str, dict[int, tuple[int, int]]]  # type -> group -> (st_dev, st_ino) by stat(2)
    ours: dict[str, int]  # type -> the group tidscope itself is in (if a row is in it)
    refused: dict[int, str]  # tid -> why kcmp cannot compare it
    ns_refused: dict[int, str]  # tid -> why its namespaces could not be read
    unavailable: dict[str, str]  # resource or type -> why this kernel shows none
    gone: int  # tasks that exited (or were replaced) while observed
    calls: dict[str, int]  # kcmp calls by resource; "access": kcmp(t, t) of each task first
    sorts: dict[str, int]  # sorts per resource: 1 unless a race forced another
    log: list[Call] | None = field(default=None)
    tgids: dict[int, int] = field(default_factory=dict)  # tid -> tgid, for spread()
    spreads: dict[str, dict[int, dict[int, int]]] = field(default_factory=dict)


class _Failed(Exception):
    """A kcmp call failed during a sort: which tasks, which errno."""

    def __init__(self, a: int, b: int, err: int) -> None:
        super().__init__(a, b, err)
        self.a, self.b, self.err = a, b, err


class _Disorder(Exception):
    """Neighbours out of order: answers changed during the sort."""


class _Kcmp:
    """kcmp(2) calls, counted, and logged for --explain."""

    def __init__(self, syscall: Syscall, explain: bool) -> None:
        self.syscall = syscall
        self.calls: dict[str, int] = {}
        self.log: list[Call] | None = [] if explain else None

    def one(self, a: int, b: int, resource: str, counted: str) -> int:
        """One call outside a sort, counted under ``counted``: 0, 1, 2, or -errno."""
        self.calls[counted] = self.calls.get(counted, 0) + 1
        try:
            result = self.syscall(NR, a, b, KCMP[resource], 0, 0)
        except OSError as err:
            result = -(err.errno or errno.EIO)
        if self.log is not None:
            self.log.append(Call(a, b, resource, result))
        if result == -errno.ENOSYS:
            raise NoKcmp
        return result

    def comparator(self, resource: str) -> Callable[[int, int], int]:
        """A cmp function for sorted(); a failure raises :class:`_Failed`."""
        call, kind, order, count = self.syscall, KCMP[resource], (0, -1, 1), [0]
        log = self.log

        def cmp(a: int, b: int) -> int:
            count[0] += 1
            try:
                result = call(NR, a, b, kind, 0, 0)
            except OSError as err:
                if log is not None:
                    log.append(Call(a, b, resource, -(err.errno or 0)))
                raise _Failed(a, b, err.errno or errno.EIO) from None
            if log is not None:
                log.append(Call(a, b, resource, result))
            return order[result]

        cmp.count = count  # type: ignore[attr-defined]
        return cmp

    def add(self, resource: str, cmp: Callable[[int, int], int]) -> None:
        count: list[int] = cmp.count  # type: ignore[attr-defined]
        self.calls[resource] = self.calls.get(resource, 0) + count[0]
        count[0] = 0


@contextmanager
def reference_zombie() -> Iterator[int]:
    """A child of ours that has exited and is not reaped yet: every object
    kcmp compares, but its signal handlers, is NULL in it.  No exit signal,
    so that a SIGCHLD ignored by whoever started us cannot reap it early."""
    from tidscope.core.clone import Children

    try:
        child = Children(1, 0, program=(), park=False).__enter__()
    except TidscopeError as err:
        raise TidscopeError(f"cannot make the reference zombie kcmp needs: {err.message}") from None
    with child:
        tid = child.report(0).tid
        os.waitid(os.P_PID, tid, os.WEXITED | os.WNOWAIT | WALL)
        yield tid


def walk(pids: Sequence[int] | None, root: str = PROC) -> list[Task]:
    """Every task (``pids`` None), or the tasks of the thread groups of
    ``pids`` (a thread's id stands for its group) and of their parents:
    a process is compared with its parent.  A pid that is no task is a
    TidscopeError naming it."""
    if pids is None:
        return list(snapshot.tasks(root))
    tgids: list[int] = []
    missing = []
    for pid in pids:
        tgid = proc_task.tgid_of(pid, root)
        if tgid is None:
            missing.append(pid)
        elif tgid not in tgids:
            tgids.append(tgid)
    if missing:
        names = ", ".join(str(p) for p in missing)
        raise TidscopeError(
            f"no task {names}: it has exited, or was never there (see tidscope ps -AT)"
        )
    return groups_of(tgids, root, parents=True)


def groups_of(tgids: Sequence[int], root: str = PROC, parents: bool = False) -> list[Task]:
    """The tasks of ``tgids`` (and of their parents), in /proc order."""
    found: dict[int, list[Task]] = {}
    todo = list(tgids)
    while todo:
        tgid = todo.pop()
        if tgid in found:
            continue
        found[tgid] = list(snapshot.group(tgid, root))
        if parents and tgid in tgids:
            ppid = found[tgid][0].ppid if found[tgid] else 0
            if ppid > 0:
                todo.append(ppid)
    return [task for tgid in sorted(found) for task in found[tgid]]


def observe(
    tasks: list[Task],
    *,
    explain: bool = False,
    syscall: Syscall = by_number,
    rewalk: Callable[[], list[Task]] | None = None,
) -> Sharing:
    """Compare ``tasks`` for every resource and read their namespaces.

    ``rewalk`` lists the tasks again at the end (default: the same walk as
    :func:`walk`'s, of every task); ``syscall`` is the raw syscall, which a
    test may wrap to make a task exit at a chosen call."""
    k = _Kcmp(syscall, explain)
    with reference_zombie() as zombie:
        run = _Run(k, zombie, [t.tid for t in tasks])
        run.check_access({t.tid: t for t in tasks})
        sorted_groups = {r: run.resource(r) for r in RESOURCES}
    types = [t for t in NAMESPACES if _has_namespace(t)]
    ns_seen = read_namespaces([t.tid for t in tasks if t.tid not in run.gone], types)
    after = {t.tid: t.start_ticks for t in (rewalk or (lambda: list(snapshot.tasks())))()}
    gone = set(run.gone)
    for t in tasks:
        if after.get(t.tid) != t.start_ticks or ns_seen.get(t.tid) is None:
            gone.add(t.tid)
    rows = [t for t in tasks if t.tid not in gone]
    sharing = Sharing(
        tasks=rows,
        groups={},
        namespaces={},
        inodes={},
        ours={},
        refused={tid: why for tid, why in run.refused.items() if tid not in gone},
        ns_refused={},
        unavailable=run.unavailable,
        gone=len(gone),
        calls=k.calls,
        sorts=run.sorts,
        log=k.log,
    )
    for resource, found in sorted_groups.items():
        if found is not None:
            sharing.groups[resource] = _numbered(rows, found, run.refused)
    _namespace_groups(sharing, rows, ns_seen, types)
    return sharing


class _Run:
    """One observation's kcmp state: the tasks still compared, and why the
    others are not."""

    def __init__(self, k: _Kcmp, zombie: int, tids: list[int]) -> None:
        self.k = k
        self.zombie = zombie
        self.tids = tids
        self.gone: set[int] = {zombie} & set(tids)  # its pid is our zombie's now
        self.refused: dict[int, str] = {}
        self.unavailable: dict[str, str] = {}
        self.sorts: dict[str, int] = {}
        self.tasks: dict[int, Task] = {}

    def out(self, tid: int) -> bool:
        return tid in self.gone or tid in self.refused

    def check_access(self, tasks: dict[int, Task]) -> None:
        """kcmp(t, t) for each task: may we compare it at all?"""
        self.tasks = tasks
        if self.k.one(self.zombie, self.zombie, "VM", "access") < 0:
            raise TidscopeError(
                "kcmp(2) refuses even our own zombie child: nothing can be compared"
            )
        for tid in self.tids:
            if not self.out(tid):
                result = self.k.one(tid, tid, "VM", "access")
                if result < 0:
                    self.drop(tid, -result)

    def drop(self, tid: int, err: int) -> None:
        if err == errno.ESRCH:
            self.gone.add(tid)
        else:
            self.refused[tid] = refusal(self.tasks.get(tid), err)

    def resource(self, resource: str) -> tuple[list[list[int]], list[int]] | None:
        """The groups of equal tasks and group NONE, or None if this kernel
        cannot compare ``resource`` (said in ``unavailable``)."""
        z = self.zombie
        result = self.k.one(z, z, resource, resource)
        if result < 0:
            name = errno.errorcode.get(-result, str(-result))
            self.unavailable[resource] = f"kcmp KCMP_{resource} fails with {name} here"
            return None
        cmp = self.k.comparator(resource)
        try:
            for sort in range(1, MAX_SORTS + 1):
                self.sorts[resource] = sort
                try:
                    return self._groups(cmp)
                except _Failed as failed:
                    self._blame(failed, resource)
                except _Disorder:
                    pass  # the answers changed under us: sort again
        finally:
            self.k.add(resource, cmp)
        raise TidscopeError(
            f"tasks kept exiting or changing while KCMP_{resource} compared them"
            f" ({MAX_SORTS} sorts): try again, or name the processes to compare"
        )

    def _groups(self, cmp: Callable[[int, int], int]) -> tuple[list[list[int]], list[int]]:
        """Runs, sort, cut.  Each task is compared with the first task of
        the run it joins, and each run's first task with the first of its
        group, so every membership is one answer of the kernel, never a
        chain of them that a pid reused between two calls could forge."""
        runs: list[list[int]] = [[self.zombie]]
        for tid in self.tids:
            if self.out(tid):
                continue
            if cmp(runs[-1][0], tid) == 0:
                runs[-1].append(tid)
            else:
                runs.append([tid])
        heads = sorted((run[0] for run in runs), key=cmp_to_key(cmp))
        by_head = {run[0]: run for run in runs}
        groups = [list(by_head[heads[0]])]
        for tid in heads[1:]:
            c = cmp(groups[-1][0], tid)
            if c > 0:
                raise _Disorder
            if c < 0:
                groups.append([])
            groups[-1] += by_head[tid]
        (none,) = [g for g in groups if self.zombie in g]
        none.remove(self.zombie)
        return [g for g in groups if g is not none], none

    def _blame(self, failed: _Failed, resource: str) -> None:
        """Check both tasks of a failed call alone and drop the one that
        fails; then every other task, once: where one task exited during a
        sort, others usually did too (a pool of threads ending), and each
        found now is one sort fewer."""
        if failed.err == errno.ENOSYS:
            raise NoKcmp
        for tid in (failed.a, failed.b):
            result = self.k.one(tid, tid, resource, resource)
            if result < 0:
                if tid == self.zombie:
                    raise TidscopeError("our reference zombie can no longer be compared")
                self.drop(tid, -result)
        for tid in self.tids:
            if not self.out(tid):
                result = self.k.one(tid, tid, resource, resource)
                if result < 0:
                    self.drop(tid, -result)


def _numbered(
    rows: list[Task], found: tuple[list[list[int]], list[int]], refused: dict[int, str]
) -> dict[int, int]:
    """tid -> group number, counted from 1 in row order; NONE for group 0."""
    groups, none = found
    index = {tid: i for i, g in enumerate(groups) for tid in g}
    index.update(dict.fromkeys(none, -1))
    numbers: dict[int, int] = {-1: NONE}
    out = {}
    for task in rows:
        i = index.get(task.tid)
        if i is None or task.tid in refused:
            continue
        if i not in numbers:
            numbers[i] = len(numbers)
        out[task.tid] = numbers[i]
    return out


# -- namespaces -------------------------------------------------------------------

NsSeen = list[int]  # per type: the inode its link names, or -errno


def read_namespaces(tids: list[int], types: Sequence[str]) -> dict[int, NsSeen | None]:
    """Each task's namespaces, from readlink(2) of its ``ns/*`` links,
    which name the inode (``uts:[4026531838]``); None: the task is gone.
    readlink costs half a stat(2) here; :func:`_devices` then stats one
    link of each namespace found, for its (st_dev, st_ino)."""
    return {tid: _task_namespaces(tid, types) for tid in tids}


def _task_namespaces(tid: int, types: Sequence[str]) -> NsSeen | None:
    fd = files.opened(f"{PROC}/{tid}/ns", directory=True)
    if isinstance(fd, Unread):
        return None if fd.errno == errno.ENOENT else [-(fd.errno or errno.EIO)] * len(types)
    try:
        links = files.links(types, fd)
    finally:
        os.close(fd)
    read = [link for link in links if not isinstance(link, Unread)]
    if len(read) == len(types):
        with contextlib.suppress(ValueError):  # the kernel writes "type:[inode]"
            return [int(link[len(name) + 2 : -1]) for name, link in zip(types, read, strict=True)]
    return _inodes(types, links)


def _inodes(types: Sequence[str], links: Sequence[str | Unread]) -> NsSeen | None:
    """Each link's inode, or its -errno; None if the task exited (its links
    are gone)."""
    seen: NsSeen = []
    for name, link in zip(types, links, strict=True):
        if isinstance(link, Unread):
            if link.errno == errno.ENOENT:
                return None
            seen.append(-(link.errno or errno.EIO))
        else:
            seen.append(_inode(name, link))
    return seen


def _has_namespace(t: str) -> bool:
    """Whether this kernel has ``t`` namespaces: our own ``ns/<t>`` stats."""
    return not isinstance(files.stat_of(f"{PROC}/self/ns/{t}", raises=files.NOTHING), Unread)


def _inode(name: str, link: str) -> int:
    number = link.removeprefix(f"{name}:[").removesuffix("]")
    return int(number) if number.isdigit() and number.isascii() else -errno.EINVAL


def _device(t: str, inode: int, tids: Iterable[int]) -> tuple[int, int] | None:
    """(st_dev, st_ino) of namespace ``inode`` of type ``t``, from stat(2)
    of the link of the first of ``tids`` still in it."""
    for tid in tids:
        st = files.stat_of(f"{PROC}/{tid}/ns/{t}")
        if isinstance(st, Unread):
            continue
        if st.st_ino == inode:
            return st.st_dev, st.st_ino
    return None


def _namespace_groups(
    sharing: Sharing, rows: list[Task], seen: dict[int, NsSeen | None], types: Sequence[str]
) -> None:
    for t in NAMESPACES:
        if t not in types:
            sharing.unavailable[t] = f"this kernel has no {t} namespaces (no /proc/self/ns/{t})"
    mine = _task_namespaces(os.getpid(), types) or []
    tids = [task.tid for task in rows]
    lost = [-errno.ENOENT] * len(types)
    table = [seen.get(tid) or lost for tid in tids]
    for i, t in enumerate(types):
        column = [observed[i] for observed in table]
        numbers = {v: n for n, v in enumerate(dict.fromkeys(v for v in column if v >= 0), 1)}
        sharing.namespaces[t] = {
            tid: numbers[v] for tid, v in zip(tids, column, strict=True) if v >= 0
        }
        for tid, v in zip(tids, column, strict=True):
            if v < 0:
                name = errno.errorcode.get(-v, str(-v))
                sharing.ns_refused.setdefault(
                    tid,
                    f"readlink /proc/{tid}/ns/{t}: {name} (reading a namespace link"
                    " needs PTRACE_MODE_READ_FSCREDS over the task)",
                )
        inodes: dict[int, tuple[int, int]] = {}
        for inode, number in numbers.items():
            members = (tid for tid, v in zip(tids, column, strict=True) if v == inode)
            where = _device(t, inode, members)
            if where is not None:
                inodes[number] = where
            if i < len(mine) and mine[i] == inode:
                sharing.ours[t] = number
        sharing.inodes[t] = inodes


def spread(sharing: Sharing, kind: str) -> dict[int, dict[int, int]]:
    """tgid -> group -> how many of that process's tasks are in it, for a
    resource or namespace type: what the inferences and the choice of
    groups to show need, without a pass over the tasks each (computed once)."""
    found = sharing.spreads.get(kind)
    if found is not None:
        return found
    groups = sharing.groups.get(kind)
    if groups is None:
        groups = sharing.namespaces.get(kind, {})
    if not sharing.tgids:
        sharing.tgids.update((t.tid, t.tgid) for t in sharing.tasks)
    tgid = sharing.tgids
    counted = Counter(zip([tgid[tid] for tid in groups], groups.values(), strict=True))
    found = {}
    for (pid, number), count in counted.items():
        found.setdefault(pid, {})[number] = count
    sharing.spreads[kind] = found
    return found


# -- why a task cannot be compared ---------------------------------------------------


def refusal(task: Task | None, err: int) -> str:
    """Why kcmp refused ``task``: the errno, the rule, and the facts /proc
    shows that the rule looks at (never a guess at which one decided)."""
    name = errno.errorcode.get(err, str(err))
    if err not in (errno.EPERM, errno.EACCES):
        return f"kcmp: {name}"
    text = f"kcmp: {name}: no PTRACE_MODE_READ_REALCREDS access to it"
    if task is None:
        return text
    facts = _credential_facts(task.tid)
    return f"{text} ({facts})" if facts else text


def _credential_facts(tid: int) -> str:
    """What the rule compares, as /proc shows it: uids and gids against our
    real ones, capabilities against ours."""
    from tidscope.proc.masks import CAPABILITIES, capability_names

    theirs = files.read_all(f"{PROC}/{tid}/status")
    mine = files.read_all(f"{PROC}/self/status")
    if theirs is None or mine is None:
        return ""
    t, m = proc_status.status_fields(theirs), proc_status.status_fields(mine)
    facts = []
    ruid, rgid = os.getuid(), os.getgid()
    uids, gids = t.get("Uid", "").split()[:3], t.get("Gid", "").split()[:3]
    if any(u != str(ruid) for u in uids):
        facts.append(f"its uids {'/'.join(uids)}, our real uid {ruid}")
    if any(g != str(rgid) for g in gids):
        facts.append(f"its gids {'/'.join(gids)}, our real gid {rgid}")
    try:
        their_caps, our_caps = int(t["CapPrm"], 16), int(m["CapPrm"], 16)
        ptrace = int(m["CapEff"], 16) >> CAPABILITIES.index("CAP_SYS_PTRACE") & 1
    except (KeyError, ValueError):
        return "; ".join(facts)
    facts.append("we hold CAP_SYS_PTRACE" if ptrace else "we lack CAP_SYS_PTRACE")
    extra = their_caps & ~our_caps
    if extra:
        facts.append(f"it holds capabilities we lack: {','.join(capability_names(extra))}")
    return "/proc shows: " + "; ".join(facts)
