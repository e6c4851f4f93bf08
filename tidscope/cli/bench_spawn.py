"""``tidscope bench-spawn``: what a thread costs, raw clone vs pthreads vs Python."""

from __future__ import annotations

import click

from tidscope.cli.options import output_options
from tidscope.core.signals import terminating_signals

COLUMNS = ("pattern", "method", "threads", "us_per_thread", "min", "max", "raw_speedup")


@click.command("bench-spawn")
@click.option(
    "-n",
    "--threads",
    "count",
    type=click.IntRange(1, 100_000),
    default=1000,
    show_default=True,
    help="Threads each method creates and joins per run.",
)
@click.option(
    "--repeat",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Runs per method (after one warm-up); medians are compared.",
)
@click.option(
    "--pattern",
    type=click.Choice(["batch", "sequential", "both"]),
    default="both",
    show_default=True,
    help="batch: create all, then join all; sequential: create and join one at a time.",
)
@output_options()
def command(count: int, repeat: int, pattern: str, fmt: str, no_headers: bool) -> int:
    """Time creating and joining threads: raw clone(2) through tidscope's
    Python API, pthread_create/pthread_join in C, and Python's threading.

    RAW_SPEEDUP is how many times longer a method takes per thread than the
    raw clone does (above 1: raw clone is faster).
    """
    from tidscope.render import render
    from tidscope.spawn.bench import PATTERNS, compare

    patterns = PATTERNS if pattern == "both" else (pattern,)
    with terminating_signals():
        rows = compare(count, repeat, patterns)
    render(rows, COLUMNS, fmt.lower(), headers=not no_headers)
    return 0
