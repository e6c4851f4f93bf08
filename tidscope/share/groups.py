"""What tasks share, observed: the tasks to compare (:func:`walk`,
:func:`groups_of`) and :func:`observe`, which sorts them with kcmp(2) for
six resources (kcmpsort.py) and groups their namespaces (namespaces.py)
into one :class:`~tidscope.share.sharing.Sharing`.

At the end a task that is gone, or whose start time changed (its pid was
reused), is dropped: the groups of the others never depended on it.  A
zombie that is still there (a leader whose threads live on, a child not
reaped) had exited before: it is kept, a member of its group that holds no
object and no namespace (:attr:`Sharing.zombies`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tidscope.core.syscalls import by_number
from tidscope.errors import TidscopeError
from tidscope.proc import snapshot
from tidscope.proc import task as proc_task
from tidscope.proc.files import PROC
from tidscope.proc.root import unseen
from tidscope.proc.task import DEAD, Task
from tidscope.share.kcmpsort import Kcmp, SortRun, numbered, reference_zombie
from tidscope.share.namespaces import has_namespace, namespace_groups, read_namespaces
from tidscope.share.sharing import NAMESPACES, RESOURCES, Sharing, Syscall


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
        why = "; ".join(f"no task {p}: {unseen(p, root)}" for p in missing)
        raise TidscopeError(f"{why} (see tidscope ps -AT)")
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
    k = Kcmp(syscall, explain)
    with reference_zombie() as zombie:
        run = SortRun(k, zombie, [t.tid for t in tasks])
        run.check_access({t.tid: t for t in tasks})
        sorted_groups = {r: run.resource(r) for r in RESOURCES}
    types = [t for t in NAMESPACES if has_namespace(t)]
    ns_seen = read_namespaces([t.tid for t in tasks if t.tid not in run.gone], types)
    after = {t.tid: t.start_ticks for t in (rewalk or (lambda: list(snapshot.tasks())))()}
    gone = set(run.gone)
    zombies = set()
    for t in tasks:
        if after.get(t.tid) != t.start_ticks:
            gone.add(t.tid)
        elif t.state in DEAD and t.tid not in run.gone:
            zombies.add(t.tid)  # exited before: its namespace links are gone with it
        elif ns_seen.get(t.tid) is None:
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
        zombies=zombies,
    )
    for resource, found in sorted_groups.items():
        if found is not None:
            sharing.groups[resource] = numbered(rows, found, run.refused)
    namespace_groups(sharing, rows, ns_seen, types)
    for tid in zombies:
        sharing.ns_refused[tid] = "it has exited (a zombie): a task's namespaces go when it exits"
    return sharing
