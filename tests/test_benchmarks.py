"""The benchmark runner and bench-spawn at tiny sizes: they run and say
something sensible.  No timing is asserted here: numbers belong in
benchmarks/, and speed targets in its report."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from helpers import run, tidscope

ROOT = Path(__file__).resolve().parent.parent


def test_bench_spawn_rows() -> None:
    proc = tidscope("bench-spawn", "-n", "20", "--repeat", "1", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [(r["pattern"], r["method"]) for r in rows] == [
        (p, m)
        for p in ("batch", "sequential")
        for m in ("raw clone", "pthread (C)", "Python threading")
    ]
    for r in rows:
        assert r["threads"] == 20
        assert 0 < r["min"] <= r["us_per_thread"] <= r["max"]
    assert {r["raw_speedup"] for r in rows if r["method"] == "raw clone"} == {1.0}


def test_bench_spawn_leaves_no_threads() -> None:
    proc = tidscope("bench-spawn", "-n", "30", "--repeat", "1", "--pattern", "batch")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[:2] == ["PATTERN", "METHOD"]


@pytest.mark.slow
@pytest.mark.net_admin  # the watch suite subscribes to the connector
@pytest.mark.floods_connector  # and its load generator makes threads as fast as it can
@pytest.mark.procps  # the ps suite runs procps's ps
def test_runner_smoke() -> None:
    """python -m benchmarks --quick: every suite runs and reports a ratio."""
    proc = run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json"],
        env={"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {"cores", "kernel", "python", "procps", "psutil"} <= set(report["machine"])
    names = [r["benchmark"] for r in report["results"]]
    for needle in (
        "ps -T,",
        "ps -eLf",
        "ps -T -o tid,pcpu,stat,wchan,comm",
        "peak RSS",
        "tree",
        "spawn+join",
        "RSS per held thread",
        "start-up",
        "watch --format json",
        "watch (table, whole machine)",
    ):
        assert any(needle in n for n in names), needle
    peers = {
        r["peer"].split(":")[0] for r in report["results"] if r["benchmark"].startswith("ps -T,")
    }
    assert peers == {"procps", "psutil", "plain", "floor"}
    for r in report["results"]:
        assert isinstance(r["ratio"], float | int), r
        assert r["met"] in (True, False, None)
        if "cost per extra task" not in r["benchmark"]:  # a slope: noise at tiny sizes
            assert r["ratio"] > 0, r
