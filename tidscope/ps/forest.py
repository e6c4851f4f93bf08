"""``--forest`` and ``-H``: processes in tree order, with procps's ASCII art.

procps sorts the processes (by parent, then start time: see :func:`order`),
takes as a tree's root every process whose parent is not listed, roots
last-sorted first, and walks each tree depth first: a task's children are
the run of tasks with its pid as parent that starts at the first of them
in sorted order.  Under ``--forest`` (and BSD ``f``) the
children of process 1 are drawn at process 1's own level, each level
deeper is indented by `` \\_ `` before a task, `` |  `` past a sibling
still to come, four blanks otherwise; ``-H`` indents every level by two
blanks, process 1's children too.  The indent is drawn in front of the
command columns (args, cmd, command, comm, ucmd, ucomm, fname).

The walk keeps its own stack: a chain of processes as deep as a proc mount
can hold draws without recursion.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from tidscope.proc.task import Task
from tidscope.text import clip

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from tidscope.ps.context import Context
    from tidscope.ps.sort import SortKey

FOREST, HIERARCHY = "forest", "hierarchy"  # --forest (and BSD f), -H
COMMAND_COLUMNS = frozenset({"args", "cmd", "command", "comm", "ucmd", "ucomm", "fname"})
ART = {" ": "    ", "L": " \\_ ", "+": " \\_ ", "|": " |  "}


def chunk(kind: str) -> int:
    """Cells one level of ``kind``'s indent takes."""
    return 2 if kind == HIERARCHY else 4


def draw(marks: str, kind: str) -> str:
    """The indent for ``marks`` (procps's forest_prefix: one mark per level)."""
    if kind == HIERARCHY:
        return "  " * len(marks)
    return "".join(ART[m] for m in marks)


def order(tasks: list[Task], keys: Sequence[SortKey], ctx: Context) -> list[Task]:
    """procps 4.0.2's forest order, for ``tasks`` in pid order (as procps
    reads /proc): by parent, then start time; with --sort keys, by those
    keys, then start time, then pid.  procps sorts once per key, stably,
    and adds the parent only when no key is given: with keys, children of
    two parents started in the same clock tick interleave by pid, and its
    trees keep only the children that sort next to each other
    (display.c's show_tree), as tidscope's do."""
    from tidscope.ps.sort import KEYS, SortKey, ordered

    start = SortKey("start_time", KEYS["start_time"][0], frozenset(), False)
    if keys:
        return ordered(tasks, [*keys, start], ctx)
    parent = SortKey("ppid", lambda t, c: t.ppid, frozenset(), False)
    return ordered(tasks, [parent, start], ctx)


def walk(tasks: Sequence[Task], kind: str) -> Iterator[tuple[Task, str]]:
    """Each task of ``tasks`` (sorted by :func:`order`) reachable from a root,
    in tree order, with its marks: ``+``/``L`` a task with/without a later
    sibling, ``|``/blank above such a task's descendants."""
    n = len(tasks)
    listed = {t.tgid for t in tasks}
    first: dict[int, int] = {}
    for i, task in enumerate(tasks):
        first.setdefault(task.ppid, i)
    adopt = kind != HIERARCHY  # process 1's children at its own level
    marks: list[str] = []

    def mark(level: int, ch: str) -> None:
        del marks[level:]
        if level:
            if len(marks) < level:
                marks.append(ch)
            else:
                marks[level - 1] = ch

    for root in range(n - 1, -1, -1):
        if tasks[root].ppid in listed:
            continue
        # frames: [task index, level, its next child's index or -1]
        stack: list[list[int]] = []
        node, level, sibling = root, 0, False
        while True:
            if node >= 0:  # show a task, then go down to its first child
                mark(level, "+" if sibling else "L")
                yield tasks[node], "".join(marks[:level])
                child = first.get(tasks[node].tgid, -1)
                if child >= 0:
                    mark(level, "|" if sibling else " ")
                    del marks[level:]
                    stack.append([node, level, child])
                node = -1
                continue
            if not stack:
                break
            frame = stack[-1]
            parent, plevel, child = frame
            if child < 0:  # every child shown: chop what they added
                del marks[plevel:]
                stack.pop()
                continue
            pid = tasks[parent].tgid
            more = child + 1 < n and tasks[child + 1].ppid == pid
            frame[2] = child + 1 if more else -1
            node, sibling = child, more
            level = plevel if adopt and pid == 1 else plevel + 1


class Indented(str):
    """A command cell drawn under a tree: the indent, then the text.  Where
    the cell has less room than it takes, :meth:`fit` cuts it as procps's
    forest_helper does: whole levels while a level fits, then the text in
    what is left (layout.Layout calls it)."""

    indent: str
    text: str
    size: int

    def __new__(cls, indent: str, text: str, size: int) -> Indented:
        cell = super().__new__(cls, indent + text)
        cell.indent, cell.text, cell.size = indent, text, size
        return cell

    def fit(self, room: int) -> str:
        levels = min(len(self.indent), room) // self.size
        rest = room - levels * self.size
        return self.indent[: levels * self.size] + (clip(self.text, rest) if rest > 0 else "")
