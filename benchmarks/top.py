"""One refresh of ``tidscope top`` at N extra threads (issue 24).

Three costs side by side, each measured in the same run with the same
threads held:

- tidscope's refresh: one reading of every thread (stat and schedstat of
  each; its owner, status, sched and wchan of those that ran) and each
  thread's figures over the interval (interval.rows: what the live view
  sorts and draws, and batch mode prints), timed in this process after a
  first reading (the baseline every later refresh carries over from): wall
  seconds and CPU seconds (all threads of the process: the C reader reads
  on two);
- the floor: benchmarks/floor.c, open-read-close every task's stat once,
  one thread, wall seconds (its CPU seconds beside them), run in turn with
  the refreshes: the ratio is the median of each pair's;
- ``top -H -b -n 2 -d 0.1``'s CPU per refresh: the CPU it used (user and
  system, from wait4) less that of ``top -H -b -n 1``, so start-up and its
  first reading cancel out.

Goals: a refresh's wall time at most 1.5x the floor's; less CPU than top -H.
A refresh reads two files of each thread where the floor reads one (the
kernel's work alone is about 1.6x the floor's CPU): its wall time comes
under 1.5x the floor's only when its two reading threads each have a core,
so the wall ratio says as much about the machine's load as about tidscope;
the floor's CPU seconds are printed beside its wall seconds to tell.
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


class _Refresher:
    """tidscope top's sampler over every thread, after its first reading."""

    def __init__(self) -> None:
        from tidscope.top.sample import Sampler
        from tidscope.top.select import Selection

        self.sampler = Sampler(Selection(), "/proc")
        self.before = self.sampler.read()

    def once(self) -> tuple[float, float]:
        """(wall, CPU seconds) of one refresh: a reading and the figures."""
        from tidscope.top import interval

        began = self.sampler.began
        c0, w0 = time.process_time(), time.perf_counter()
        after = self.sampler.read()
        interval.rows(self.before, after, began)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        self.before = after
        return wall, cpu


def bench_top(sizes: list[int], repeat: int) -> list[Row]:
    rows: list[Row] = []
    work = holders.workdir()
    try:
        floor = holders.compile_floor(work)
        top = shutil.which("top")
        for n in sizes:
            with holders.start("raw", n):
                refresher = _Refresher()
                walls, cpus, floors, floor_cpus = [], [], [], []
                for _ in range(repeat):  # in turn, so that a change of load hits both
                    wall, cpu = refresher.once()
                    walls.append(wall)
                    cpus.append(cpu)
                    if floor:
                        f_wall, f_cpu = _cpu_of([floor])
                        floors.append(f_wall)
                        floor_cpus.append(f_cpu)
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
                ratio = statistics.median(a / b for a, b in zip(walls, floors, strict=True))
                rows.append(
                    row(
                        f"top refresh, {n} extra threads (wall)",
                        span,
                        f"floor: {f:.3f} s ({statistics.median(floor_cpus):.3f} s CPU)",
                        ratio,
                        f"<= {FLOOR_GOAL}x",
                        ratio <= FLOOR_GOAL,
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
