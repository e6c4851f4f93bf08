"""``tidscope tree``: processes under their parents, threads under their process.

One walk of /proc builds a parent -> children index, and every task is
visited once when printing, so the cost per task is flat however the tasks
are spread (pstree searches its process list for each parent).  Walks are
iterative: a chain of thousands of nested processes is fine.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from tidscope import snapshot
from tidscope.columns import clean, printable
from tidscope.errors import TidscopeError, UsageError
from tidscope.procfs import GONE, PROC, tgid_of

Row = dict[str, Any]

UNICODE = ("├── ", "└── ", "│   ", "    ")
ASCII = ("|-- ", "`-- ", "|   ", "    ")


@dataclass(slots=True)
class Proc:
    pid: int
    ppid: int
    name: str
    threads: list[tuple[int, str]] = field(default_factory=list)  # (tid, name), leader excluded


@dataclass
class Forest:
    """The processes of one snapshot, indexed by parent."""

    procs: dict[int, Proc]
    threads: bool  # whether threads were read
    children: dict[int, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for pid, proc in self.procs.items():  # ascending pid: children come out sorted
            if proc.ppid in self.procs and proc.ppid != pid:
                self.children.setdefault(proc.ppid, []).append(pid)


def read_forest(root: str = PROC, threads: bool = True) -> Forest:
    """Every process, and unless ``threads`` is False every thread, in one walk."""
    procs: dict[int, Proc] = {}
    if not threads:
        for t in snapshot.processes(root):
            procs[t.tgid] = Proc(t.tgid, t.ppid, t.name)
        return Forest(procs, False)
    for t in snapshot.tasks(root):
        if t.tid == t.tgid:
            procs[t.tgid] = Proc(t.tgid, t.ppid, t.name)
        elif t.tgid in procs:  # else its leader vanished mid-walk
            procs[t.tgid].threads.append((t.tid, t.name))
    return Forest(procs, True)


def owner(pid: int, root: str = PROC) -> int | None:
    """The effective uid of process ``pid`` (the owner of its /proc directory)."""
    try:
        return os.stat(f"{root}/{pid}").st_uid
    except GONE:
        return None


def user_id(user: str) -> int:
    """A user name or numeric uid; UsageError if neither."""
    if user.isdigit():
        return int(user)
    import pwd

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise UsageError(f"no user {user!r}: give a user name or a numeric uid") from None


def roots(
    forest: Forest, pid: int | None = None, uid: int | None = None, root: str = PROC
) -> list[int]:
    """Where to start: ``pid``; the topmost processes of ``uid``; else pid 1,
    or every process whose parent is not visible (e.g. under hidepid)."""
    procs = forest.procs
    if pid is not None:
        if pid in procs:
            return [pid]
        tgid = tgid_of(pid, root)
        if tgid is not None and tgid != pid:
            raise TidscopeError(f"{pid} is a thread of pid {tgid}: use tidscope tree {tgid}")
        raise TidscopeError(f"no process {pid}: see tidscope ps for the processes there are")
    if uid is not None:
        owners = {p: owner(p, root) for p in procs}
        found = [
            p
            for p in procs
            if owners[p] == uid and (procs[p].ppid not in procs or owners[procs[p].ppid] != uid)
        ]
        if not found:
            raise TidscopeError(
                f"uid {uid} has no processes here: give the owner of one"
                " (tidscope ps -o user,pid,comm lists them)"
            )
        return found
    if 1 in procs:
        return [1]
    return [p for p, proc in procs.items() if proc.ppid not in procs or proc.ppid == p]


def _items(forest: Forest, pid: int) -> list[tuple[bool, int, str]]:
    """What hangs under a process: its threads, then its children."""
    proc = forest.procs[pid]
    threads = [(True, tid, name) for tid, name in proc.threads]
    kids = [(False, k, forest.procs[k].name) for k in forest.children.get(pid, ())]
    return threads + kids


def _walk(forest: Forest, top: int) -> Iterator[tuple[int, bool, bool, int, int, str]]:
    """Pre-order (depth, is_last, is_thread, id, tgid-or-ppid, name) below ``top``."""
    seen = {top}
    stack = [(_items(forest, top), 0, 1, top)]
    while stack:
        items, i, depth, parent = stack.pop()
        if i >= len(items):
            continue
        stack.append((items, i + 1, depth, parent))
        is_thread, ident, name = items[i]
        yield depth, i == len(items) - 1, is_thread, ident, parent, name
        if not is_thread and ident not in seen:  # a pid-reuse cycle is cut here
            seen.add(ident)
            stack.append((_items(forest, ident), 0, depth + 1, ident))


def text_lines(forest: Forest, tops: list[int], ascii_: bool = False) -> Iterator[str]:
    """The tree as lines: ``PID NAME``, threads as ``TID {NAME} thread of PID``."""
    branch, last, bar, blank = ASCII if ascii_ else UNICODE
    for top in tops:
        yield f"{top} {printable(forest.procs[top].name)}"
        prefix: list[str] = []
        for depth, is_last, is_thread, ident, parent, name in _walk(forest, top):
            del prefix[depth - 1 :]
            label = (
                f"{ident} {{{printable(name)}}} thread of {parent}"
                if is_thread
                else f"{ident} {printable(name)}"
            )
            yield "".join(prefix) + (last if is_last else branch) + label
            prefix.append(blank if is_last else bar)


def nested(forest: Forest, tops: list[int]) -> list[dict[str, Any]]:
    """The tree as JSON-ready nested objects, one per root."""

    def node(pid: int) -> dict[str, Any]:
        proc = forest.procs[pid]
        obj: dict[str, Any] = {"pid": pid, "ppid": proc.ppid, "name": clean(proc.name)}
        if forest.threads:
            obj["threads"] = [
                {"tid": tid, "tgid": pid, "name": clean(name)} for tid, name in proc.threads
            ]
        obj["children"] = []
        return obj

    out = []
    for top in tops:
        objs = {top: node(top)}
        for _, _, is_thread, ident, parent, _ in _walk(forest, top):
            if not is_thread and ident not in objs:
                objs[ident] = node(ident)
                objs[parent]["children"].append(objs[ident])
        out.append(objs[top])
    return out


def _dot_label(text: str) -> str:
    return printable(text).replace("\\", "\\\\").replace('"', '\\"')


def dot_lines(forest: Forest, tops: list[int]) -> Iterator[str]:
    """The tree for Graphviz: boxes for processes, dashed ellipses for threads."""
    yield "digraph tidscope {"
    yield "  rankdir=LR;"
    yield '  node [shape=box, fontname="monospace"];'
    for top in tops:
        yield f'  p{top} [label="{_dot_label(forest.procs[top].name)}\\npid {top}"];'
        for _, _, is_thread, ident, parent, name in _walk(forest, top):
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


def rows(forest: Forest, tops: list[int], name: Callable[[str], str] = clean) -> Iterator[Row]:
    """The trees flat, in drawing order: one row per process and per thread.

    ``depth`` is the indentation level (0 for a root); a thread's ``pid`` is
    its process, whose ``ppid`` it shows; ``tid`` is the task's own id.
    """
    for top in tops:
        proc = forest.procs[top]
        yield _row(0, "process", top, top, proc.ppid, name(proc.name))
        for depth, _, is_thread, ident, parent, task_name in _walk(forest, top):
            if is_thread:
                ppid = forest.procs[parent].ppid
                yield _row(depth, "thread", parent, ident, ppid, name(task_name))
            else:
                yield _row(depth, "process", ident, ident, parent, name(task_name))


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
    if fmt in ("table", "csv"):
        from tidscope.render import render

        found = list(rows(forest, tops, printable if fmt == "table" else clean))
        render(found, ROW_COLUMNS, fmt, headers=headers, out=out)
        return
    if fmt == "json":
        depth = max((d for top in tops for d, *_ in _walk(forest, top)), default=0)
        if 2 * depth + 100 > sys.getrecursionlimit():  # json recurses per level
            sys.setrecursionlimit(2 * depth + 100)
        json.dump(nested(forest, tops), out, indent=2)
        out.write("\n")
        return
    lines = dot_lines(forest, tops) if fmt == "dot" else text_lines(forest, tops, ascii_)
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= 512:
            out.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        out.write("\n".join(batch) + "\n")
