"""``python -m benchmarks``: tidscope against procps, pstree, psutil and pthreads.

Every comparison is made in one run, side by side: a thread holder keeps N
extra threads alive, the commands being compared run alternately after a
warm-up, and the table gives medians, min-max and the ratio next to the
target from issues 5 and 11.  Ratios, not absolute times, are what carry over from
one machine to another.  ``watch`` (issue 13) is a rate instead: thread births a
second that ``tidscope watch`` keeps up with, under a raw-clone load generator
(benchmarks/watch.py).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable

from benchmarks import holders
from benchmarks.launcher import bench_launcher
from benchmarks.share import bench_share
from benchmarks.timing import Row, Sample, alternate, row, tidscope_cmd
from benchmarks.top import bench_top
from benchmarks.watch import RATES, TARGET_RATE, bench_watch

PSUTIL_LIST = """
import psutil
n = 0
for p in psutil.process_iter(["name"]):
    try:
        n += len(p.threads())
    except psutil.Error:
        pass
"""

PLAIN_READER = """
import os
for pid in os.listdir('/proc'):
    if pid.isdigit():
        try:
            for tid in os.listdir(f'/proc/{pid}/task'):
                with open(f'/proc/{pid}/task/{tid}/stat', 'rb') as f:
                    f.read()
        except OSError:
            pass
"""

# (tidscope's ps arguments, procps's, the target ratio to procps) per listing
LISTINGS = [
    (["ps", "-T"], ["ps", "-AT"], 0.3),
    (["ps", "-eLf"], ["ps", "-eLf"], 0.5),
    (
        ["ps", "-T", "-o", "tid,pcpu,stat,wchan,comm"],
        ["ps", "-AT", "-o", "tid,pcpu,stat,wchan,comm"],
        0.5,
    ),
]
FLOOR_TARGET = 1.4  # ps -T against the open/read/close floor


def bench_ps(sizes: list[int], repeat: int) -> list[Row]:
    """Each listing against procps's, the default one also against psutil,
    a plain Python reader and the C floor (benchmarks/floor.c)."""
    rows = []
    work = holders.workdir()
    try:
        floor = holders.compile_floor(work)
        for n in sizes:
            with holders.start("raw", n):
                for i, (ours_args, procps_args, limit) in enumerate(LISTINGS):
                    commands: dict[str, list[str]] = {
                        "tidscope": [*tidscope_cmd(), *ours_args],
                        "procps": procps_args,
                    }
                    peers: list[tuple[str, float | None]] = [("procps", limit)]
                    if i == 0:
                        commands["psutil"] = [sys.executable, "-c", PSUTIL_LIST]
                        commands["plain"] = [sys.executable, "-c", PLAIN_READER]
                        peers += [("psutil", 1.0), ("plain", None)]
                        if floor:
                            commands["floor"] = [floor]
                            peers.append(("floor", FLOOR_TARGET))
                    s = alternate(commands, repeat)
                    rows += _ratios(f"{' '.join(ours_args)}, {n} extra threads", s, peers)
                    if i == 0:
                        rows.append(_rss_row(n, s, n == max(sizes)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _ratios(what: str, s: dict[str, Sample], peers: list[tuple[str, float | None]]) -> list[Row]:
    ours = s["tidscope"]
    rows = []
    for peer, limit in peers:
        ratio = ours.median / s[peer].median
        rows.append(
            row(
                what,
                ours.span(),
                f"{peer}: {s[peer].span()}",
                ratio,
                f"<= {limit}x" if limit else "(reference)",
                None if limit is None else ratio <= limit,
            )
        )
    return rows


def _rss_row(n: int, s: dict[str, Sample], largest: bool) -> Row:
    """Peak RSS of ps -T; the target is set at the largest size."""
    mine, theirs = max(s["tidscope"].maxrss), max(s["procps"].maxrss)
    return row(
        f"peak RSS of ps -T, {n} extra threads",
        f"{mine / 1024:.1f} MiB",
        f"procps: {theirs / 1024:.1f} MiB",
        mine / theirs,
        "<= 0.3x" if largest else "(reference)",
        mine / theirs <= 0.3 if largest else None,
    )


def _task_count() -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                n += len(os.listdir(f"/proc/{pid}/task"))
    return n


def bench_tree(sizes: list[int], repeat: int) -> list[Row]:
    """tree against pstree -p -t; the ratio target is set at the largest
    size, and the marginal cost per task must not grow with the size."""
    rows, points = [], []
    for n in sizes:
        with holders.start("raw", n):
            tasks = _task_count()
            s = alternate(
                {"tidscope": [*tidscope_cmd(), "tree"], "pstree": ["pstree", "-p", "-t"]},
                repeat,
            )
        ratio = s["tidscope"].median / s["pstree"].median
        largest = n == max(sizes)
        points.append((tasks, s["tidscope"].median, s["pstree"].median))
        rows.append(
            row(
                f"tree, {n} extra threads ({tasks} tasks)",
                s["tidscope"].span(),
                f"pstree -p -t: {s['pstree'].span()}",
                ratio,
                "<= 0.1x" if largest else "(reference)",
                ratio <= 0.1 if largest else None,
            )
        )
    if len(points) > 2:
        # us per extra task between consecutive sizes: flat means linear
        ours = [(b[1] - a[1]) / (b[0] - a[0]) * 1e6 for a, b in itertools.pairwise(points)]
        theirs = [(b[2] - a[2]) / (b[0] - a[0]) * 1e6 for a, b in itertools.pairwise(points)]
        growth = ours[-1] / ours[0]
        rows.append(
            row(
                f"tree cost per extra task, {sizes[0]} to {sizes[-1]} threads",
                " then ".join(f"{us:.1f}" for us in ours) + " us",
                "pstree: " + " then ".join(f"{us:.1f}" for us in theirs) + " us",
                growth,
                "<= 1.5x growth",
                growth <= 1.5,
            )
        )
    return rows


def bench_spawn(n: int, repeat: int) -> list[Row]:
    from tidscope.spawn.bench import compare

    us = {(r["pattern"], r["method"]): r["us_per_thread"] for r in compare(n, repeat)}
    raw = us[("batch", "raw clone")]
    best_pthread = min(us[("batch", "pthread (C)")], us[("sequential", "pthread (C)")])
    python = min(us[("batch", "Python threading")], us[("sequential", "Python threading")])
    return [
        row(
            f"spawn+join {n} threads (rate vs best pthread pattern)",
            f"{raw:.1f} us/thread",
            f"pthread: {best_pthread:.1f} us/thread",
            best_pthread / raw,
            ">= 1.3x rate",
            best_pthread / raw >= 1.3,
        ),
        row(
            f"spawn+join {n} threads (rate vs Python threading)",
            f"{raw:.1f} us/thread",
            f"threading: {python:.1f} us/thread",
            python / raw,
            ">= 4x rate",
            python / raw >= 4,
        ),
        row(
            f"spawn+join {n} threads one at a time",
            f"{us[('sequential', 'raw clone')]:.1f} us/thread",
            f"pthread: {us[('sequential', 'pthread (C)')]:.1f} us/thread",
            us[("sequential", "pthread (C)")] / us[("sequential", "raw clone")],
            "(reference)",
            None,
        ),
    ]


def bench_memory(n: int, repeat: int) -> list[Row]:
    work = holders.workdir()
    try:
        exe = holders.compile_pthread_holder(work)
        raw_kib, pt_kib = [], []
        for _ in range(repeat):
            with holders.start("raw", n, 65536) as h:
                raw_kib.append((h.rss_after - h.rss_before) / n)
            if exe:
                with holders.start("pthread", n, 16384, exe) as h:
                    pt_kib.append((h.rss_after - h.rss_before) / n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    raw = statistics.median(raw_kib)
    if not pt_kib:
        return [row(f"RSS per held thread, {n}", f"{raw:.2f} KiB", "no C compiler", 0, "-", False)]
    pt = statistics.median(pt_kib)
    return [
        row(
            f"user-space RSS per held thread, {n} threads",
            f"{raw:.2f} KiB",
            f"pthread, 16 KiB stacks: {pt:.2f} KiB",
            raw / pt,
            "<= 0.5x",
            raw / pt <= 0.5,
        )
    ]


def bench_startup(repeat: int) -> list[Row]:
    s = alternate(
        {"tidscope": [*tidscope_cmd(), "ps", "-p", "1"], "python": [sys.executable, "-c", "pass"]},
        repeat,
    )
    ratio = s["tidscope"].median / s["python"].median
    return [
        row(
            "start-up: tidscope ps -p 1",
            s["tidscope"].span(),
            f"python -c pass: {s['python'].span()}",
            ratio,
            "<= 2x",
            ratio <= 2,
        )
    ]


def machine() -> dict[str, str]:
    def version(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        except OSError:
            return "missing"
        return (
            (out.stdout or out.stderr).strip().splitlines()[0] if out.stdout or out.stderr else "?"
        )

    import psutil

    import tidscope

    return {
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "tidscope": tidscope.__version__,
        "procps": version(["ps", "--version"]),
        "pstree": version(["pstree", "--version"]),
        "psutil": psutil.__version__,
    }


SUITES: dict[str, Callable[[argparse.Namespace], list[Row]]] = {
    "ps": lambda a: bench_ps(a.sizes, a.repeat),
    "tree": lambda a: bench_tree(a.tree_sizes, max(1, a.repeat // 2)),
    "spawn": lambda a: bench_spawn(a.spawn, a.repeat),
    "memory": lambda a: bench_memory(a.spawn, max(1, a.repeat // 2)),
    "startup": lambda a: bench_startup(a.repeat * 4),
}


def _sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--sizes", type=_sizes, default=[10000, 30000], help="extra threads for ps")
    p.add_argument(
        "--tree-sizes", type=_sizes, default=[1000, 10000, 30000], help="extra threads for tree"
    )
    p.add_argument("--spawn", type=int, default=10000, help="threads for spawn and memory")
    p.add_argument("--repeat", type=int, default=5, help="runs per command after a warm-up")
    p.add_argument("--watch-seconds", type=float, default=3.0, help="seconds of load per watch run")
    p.add_argument("--only", default=",".join(SUITES), help="suites: " + ",".join(SUITES))
    p.add_argument("--quick", action="store_true", help="tiny sizes, one run: a smoke test")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.tree_sizes, args.spawn, args.repeat = [50], [20, 40, 60], 50, 1
        args.watch_seconds = 0.5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    rows: list[Row] = []
    for name in args.only.split(","):
        if name not in SUITES:
            print(f"benchmarks: unknown suite {name!r}: choose from {', '.join(SUITES)}")
            return 2
        rows += SUITES[name](args)
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "results": rows}, indent=2))
        return 0
    from tidscope.render import render

    print("  ".join(f"{k}: {v}" for k, v in info.items()))
    render(rows, ["benchmark", "tidscope", "peer", "ratio", "target", "met"], "table")
    return 0


SUITES["share"] = lambda a: bench_share(max(a.sizes), a.repeat)


SUITES["watch"] = lambda a: bench_watch(a.watch_seconds, (TARGET_RATE,) if a.quick else RATES)


SUITES["launcher"] = lambda a: bench_launcher(a.repeat * 4)


SUITES["top"] = lambda a: bench_top(a.sizes, a.repeat)
