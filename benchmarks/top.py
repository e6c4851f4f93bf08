"""One refresh of ``tidscope top`` at N extra threads (issue 24).

Three costs side by side, each measured in the same run with the same
threads held:

- tidscope's refresh: one reading of every thread (stat and schedstat of
  each, status, sched and wchan of those that ran), timed in this process
  after a first reading (the baseline every later refresh carries over
  from): wall seconds and CPU seconds (all threads of the process: the C
  reader reads on two);
- the floor: benchmarks/floor.c, open-read-close every task's stat once,
  one thread, wall seconds;
- ``top -H -b -n 2 -d 0.1``'s CPU per refresh: the CPU it used (user and
  system, from wait4) less that of ``top -H -b -n 1``, so start-up and its
  first reading cancel out.

Goals: a refresh's wall time at most 1.5x the floor's; less CPU than top -H.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import time

from benchmarks import holders
from benchmarks.timing import Row, row

FLOOR_GOAL = 1.5


def _cpu_of(cmd: list[str]) -> tuple[float, float]:
    """(wall, user+system CPU seconds) of one run of ``cmd``, output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def _refresh(repeat: int) -> tuple[list[float], list[float]]:
    from tidscope.top.sample import Sampler
    from tidscope.top.select import Selection

    sampler = Sampler(Selection(), "/proc")
    sampler.read()
    walls, cpus = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        sampler.read()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return walls, cpus


def bench_top(sizes: list[int], repeat: int) -> list[Row]:
    rows: list[Row] = []
    work = holders.workdir()
    try:
        floor = holders.compile_floor(work)
        top = shutil.which("top")
        for n in sizes:
            with holders.start("raw", n):
                walls, cpus = _refresh(repeat)
                floors = [_cpu_of([floor])[0] for _ in range(repeat)] if floor else []
                tops: list[float] = []
                if top:
                    for _ in range(max(1, repeat // 2)):
                        one = _cpu_of([top, "-H", "-b", "-n", "1"])[1]
                        two = _cpu_of([top, "-H", "-b", "-n", "2", "-d", "0.1"])[1]
                        tops.append(two - one)
            wall, cpu = statistics.median(walls), statistics.median(cpus)
            span = f"{wall:.3f} s wall ({min(walls):.3f}-{max(walls):.3f}), {cpu:.3f} s CPU"
            if floors:
                f = statistics.median(floors)
                rows.append(
                    row(
                        f"top refresh, {n} extra threads (wall)",
                        span,
                        f"floor: {f:.3f} s",
                        wall / f,
                        f"<= {FLOOR_GOAL}x",
                        wall / f <= FLOOR_GOAL,
                    )
                )
            if tops:
                t = statistics.median(tops)
                rows.append(
                    row(
                        f"top refresh, {n} extra threads (CPU)",
                        f"{cpu:.3f} s CPU",
                        f"top -H: {t:.3f} s CPU per refresh",
                        cpu / t if t > 0 else float("inf"),
                        "< 1x",
                        cpu < t,
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
