"""What ``tidscope share`` observed, as data: the resources and namespace
types it compares, one kcmp(2) call, and :class:`Sharing`, the groups of
every task (groups.py fills it; infer.py and report.py read it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tidscope.core.kcmp import KCMP
from tidscope.errors import TidscopeError
from tidscope.proc.task import Task

RESOURCES = tuple(KCMP)  # VM FILES FS SIGHAND IO SYSVSEM
NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts")
NONE = 0  # the group of the tasks that have no such object

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
    zombies: set[int] = field(default_factory=set)  # tasks that had exited (not reaped): no objects
    tgids: dict[int, int] = field(default_factory=dict)  # tid -> tgid, for spread()
    spreads: dict[str, dict[int, dict[int, int]]] = field(default_factory=dict)


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
