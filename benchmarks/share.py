"""``tidscope share`` at scale: every task on a machine of N tasks, all six
kcmp resources and the namespaces, against the time to list the same tasks.

Two holders: one of raw threads (the usual machine: most tasks are threads
that share everything with their process), and one of raw processes that
share only their parent's address space (the worst case for the sorts: each
has its own file table, fs, signal handlers, so those sorts cannot use runs).
For each, the kcmp calls made are counted against n log2 n per resource.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from benchmarks import holders
from benchmarks.timing import Row, alternate, row, tidscope_cmd

TARGET_SECONDS = 2.0  # issue 12: 30k tasks, all six resources
RESOURCES = 6
VM_ONLY = r"""
import sys
from tidscope.core import flags
from tidscope.core.clone import Children, die_with_parent
value = flags.bits("VM")
with Children(int(sys.argv[1]), value, program=die_with_parent(value)):
    print("ready 0 0", flush=True)
    sys.stdin.read()
"""


def task_count() -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                continue
    return n


def bench_share(tasks: int, repeat: int) -> list[Row]:
    """Bring the machine to ``tasks`` tasks with a thread holder and time
    ``tidscope share`` there; then the same with processes sharing only VM."""

    rows = []
    extra = max(1, tasks - task_count())
    with holders.start("raw", extra):
        total = task_count()
        s = alternate(
            {
                "share": [*tidscope_cmd(), "share"],
                "json": [*tidscope_cmd(), "share", "--format", "json"],
                "ps": [*tidscope_cmd(), "ps", "-AT"],
            },
            repeat,
        )
        calls = _calls(tidscope_cmd())
    ps = s["ps"].median
    for label, what in (("share", "share"), ("json", "share --format json")):
        median = s[label].median
        rows.append(
            row(
                f"{what}, {total} tasks ({extra} extra threads)",
                s[label].span(),
                f"ps -AT (same walk): {s['ps'].span()}",
                median / ps,
                f"< {TARGET_SECONDS:g} s" if label == "share" else "(reference)",
                median < TARGET_SECONDS if label == "share" else None,
            )
        )
    rows.append(_calls_row(f"kcmp calls, {total} tasks (threads)", calls))
    processes = max(2, tasks // 10)
    with _vm_only(processes):
        total = task_count()
        s = alternate({"share": [*tidscope_cmd(), "share"]}, max(1, repeat // 2))
        calls = _calls(tidscope_cmd())
    rows.append(
        row(
            f"share, {total} tasks ({processes} processes sharing only VM)",
            s["share"].span(),
            "(no peer)",
            s["share"].median,
            "(reference)",
            None,
        )
    )
    rows.append(_calls_row(f"kcmp calls, {total} tasks (VM-only processes)", calls))
    return rows


def _calls(cmd: list[str]) -> dict[str, Any]:
    """The task count and kcmp calls of one JSON run."""
    proc = subprocess.run(
        [*cmd, "share", "--format", "json"], capture_output=True, text=True, check=True
    )
    doc = json.loads(proc.stdout)
    return {"tasks": len(doc["tasks"]), "calls": doc["kcmp_calls"]}


def _calls_row(what: str, found: dict[str, Any]) -> Row:
    """Calls made against a plain sort's n log2 n for each resource."""
    n = max(2, found["tasks"])
    made = sum(found["calls"].values())
    bound = RESOURCES * n * math.log2(n)
    per_task = made / n / RESOURCES
    result: Row = row(
        what,
        f"{made} calls ({per_task:.2f} a task and resource)",
        f"n log2 n x {RESOURCES}: {bound:.0f}",
        made / bound,
        "<= 1.0x",
        made <= bound,
    )
    return result


@contextlib.contextmanager
def _vm_only(n: int) -> Iterator[None]:
    """A holder of ``n`` raw processes that share only its address space."""
    proc = subprocess.Popen(
        [sys.executable, "-c", VM_ONLY, str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        if not proc.stdout.readline().startswith("ready"):
            raise RuntimeError(f"the holder of {n} VM-only processes did not start")
        yield
    finally:
        proc.stdin.close()
        proc.wait(120)
