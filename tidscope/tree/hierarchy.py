"""``tidscope tree``: processes under their parents, threads under their process.

One walk of /proc builds a parent -> children index, and every task is
visited once when printing, so the cost per task is flat however the tasks
are spread (pstree searches its process list for each parent).  Walks are
iterative and every format's output is linear in the number of tasks, however
deep the tree: the text drawing starts a subtree deeper than ``DEPTH`` levels
again as a tree of its own below, and JSON (render.json_tree) stops indenting
deeper (its structure stays whole).

A snapshot can hold parent cycles (a pid reused while the walk ran, or a
forged /proc): each is cut at its lowest pid, which is then drawn as a root.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from tidscope.errors import TidscopeError, UsageError
from tidscope.numeric import decimal
from tidscope.proc import snapshot
from tidscope.proc.files import PROC, Unread, stat_of
from tidscope.proc.task import tgid_of
from tidscope.text import escape as printable  # procps's rules, per locale

Row = dict[str, Any]

UNICODE = ("├── ", "└── ", "│   ", "    ")
ASCII = ("|-- ", "`-- ", "|   ", "    ")
DEPTH = 50  # levels a text drawing nests before a subtree starts again below
UID_MAX = 0xFFFFFFFE  # (uid_t)-1 is no user


@dataclass(slots=True)
class Proc:
    pid: int
    ppid: int
    name: str
    threads: list[tuple[int, str]] = field(default_factory=list)  # (tid, name), leader excluded


@dataclass
class Forest:
    """The processes of one snapshot, indexed by parent, parent cycles cut.

    ``tops`` are where a whole-system tree starts: pid 1, or every process
    whose parent is not visible (e.g. under hidepid); ``cycles`` holds each
    parent cycle found, lowest pid first, and that pid is a top too.
    """

    procs: dict[int, Proc]
    threads: bool  # whether threads were read
    children: dict[int, list[int]] = field(default_factory=dict)
    tops: list[int] = field(default_factory=list)
    cycles: list[list[int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        procs = self.procs
        for pid, proc in procs.items():  # ascending pid: children come out sorted
            if proc.ppid in procs and proc.ppid != pid:
                self.children.setdefault(proc.ppid, []).append(pid)
        if 1 in procs:
            self.tops = [1]
        else:
            self.tops = [p for p, proc in procs.items() if proc.ppid not in procs or proc.ppid == p]
        for cycle in _cycles(procs):
            low = min(cycle)
            self.children[procs[low].ppid].remove(low)  # low's parent is its descendant
            self.cycles.append(cycle[cycle.index(low) :] + cycle[: cycle.index(low)])
            self.tops.append(low)
        self.tops.sort()


def _cycles(procs: dict[int, Proc]) -> list[list[int]]:
    """Every parent cycle (pids in child-to-parent order), each found once:
    every pid is followed up its parents at most once in all."""
    done: set[int] = set()
    found = []
    for start in procs:
        path: dict[int, int] = {}  # pid -> its place on this climb
        pid = start
        while pid in procs and pid not in done and pid not in path:
            path[pid] = len(path)
            parent = procs[pid].ppid
            if parent == pid:
                break
            pid = parent
        else:
            if pid in path:  # climbed back onto this climb: a cycle
                found.append(list(path)[path[pid] :])
        done.update(path)
    return found


def read_forest(root: str = PROC, threads: bool = True) -> Forest:
    """Every process, and unless ``threads`` is False every thread, in one walk.

    TidscopeError, naming what was wrong, when no process at all could be read.
    """
    procs: dict[int, Proc] = {}
    if not threads:
        for t in snapshot.processes(root):
            procs[t.tgid] = Proc(t.tgid, t.ppid, t.name)
    else:
        for t in snapshot.tasks(root):
            if t.tid == t.tgid:
                procs[t.tgid] = Proc(t.tgid, t.ppid, t.name)
            elif t.tgid in procs:  # else its leader vanished mid-walk
                procs[t.tgid].threads.append((t.tid, t.name))
    if not procs:
        raise TidscopeError(snapshot.why_nothing(root, threads))
    return Forest(procs, threads)


def owner(pid: int, root: str = PROC) -> int | None:
    """The effective uid of process ``pid`` (the owner of its /proc directory)."""
    st = stat_of(f"{root}/{pid}")
    return None if isinstance(st, Unread) else st.st_uid


def user_id(user: str) -> int:
    """A user name or numeric uid (ASCII digits); UsageError if neither."""
    uid = decimal(user)
    if uid is not None:
        if uid > UID_MAX:
            raise UsageError(f"uid {user} is out of range: uids are 0 to {UID_MAX}")
        return uid
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except (KeyError, ValueError):  # ValueError: a name with a NUL in it
        raise UsageError(f"no user {user!r}: give a user name or a numeric uid") from None


def roots(
    forest: Forest, pid: int | None = None, uid: int | None = None, root: str = PROC
) -> list[int]:
    """Where to start: ``pid``; else the forest's tops, or with ``uid`` the
    topmost processes of ``uid`` in the trees under them, as ``pstree
    USER`` finds them (so kernel threads, under kthreadd, are no user's)."""
    procs = forest.procs
    if pid is not None:
        if pid in procs:
            return [pid]
        tgid = tgid_of(pid, root)
        if tgid is not None and tgid != pid:
            raise TidscopeError(f"{pid} is a thread of pid {tgid}: use tidscope tree {tgid}")
        why = snapshot.unreadable(root, str(pid), forest.threads) if tgid == pid else None
        if why is not None:  # there, but not as the kernel writes it
            raise TidscopeError(f"process {pid} could not be read: {why[0]} {why[1]}")
        raise TidscopeError(f"no process {pid}: see tidscope ps for the processes there are")
    if uid is None:
        return list(forest.tops)
    found = []
    todo = list(reversed(forest.tops))
    while todo:
        p = todo.pop()
        if owner(p, root) == uid:
            found.append(p)
        else:
            todo.extend(reversed(forest.children.get(p, ())))
    if not found:
        raise TidscopeError(
            f"uid {uid} has no processes here: give the owner of one"
            " (tidscope ps -o user,pid,comm lists them)"
        )
    return found


def cycles_note(forest: Forest) -> str | None:
    """One line about the parent cycles cut, if any."""
    if not forest.cycles:
        return None
    shown = "; ".join(" -> ".join(map(str, [*c, c[0]])) for c in forest.cycles[:3])
    more = f" and {len(forest.cycles) - 3} more" if len(forest.cycles) > 3 else ""
    return (
        f"parent cycles (each pid's parent is its child: {shown}{more}):"
        " each is drawn from its lowest pid"
    )


def _items(forest: Forest, pid: int) -> list[tuple[bool, int, str]]:
    """What hangs under a process: its threads, then its children."""
    proc = forest.procs[pid]
    threads = [(True, tid, name) for tid, name in proc.threads]
    kids = [(False, k, forest.procs[k].name) for k in forest.children.get(pid, ())]
    return threads + kids


Step = tuple[int, bool, bool, int, int, str, bool]


def _walk(forest: Forest, top: int, limit: int | None = None) -> Iterator[Step]:
    """Pre-order (depth, is_last, is_thread, id, tgid-or-ppid, name, cut)
    below ``top``; with ``limit``, a process at that depth with anything
    under it is yielded with ``cut`` set and not descended into."""
    seen = {top}
    stack = [(_items(forest, top), 0, 1, top)]
    while stack:
        items, i, depth, parent = stack.pop()
        if i >= len(items):
            continue
        stack.append((items, i + 1, depth, parent))
        is_thread, ident, name = items[i]
        below = not is_thread and ident not in seen  # seen: never, cycles are cut
        under = below and _has_items(forest, ident)
        cut = under and limit is not None and depth >= limit
        yield depth, i == len(items) - 1, is_thread, ident, parent, name, cut
        if under and not cut:
            seen.add(ident)
            stack.append((_items(forest, ident), 0, depth + 1, ident))


def _has_items(forest: Forest, pid: int) -> bool:
    return bool(forest.procs[pid].threads or forest.children.get(pid))


def text_lines(forest: Forest, tops: list[int], ascii_: bool = False) -> Iterator[str]:
    """The tree as lines: ``PID NAME``, threads as ``TID {NAME} thread of PID``.

    A process ``DEPTH`` levels down with anything under it ends its line
    with ``[continued below]``; once the tree it is in is drawn, it starts
    one of its own (``PID NAME [continued]``), so no line grows without end.
    """
    branch, last, bar, blank = ASCII if ascii_ else UNICODE
    todo = [(top, False) for top in reversed(tops)]
    while todo:
        top, continued = todo.pop()
        yield f"{top} {printable(forest.procs[top].name)}" + (" [continued]" if continued else "")
        prefix: list[str] = []
        later = []
        for depth, is_last, is_thread, ident, parent, name, cut in _walk(forest, top, DEPTH):
            del prefix[depth - 1 :]
            label = (
                f"{ident} {{{printable(name)}}} thread of {parent}"
                if is_thread
                else f"{ident} {printable(name)}"
            )
            if cut:
                label += " [continued below]"
                later.append((ident, True))
            yield "".join(prefix) + (last if is_last else branch) + label
            prefix.append(blank if is_last else bar)
        todo.extend(reversed(later))


def _node(forest: Forest, pid: int) -> dict[str, Any]:
    """A process for JSON, but its children: ``pid``, ``ppid``, ``name``,
    and ``threads`` when they were read."""
    proc = forest.procs[pid]
    obj: dict[str, Any] = {"pid": pid, "ppid": proc.ppid, "name": proc.name}
    if forest.threads:
        obj["threads"] = [{"tid": tid, "tgid": pid, "name": name} for tid, name in proc.threads]
    return obj


def _dot_label(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace('"', '\\"')


def dot_lines(forest: Forest, tops: list[int]) -> Iterator[str]:
    """The tree for Graphviz: boxes for processes, dashed ellipses for threads."""
    yield "digraph tidscope {"
    yield "  rankdir=LR;"
    yield '  node [shape=box, fontname="monospace"];'
    for top in tops:
        yield f'  p{top} [label="{_dot_label(forest.procs[top].name)}\\npid {top}"];'
        for _, _, is_thread, ident, parent, name, _ in _walk(forest, top):
            if is_thread:
                yield (
                    f'  t{ident} [label="{_dot_label(name)}\\ntid {ident} of {parent}",'
                    " shape=ellipse, style=dashed];"
                )
                yield f"  p{parent} -> t{ident} [style=dashed];"
            else:
                yield f'  p{ident} [label="{_dot_label(name)}\\npid {ident}"];'
                yield f"  p{parent} -> p{ident};"
    yield "}"


ROW_COLUMNS = ("depth", "kind", "pid", "tid", "ppid", "name")


def rows(forest: Forest, tops: list[int]) -> Iterator[Row]:
    """The trees flat, in drawing order: one row per process and per thread.

    ``depth`` is the indentation level (0 for a root); a thread's ``pid`` is
    its process, whose ``ppid`` it shows; ``tid`` is the task's own id.
    """
    for top in tops:
        proc = forest.procs[top]
        yield _row(0, "process", top, top, proc.ppid, proc.name)
        for depth, _, is_thread, ident, parent, name, _ in _walk(forest, top):
            if is_thread:
                yield _row(depth, "thread", parent, ident, forest.procs[parent].ppid, name)
            else:
                yield _row(depth, "process", ident, ident, parent, name)


def _row(depth: int, kind: str, pid: int, tid: int, ppid: int, name: str) -> Row:
    return {"depth": depth, "kind": kind, "pid": pid, "tid": tid, "ppid": ppid, "name": name}


def print_tree(
    forest: Forest,
    tops: list[int],
    fmt: str,
    out: IO[str],
    ascii_: bool = False,
    headers: bool = True,
) -> None:
    """Write the trees under ``tops`` as ``text``, ``table``, ``json``, ``csv`` or ``dot``."""
    from tidscope import render

    if fmt == "json":
        children = forest.children
        render.json_tree(
            tops,
            lambda pid: _node(forest, pid),
            lambda pid: children.get(pid, ()),
            out,
            depth=DEPTH,
        )
    elif fmt in ("table", "csv"):  # CSV written as the rows come; a table once its widths are known
        render.render(rows(forest, tops), ROW_COLUMNS, fmt, headers=headers, out=out)
    else:
        lines = dot_lines(forest, tops) if fmt == "dot" else text_lines(forest, tops, ascii_)
        render.write_pieces(out, lines, "\n")
