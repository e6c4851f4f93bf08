"""``tidscope tree`` on held threads and processes, against ``pstree -p -t``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import one_error_line, run, tidscope
from test_procfs import FakeProc
from test_ps import NAMES, held

from tidscope.tree import hierarchy as tree

Edge = tuple[int, int, bool]  # parent, child, child is a thread
# name(pid) or {name}(tid); a name does not start with the connectors' characters
NODE = re.compile(r"(\{)?([^\s(){}|`+-][^\s(){}]*)\}?\((\d+)\)")


def pstree_edges(pid: int) -> set[Edge]:
    """Parent edges of ``pstree -p -t PID``: a node's parent is the nearest
    node to its left that started in an earlier column."""
    proc = run(["pstree", "-p", "-t", "-A", "-l", str(pid)])  # -l: no 132-column cut
    assert proc.returncode == 0, proc.stderr
    edges: set[Edge] = set()
    stack: list[tuple[int, int]] = []  # (column, pid)
    for line in proc.stdout.splitlines():
        for m in NODE.finditer(line):
            col, ident = m.start(), int(m.group(3))
            while stack and stack[-1][0] >= col:
                stack.pop()
            if stack:
                edges.add((stack[-1][1], ident, m.group(1) == "{"))
            stack.append((col, ident))
    return edges


def our_edges(nodes: list[dict[str, Any]]) -> set[Edge]:
    edges: set[Edge] = set()
    todo = list(nodes)
    while todo:
        node = todo.pop()
        edges |= {(node["pid"], t["tid"], True) for t in node.get("threads", [])}
        edges |= {(node["pid"], c["pid"], False) for c in node["children"]}
        todo += node["children"]
    return edges


def json_tree(*args: str, **kw: Any) -> list[dict[str, Any]]:
    proc = tidscope("tree", "--format", "json", *args, **kw)
    assert proc.returncode == 0, proc.stderr
    nodes: list[dict[str, Any]] = json.loads(proc.stdout)
    return nodes


def test_held_threads_hang_under_their_process() -> None:
    with held() as info:
        pid = info["pid"]
        (root,) = json_tree(str(pid))
        assert root["pid"] == pid and root["children"] == []
        assert root["threads"] == [
            {"tid": tid, "tgid": pid, "name": name}
            for tid, name in zip(info["tids"], NAMES, strict=True)
        ]
        text = tidscope("tree", "--ascii", str(pid)).stdout.splitlines()
        assert text[0] == f"{pid} python"
        assert text[1:] == [
            f"{'`' if i == len(NAMES) - 1 else '|'}-- {tid} {{{name}}} thread of {pid}"
            for i, (tid, name) in enumerate(zip(info["tids"], NAMES, strict=True))
        ]


def test_same_pids_tids_and_edges_as_pstree() -> None:
    with held(["t1", "t2", "t3"], kids=["kid1", "kid2"], sleep=True) as info:
        pid = info["pid"]
        ours = our_edges(json_tree(str(pid)))
        assert ours == pstree_edges(pid)
        assert ours >= {(pid, t, True) for t in info["tids"]}
        assert ours >= {(pid, k, False) for k in [*info["kids"], info["sleep"]]}
        assert our_edges(json_tree(str(pid), "--no-threads")) == {e for e in ours if not e[2]}


def test_whole_machine_agrees_with_pstree_on_stable_tasks() -> None:
    with held(["t1"], kids=["kid1"]) as info:
        ours = our_edges(json_tree())
        theirs = pstree_edges(1)
    mine = {e for e in theirs if info["pid"] in e[:2]}
    assert mine and mine <= ours


def test_default_root_is_pid_1_and_formats() -> None:
    (root,) = json_tree("--no-threads")
    assert root["pid"] == 1 and "threads" not in root
    text = tidscope("tree", "--no-threads").stdout
    assert text.startswith("1 ") and "{" not in text
    unicode = tidscope("tree", env={"PYTHONIOENCODING": "utf-8"})
    ascii_ = tidscope("tree", "--ascii").stdout
    assert "── " in unicode.stdout and "── " not in ascii_ and "`-- " in ascii_


def test_dot() -> None:
    with held(["t1"], kids=["kid1"]) as info:
        pid = info["pid"]
        out = tidscope("tree", "--format", "dot", str(pid)).stdout.splitlines()
    assert out[0] == "digraph tidscope {" and out[-1] == "}"
    nodes = [line for line in out if re.fullmatch(r'  [pt]\d+ \[label=".*"(, .*)?\];', line)]
    edges = [line for line in out if re.fullmatch(r"  p\d+ -> [pt]\d+( \[.*\])?;", line)]
    assert len(nodes) == 3 and len(edges) == 2
    assert f"  p{pid} -> t{info['tids'][0]} [style=dashed];" in edges


def test_errors_are_one_line() -> None:
    proc = tidscope("tree", "999999999")
    assert proc.returncode == 1 and "no process 999999999" in one_error_line(proc)
    with held(["t1"]) as info:
        proc = tidscope("tree", str(info["tids"][0]))
    assert proc.returncode == 1
    assert f"is a thread of pid {info['pid']}" in one_error_line(proc)
    proc = tidscope("tree", "-u", "root", "1")
    assert proc.returncode == 2
    one_error_line(proc)
    proc = tidscope("tree", "-u", "no-such-user")
    assert proc.returncode == 2 and "no-such-user" in one_error_line(proc)


@pytest.mark.root  # setpriv to nobody
def test_user_trees() -> None:
    # as pstree USER: the topmost of root's processes under pid 1, so not kthreadd
    assert [n["pid"] for n in json_tree("-u", "root", "--no-threads")] == [1]
    nobody = subprocess.Popen(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "sleep", "60"]
    )
    try:
        for _ in range(100):
            roots = {n["pid"]: n for n in json_tree("-u", "65534")}
            if nobody.pid in roots and roots[nobody.pid]["name"] == "sleep":
                break
        assert roots[nobody.pid]["name"] == "sleep"
    finally:
        nobody.kill()
        nobody.wait(60)


def test_unprivileged() -> None:
    # root drops to nobody; others are unprivileged already
    proc = tidscope("tree", "--format", "json", user=os.geteuid() == 0)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)[0]["pid"] == 1


def test_a_deep_chain_and_a_hidden_root(tmp_path: Path) -> None:
    fake = FakeProc(tmp_path)
    depth = 1200  # deeper than json's and Python's default recursion limits allow
    for pid in range(2, depth + 2):
        fake.process(pid, f"p{pid}", pid - 1)  # pid 1 is not visible
    forest = tree.read_forest(str(tmp_path))
    assert tree.roots(forest) == [2]
    lines = list(tree.text_lines(forest, [2], ascii_=True))
    # every DEPTH levels the drawing starts again: one more line each time
    assert len(lines) == depth + (depth - 2) // tree.DEPTH
    last = (depth - 1) % tree.DEPTH
    assert lines[-1] == " " * 4 * (last - 1) + f"`-- {depth + 1} p{depth + 1}"
    proc = tidscope("tree", "--proc-root", str(tmp_path), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(4 * depth)
    try:
        node = json.loads(proc.stdout)[0]
    finally:
        sys.setrecursionlimit(limit)
    for _ in range(depth - 1):
        node = node["children"][0]
    assert node["pid"] == depth + 1 and node["children"] == []


def test_table_and_csv_are_the_tree_flat() -> None:
    with held(["t1", "t2"], kids=["kid1"]) as info:
        pid = info["pid"]
        csv = tidscope("tree", "--format", "csv", str(pid))
        table = tidscope("tree", "--format", "table", "--no-headers", str(pid))
        (node,) = json_tree(str(pid))
    assert csv.returncode == table.returncode == 0, csv.stderr + table.stderr
    head, *rows = csv.stdout.splitlines()
    assert head == "depth,kind,pid,tid,ppid,name"
    (kid,) = info["kids"]
    assert rows == [
        f"0,process,{pid},{pid},{node['ppid']},python",
        *(
            f"1,thread,{pid},{tid},{node['ppid']},{name}"
            for tid, name in zip(info["tids"], ["t1", "t2"], strict=True)
        ),
        f"1,process,{kid},{kid},{pid},kid1",
    ]
    assert [r.split() for r in table.stdout.splitlines()] == [r.split(",") for r in rows]
