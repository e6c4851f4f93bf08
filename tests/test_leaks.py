"""Long runs in one process leak nothing: descriptors, mappings, threads,
children and resident memory come back to where they were.

The baseline is taken after a warm-up: the core keeps a few released stack
mappings for reuse (as a pthread library does), and Python's allocator and
caches settle; what must not happen is growth with the number of cycles.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers import python

MIB = 1 << 20
RSS_GROWTH = 8 * MIB

SNAPSHOT = """
import gc, json, os, time
me = os.getpid()

def snap():
    gc.collect()
    with open("/proc/self/maps") as f:
        maps = sum(1 for _ in f)
    with open(f"/proc/self/task/{me}/children") as f:
        kids = f.read().split()
    with open("/proc/self/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return dict(
        fds=sorted(os.listdir("/proc/self/fd")),
        maps=maps,
        tasks=sorted(int(t) for t in os.listdir("/proc/self/task")),
        kids=kids,
        rss=rss,
    )
"""


def _same_but_rss(out: dict[str, Any]) -> None:
    base, end = out["base"], out["end"]
    assert {k: v for k, v in end.items() if k != "rss"} == {
        k: v for k, v in base.items() if k != "rss"
    }
    assert end["rss"] - base["rss"] < RSS_GROWTH, (base["rss"], end["rss"])


@pytest.mark.slow
@pytest.mark.floods_connector  # 20,000 births and exits as fast as they come
def test_ten_thousand_spawn_join_cycles() -> None:
    """Threads and processes, one and two at a time, 10,000 cycles."""
    out = python(
        SNAPSHOT
        + """
from tidscope.core import flags
from tidscope.core.clone import Children

KINDS = [(1, flags.THREAD), (2, flags.THREAD), (1, flags.PROCESS), (2, flags.PROCESS)]

def cycle(i):
    count, value = KINDS[i % len(KINDS)]
    with Children(count, value) as ch:
        assert ch.spawned == count and all(r.ran for r in ch.reports())

for i in range(100):
    cycle(i)
base = snap()
start = time.monotonic()
for i in range(10_000):
    cycle(i)
took = time.monotonic() - start
print(json.dumps(dict(base=base, end=snap(), took=took)))
""",
        timeout=600,
    )
    _same_but_rss(out)


@pytest.mark.slow
def test_a_thousand_verify_flags_runs() -> None:
    """The VM experiment, in its lab process, 1,000 times."""
    out = python(
        SNAPSHOT
        + """
from tidscope.lab import verify

def run():
    (row,) = verify.run_experiments(["VM"])
    assert row.verdict == "pass", row

for _ in range(20):
    run()
base = snap()
start = time.monotonic()
for _ in range(1000):
    run()
took = time.monotonic() - start
print(json.dumps(dict(base=base, end=snap(), took=took)))
""",
        timeout=600,
    )
    _same_but_rss(out)
