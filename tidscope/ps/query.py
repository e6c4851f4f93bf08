"""Which tasks ``tidscope ps`` reads: every process, or every thread, or
the ids it was given (procps's id lists), and why ids matched nothing."""

from __future__ import annotations

import os

from tidscope.proc import snapshot
from tidscope.proc.files import PROC
from tidscope.proc.mounts import is_proc_mount
from tidscope.proc.task import Task, tgid_of

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Iterator


class Query:
    """Which tasks: all processes, or threads (``-T``/``-L``, or ``tids``), maybe only some."""

    __slots__ = ("pids", "root", "threads", "tids")

    def __init__(
        self,
        threads: bool = False,
        pids: tuple[int, ...] = (),
        tids: tuple[int, ...] = (),
        root: str = PROC,
    ) -> None:
        self.threads = threads
        self.pids = pids
        self.tids = tids
        self.root = root

    @property
    def everything(self) -> bool:
        return not self.pids and not self.tids


def unmatched(query: Query) -> str:
    """Why ``query``, which names ids, matched no task: one line for stderr."""
    root = query.root
    snapshot.pid_names(root)  # raises if root is no proc mount at all
    for pid in query.pids:
        tgid = tgid_of(pid, root)
        if tgid is not None and tgid != pid:
            return (
                f"{pid} is a thread of process {tgid}, not a process:"
                f" use -T -p {tgid}, or --tid {pid}"
            )
    for pid in query.pids:  # there, but not to be read: say what was wrong
        if os.path.lexists(f"{root}/{pid}"):
            problem = snapshot.unreadable(root, str(pid), query.threads)
            if problem is not None:
                fix = "run again"
                if root != PROC and not is_proc_mount(root):
                    fix = "point --proc-root at a proc mount"
                return f"process {pid} could not be read: {problem[0]} {problem[1]}: {fix}"
    missing = []
    if query.pids:
        missing.append("no process " + ", ".join(map(str, query.pids)))
    if query.tids:
        missing.append("no thread " + ", ".join(map(str, query.tids)))
    return " and ".join(missing) + ": see tidscope ps -AT for the tasks there are"


def tasks(query: Query, want: frozenset[str]) -> Iterator[Task]:
    """The tasks ``query`` selects, in /proc order, each read once."""
    root = query.root
    if query.threads or query.tids:
        if query.everything:
            return snapshot.tasks(root, want)
        return snapshot.selected(query.pids, query.tids, root, want)
    if query.everything:
        return snapshot.processes(root, want)
    return (
        t
        for t in (snapshot.process(pid, root, want) for pid in sorted(set(query.pids)))
        if t is not None
    )
