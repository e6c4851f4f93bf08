"""Raw clone against pthreads and Python threads: the cost of a thread.

Each method creates ``n`` threads that do nothing and joins them, either all
created before any is joined (``batch``) or one created and joined at a
time (``sequential``).  Raw threads go through the Python API (one
:class:`~tidscope.core.clone.Children` per batch, or per thread); pthreads are
timed in C, inside the extension, with default attributes.  Methods run
alternately, after a warm-up, and the medians are compared.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

from tidscope.core import _rawclone
from tidscope.core.clone import Children

PATTERNS = ("batch", "sequential")


def raw(n: int, batch: bool) -> float:
    """Seconds for n raw threads (thread preset, no program, not parked)."""
    start = time.perf_counter()
    if batch:
        with Children(n, program=(), park=False):
            pass
    else:
        for _ in range(n):
            with Children(1, program=(), park=False):
                pass
    return time.perf_counter() - start


def pthread(n: int, batch: bool) -> float:
    return _rawclone.pthread_bench(n, batch) / 1e9


def python_threads(n: int, batch: bool) -> float:
    start = time.perf_counter()
    if batch:
        threads = [threading.Thread(target=int) for _ in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    else:
        for _ in range(n):
            t = threading.Thread(target=int)
            t.start()
            t.join()
    return time.perf_counter() - start


METHODS: dict[str, Callable[[int, bool], float]] = {
    "raw clone": raw,
    "pthread (C)": pthread,
    "Python threading": python_threads,
}


def compare(n: int, repeat: int, patterns: tuple[str, ...] = PATTERNS) -> list[dict[str, Any]]:
    """One row per pattern and method: µs per thread (median, min, max) and
    how many times the raw clone's rate each method reaches."""
    rows = []
    for pattern in patterns:
        batch = pattern == "batch"
        times: dict[str, list[float]] = {m: [] for m in METHODS}
        for fn in METHODS.values():  # warm-up: caches, page faults, lazy imports
            fn(min(n, 100), batch)
        for _ in range(repeat):
            for m, fn in METHODS.items():
                times[m].append(fn(n, batch) / n * 1e6)
        raw_us = statistics.median(times["raw clone"])
        for m, xs in times.items():
            med = statistics.median(xs)
            rows.append(
                {
                    "pattern": pattern,
                    "method": m,
                    "threads": n,
                    "us_per_thread": round(med, 2),
                    "min": round(min(xs), 2),
                    "max": round(max(xs), 2),
                    "raw_speedup": round(med / raw_us, 2),
                }
            )
    return rows
