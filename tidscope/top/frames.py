"""The readings, one interval apart, and batch mode's frames.

:func:`intervals` reads the selected threads, waits, reads again, and
yields each interval's rows; every reading starts ``delay`` seconds after
the one before it started (at once if reading took longer).  Batch mode
(:func:`batch`) prints each interval through render.py:

- ``table``: a line saying when, over how long, and how many threads, then
  the threads' table, a blank line between frames (as ``top -b -H``);
- ``json``: one JSON object per interval, on one line (JSON Lines):
  ``time`` (Unix seconds), ``interval`` (seconds), ``threads`` (the rows);
- ``csv``: one row per thread per interval, each with the interval's
  ``time`` and ``interval``; the header line once.
"""

from __future__ import annotations

import time

from tidscope.render import render
from tidscope.top import interval, pools
from tidscope.top.columns import KEYS, TABLE, sort_key
from tidscope.top.sample import Sampler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import IO, Any

    Row = dict[str, Any]


class Interval:
    """One interval's rows, the Unix second it ended at, and its length."""

    __slots__ = ("length", "rows", "time")

    def __init__(self, rows: list[Row], when: float, length: float) -> None:
        self.rows = rows
        self.time = when
        self.length = length


def intervals(sampler: Sampler, delay: float, count: int | None = None) -> Iterator[Interval]:
    """``count`` intervals (None: until stopped) of ``delay`` seconds."""
    before = sampler.read()
    began = sampler.began
    done = 0
    while count is None or done < count:
        wait = began + delay - sampler.clock()
        if wait > 0:
            time.sleep(wait)
        after = sampler.read()
        rows = interval.rows(before, after, began)
        yield Interval(rows, time.time(), sampler.began - began)
        before, began = after, sampler.began
        done += 1


def ordered(rows: list[Row], sort: str, fold: bool) -> list[Row]:
    """``rows`` sorted by ``sort``, pools folded if ``fold``."""
    if fold:
        rows = pools.fold(rows)
    return sorted(rows, key=sort_key(sort))


def batch(
    sampler: Sampler,
    delay: float,
    count: int | None,
    fmt: str,
    sort: str,
    fold: bool,
    headers: bool,
    out: IO[str],
) -> None:
    """Print ``count`` intervals (None: until stopped) as ``fmt``."""
    first = True
    for frame in intervals(sampler, delay, count):
        rows = ordered(frame.rows, sort, fold)
        stamp = round(frame.time, 3)
        length = round(frame.length, 3)
        if fmt == "json":
            doc = {"time": stamp, "interval": length, "threads": rows}
            render([doc], None, "jsonl", out=out, flush=True)
        elif fmt == "csv":
            for r in rows:
                r["time"] = stamp
                r["interval"] = length
            render(
                rows,
                ("time", "interval", *KEYS),
                "csv",
                headers=headers and first,
                out=out,
                flush=True,
            )
        else:
            if not first:
                out.write("\n")
            out.write(summary(frame) + "\n")
            columns = TABLE if fold else tuple(k for k in TABLE if k != "threads")
            render(rows, columns, "table", headers=headers, out=out, flush=True)
        first = False


def summary(frame: Interval) -> str:
    """The line above a frame's table: when, over how long, how many."""
    running = sum(1 for r in frame.rows if r.get("s") == "R")
    processes = len({r["pid"] for r in frame.rows})
    clock = time.strftime("%H:%M:%S", time.localtime(frame.time))
    return (
        f"tidscope top - {clock}  interval {frame.length:.2f} s  threads {len(frame.rows)}"
        f" ({running} running)  processes {processes}"
    )
