"""Sorting tasks with kcmp(2) as the comparator, for one resource at a time.

- Each resource's tasks are sorted with kcmp(2), O(n log n) calls; the
  tasks come in /proc order, each thread group's tasks together, so
  Timsort's runs make a group of equal tasks cost about one call a task.
  One pass over the sorted neighbours then checks the order with the
  answers of that moment and cuts it into groups of equal tasks.
- A NULL pointer is equal to every NULL pointer (see core/kcmp.py), so
  tasks without the object would look as if they shared it.  A zombie child
  of ours has released its mm, files, fs, I/O context and undo list; it is
  sorted with the tasks, and the tasks equal to it form group 0, "none":
  observed for each resource, never assumed.
- kcmp needs PTRACE_MODE_READ_REALCREDS over both tasks: each task is
  checked alone first, kcmp(t, t).  EPERM makes it not comparable, with the
  reason and what /proc shows about its credentials (:func:`refusal`);
  ESRCH, gone.  A kernel without kcmp (ENOSYS) is one error, NoKcmp.
- Races are control flow.  A call that fails during a sort (ESRCH: a task
  exited; EPERM: it changed credentials) ends that sort; each of the two
  tasks is checked alone, the one that fails is dropped from every
  resource, every other task is checked once more, and the resource is
  sorted again without those that failed.  A neighbour found out of order
  (a pid reused during the sort) sorts it again.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cmp_to_key

from tidscope.core.kcmp import KCMP, NR
from tidscope.errors import TidscopeError, describe, errno_name
from tidscope.proc import files
from tidscope.proc import task as proc_task
from tidscope.proc.files import PROC
from tidscope.proc.task import Task
from tidscope.share.sharing import NONE, Call, NoKcmp, Syscall

MAX_SORTS = 50  # sorts of one resource before the churn is reported instead
WALL = 0x40000000  # __WALL: our zombie has no exit signal


class _Failed(Exception):
    """A kcmp call failed during a sort: which tasks, which errno."""

    def __init__(self, a: int, b: int, err: int) -> None:
        super().__init__(a, b, err)
        self.a, self.b, self.err = a, b, err


class _Disorder(Exception):
    """Neighbours out of order: answers changed during the sort."""


class Kcmp:
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
        try:
            os.waitid(os.P_PID, tid, os.WEXITED | os.WNOWAIT | WALL)
        except OSError as err:  # joined on the way out (wait4 is tried again)
            raise TidscopeError(
                f"cannot make the reference zombie kcmp needs: {describe(err, 'waitid')}"
            ) from None
        yield tid


class SortRun:
    """One observation's kcmp state: the tasks still compared, and why the
    others are not."""

    def __init__(self, k: Kcmp, zombie: int, tids: list[int]) -> None:
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
            name = errno_name(-result)
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


def numbered(
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


# -- why a task cannot be compared ---------------------------------------------------


def refusal(task: Task | None, err: int) -> str:
    """Why kcmp refused ``task``: the errno, the rule, and the facts /proc
    shows that the rule looks at (never a guess at which one decided)."""
    name = errno_name(err)
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
    t, m = proc_task.status_fields(theirs), proc_task.status_fields(mine)
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
