"""``tidscope top``: which thread is busy now, and what the others are doing."""

from __future__ import annotations

import sys

import click

from tidscope.cli.options import PidRange, output_options, proc_root_option, seconds
from tidscope.errors import TidscopeError, UsageError
from tidscope.top.columns import SORTS

DELAY = "1"  # seconds between readings, by default


@click.command("top")
@click.option(
    "-d",
    "--delay",
    default=DELAY,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between readings (a decimal number above 0).",
)
@click.option(
    "-n",
    "--iterations",
    "count",
    type=PidRange(1),
    metavar="COUNT",
    help="Stop after COUNT intervals.",
)
@click.option(
    "-b", "--batch", is_flag=True, help="Plain frames, as top -b -H (no terminal needed)."
)
@click.option(
    "-p",
    "--pid",
    "pids",
    multiple=True,
    metavar="PID[,PID...]",
    help="The threads of these processes.",
)
@click.option("--tid", "tids", multiple=True, metavar="TID[,TID...]", help="These threads.")
@click.option(
    "-u", "--user", "users", multiple=True, metavar="USER[,...]", help="Threads by effective user."
)
@click.option("-C", "commands", multiple=True, metavar="NAME[,NAME...]", help="Threads by name.")
@click.option(
    "-s",
    "--sort",
    type=click.Choice(SORTS),
    default="pcpu",
    show_default=True,
    help="The column to sort by (figures largest first).",
)
@click.option(
    "-H", "--flat", is_flag=True, help="Live view: threads flat, not under their process."
)
@click.option(
    "--pools",
    is_flag=True,
    help="Batch: fold each thread pool (names differing by a trailing number) into one row.",
)
@proc_root_option
@output_options()
def command(
    delay: str,
    count: int | None,
    batch: bool,
    pids: tuple[str, ...],
    tids: tuple[str, ...],
    users: tuple[str, ...],
    commands: tuple[str, ...],
    sort: str,
    flat: bool,
    pools: bool,
    proc_root: str,
    fmt: str,
    no_headers: bool,
) -> int:
    """Show each thread's CPU use and activity over the last interval.

    Every thread is read twice, SECONDS apart: %CPU (user and system),
    context switches (voluntary and involuntary), migrations and page
    faults a second, its last CPU, state, policy, nice and where it sleeps.
    In a terminal, a live view (threads under their process, q to quit);
    with -b, or --format json|csv, plain frames for scripts.
    """
    from tidscope.core import signals
    from tidscope.proc.root import hidden_note
    from tidscope.top.sample import Sampler
    from tidscope.top.select import Selection

    fmt = fmt.lower()
    interval = seconds(delay, "-d", "2")
    selection = Selection.parse(pids, tids, users, commands)
    live = not batch and fmt == "table"
    if live and not sys.stdout.isatty():
        raise UsageError(
            "the live view needs a terminal on standard output: give -b for plain frames,"
            " e.g. tidscope top -b -n 1"
        )
    sampler = Sampler(selection, proc_root)
    with signals.terminating_signals():
        if selection.ids_only:
            _check_found(sampler, selection)
        if live:
            _live(sampler, interval, count, sort, flat)
        else:
            from tidscope.top.frames import batch as print_frames

            print_frames(sampler, interval, count, fmt, sort, pools, not no_headers, sys.stdout)
    hidden_note("top", proc_root)
    return 0


def _check_found(sampler: object, selection: object) -> None:
    """-p and --tid alone: a list that names no thread is an error now,
    not an empty view."""
    from tidscope.top.sample import Sampler
    from tidscope.top.select import Selection

    assert isinstance(sampler, Sampler) and isinstance(selection, Selection)
    if sampler.read():
        return
    named = []
    if selection.pids:
        named.append("no process " + ", ".join(map(str, sorted(selection.pids))))
    if selection.tids:
        named.append("no thread " + ", ".join(map(str, sorted(selection.tids))))
    raise TidscopeError(" and ".join(named) + ": see tidscope ps -AT for the tasks there are")


def _live(sampler: object, interval: float, count: int | None, sort: str, flat: bool) -> None:
    from tidscope.text import procps_utf8
    from tidscope.top import live
    from tidscope.top.sample import Sampler

    assert isinstance(sampler, Sampler)
    enc = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    utf8 = enc == "utf8" and procps_utf8()
    sys.stdout.flush()
    state = live.State(sort, flat, fold=True)
    live.show(live.View(sampler, interval, count, state, utf8))
