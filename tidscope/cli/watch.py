"""``tidscope watch``: thread and process births, execs and exits, live:
from the kernel's process-events connector, from /proc polled (lossy), or
from one command's tree traced with ptrace (``--run``)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from tidscope.cli.options import PidRange, output_options, seconds
from tidscope.errors import TidscopeError, UsageError, note
from tidscope.proc.files import PROC
from tidscope.proc.root import foreign_note
from tidscope.proc.task import ID_MAX
from tidscope.render import render
from tidscope.watch import connector as watch
from tidscope.watch import event as watch_event

COLUMNS = ("time", "event", "kind", "tgid", "tid", "parent", "detail", "name")
WIDTHS = ("<15", "<8", "<7", ">7", ">7", ">7", "<14", "")  # the table's, fixed: rows stream
SUMMARY = ("tgid", "threads_created", "threads_exited", "shortest_life", "median_life", "name")
POLL = "0.1"  # --poll alone: seconds
SUMMARY_WIDTHS = (">7", ">15", ">14", ">13", ">11", "")
GONE = "?"  # the name of a task that is gone, in a table and in CSV


@click.command("watch")
@click.option(
    "--pid", type=PidRange(1, ID_MAX), help="Only events whose tgid or parent tgid is PID."
)
@click.option(
    "--threads-only",
    is_flag=True,
    help="Only thread births and exits (a leader's exit while its group lives on included).",
)
@click.option(
    "--processes-only",
    is_flag=True,
    help="Only process births and exits (a group's exit once, when its last thread ends).",
)
@click.option("--duration", metavar="S", help="Stop after S seconds (a decimal number above 0).")
@click.option("--count", type=PidRange(1), metavar="N", help="Stop after N events.")
@click.option(
    "--summary",
    is_flag=True,
    help="At the end, threads created/exited and their lifetimes per group.",
)
@click.option(
    "--run",
    "command",
    metavar="CMD",
    help="Run CMD (with sh) and follow its whole tree with ptrace instead, each clone's "
    "flags decoded; exit with its status.",
)
@click.option(
    "--poll",
    is_flag=False,
    flag_value=POLL,
    default=None,
    metavar="[S]",
    help="Poll /proc every S seconds (0.1 alone) instead of the connector: lossy.  "
    "Chosen by itself when the connector refuses us.",
)
@output_options()
def command(
    pid: int | None,
    threads_only: bool,
    processes_only: bool,
    duration: str | None,
    count: int | None,
    summary: bool,
    command: str | None,
    poll: str | None,
    fmt: str,
    no_headers: bool,
) -> int:
    """Print thread and process births, execs, exits, renames, id changes
    and ptrace attaches as the kernel reports them.

    A new task is a thread or a process by the event's own ids, never by a
    later look into /proc.  Names are read from /proc when the task is
    still there and print as ? when it is gone.  Where the connector
    refuses us, or reports to other namespaces than ours, /proc is polled
    (lossy, and said so first); --run follows one command's tree exactly
    with ptrace.
    """
    from tidscope.core import signals
    from tidscope.watch import summary as watch_summary

    if threads_only and processes_only:
        raise UsageError("--threads-only and --processes-only exclude each other: give one")
    threads = True if threads_only else False if processes_only else None
    fmt = fmt.lower()
    deadline = (
        None if duration is None else time.monotonic() + seconds(duration, "--duration", "10")
    )
    tally = watch_summary.Summary()
    if command is not None and poll is not None:
        raise UsageError("--run and --poll are two ways to watch: give one of them")
    interval = (
        None if poll is None else seconds(poll, "--poll", "1", alone=f"poll every {POLL} seconds")
    )
    with signals.terminating_signals(), contextlib.ExitStack() as stack:
        sources: list[Any] = []  # the source, once made: its first scan may be interrupted
        foreign: str | None = None  # what /proc of another pid namespace means, if it is one

        def rows() -> Iterator[dict[str, Any]]:
            seen = 0
            for event in conn.events(deadline):
                if not watch_event.selected(event, pid, threads):
                    continue
                if summary:
                    tally.add(event)
                yield _shown(_row(event, foreign is None), fmt)
                seen += 1
                if count is not None and seen >= count:
                    return

        try:
            conn = _source(stack, command, interval, sources.append)
            foreign = foreign_note("watch", PROC, FOREIGN[_mode(command, conn)])
            _render(rows(), COLUMNS, WIDTHS, fmt, no_headers)
        finally:
            if sources:
                tallied = tally if summary else None
                _ended(sources[0], fmt, tallied, no_headers, foreign is None)
    status = getattr(conn, "status", None)
    if status is None:  # the watch ended by --duration or --count (CMD, if any, killed)
        return 0
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _ended(conn: Any, fmt: str, tally: Any, no_headers: bool, names: bool) -> None:
    """The summary (``tally``, with --summary) and the notes on what was
    missed, however the watch ended: a signal during the first /proc scan
    included.  ``names``: /proc is our namespace's, names may be read there."""
    if tally is not None:
        _summary(fmt, tally, conn, no_headers, names)
    if conn.lost or conn.overruns:
        note(
            "watch",
            f"{conn.lost} events were lost ({conn.overruns} receive buffer overruns):"
            " the output is incomplete",
        )
    late = getattr(conn, "last_line", None)  # polled: scans slower than asked
    if late is not None:
        note("watch", late)


def _source(
    stack: contextlib.ExitStack,
    command: str | None,
    interval: float | None,
    made: Callable[[Any], None],
) -> Any:
    """What the events come from, entered on ``stack``: CMD traced (--run),
    /proc polled (--poll, or when the connector refuses us or reports to
    other namespaces than ours), or the connector.
    ``made`` is given it once it is entered, a poller before (its first
    scan, a second or more on a crowded machine, is in its entering: a
    signal during it still ends the watch with its summary)."""
    if command is not None:
        from tidscope.watch.tracer import Tracer

        if not command.strip():
            raise UsageError("--run needs a command: give e.g. --run 'sleep 1'")
        tracer = stack.enter_context(Tracer(["/bin/sh", "-c", command]))
        made(tracer)
        return tracer
    from tidscope.proc.root import hidden_note, outside_initial

    why = ""
    if interval is None:
        elsewhere = outside_initial()
        if elsewhere is not None:  # the kernel ignores our subscription there
            why = (
                "the process-events connector reports to the initial pid and user"
                f" namespaces only, and we are in another {elsewhere}; "
            )
            interval = 0.1
    if interval is None:
        try:
            connector = stack.enter_context(watch.Connector())
            made(connector)
            return connector
        except TidscopeError as err:
            if err.message != watch.NEEDS_ROOT:
                raise
            why = "the process-events connector refuses us (EPERM: it needs CAP_NET_ADMIN); "
            interval = 0.1
    from tidscope.watch.poll import Poller

    poller = Poller(interval)
    made(poller)
    note("watch", why + poller.first_line)
    hidden_note("watch", "/proc")
    return stack.enter_context(poller)


def _mode(command: str | None, conn: Any) -> str:
    if command is not None:
        return "run"
    return "poll" if hasattr(conn, "last_line") else "connector"


# What /proc of another pid namespace means for each way of watching.
FOREIGN = {
    "run": "the tracees are shown without names (that /proc names other tasks)",
    "poll": "the pids and tasks shown are that namespace's",
    "connector": "the connector's pids are the initial namespace's, named from that /proc",
}


def _row(event: Any, look_up: bool = True) -> dict[str, Any]:
    """An event's row; ``look_up``: a name not in the event is read from /proc."""
    name = event.comm
    if name is None and look_up:
        name = watch.name_of(event.tid, event.tgid)
    kind = watch_event.scope(event)
    row: dict[str, Any] = {
        "time": watch.wall_clock(event.time_ns),
        "monotonic_ns": event.time_ns,
        "cpu": None if event.cpu < 0 else event.cpu,
        "event": event.kind,
        "kind": kind,
        "tgid": event.tgid,
        "tid": event.tid,
        "parent": event.parent_tgid,
        "parent_tid": event.parent_tid,
        "name": name,
        "detail": None,
    }
    if event.flags is not None:
        from tidscope.core.flags import names

        clone3 = event.call == "clone3"
        row.update(call=event.call, flags=event.flags, flag_names=names(event.flags, clone3))
        short = [n.removeprefix("CLONE_") for n in row["flag_names"]]
        row["detail"] = f"{event.call} {'|'.join(short) or '0'}"
    elif event.kind == "exec" and event.parent_tid not in (None, event.tid):
        row["detail"] = f"by tid {event.parent_tid}"
    elif event.kind == "exit" and event.exit_code is None:
        row.update(exit_code=None, exit_signal=None, status=None, signal=None)
        row.update(last_tid=event.last_tid, maybe_exec=event.maybe_exec)
        if event.maybe_exec:
            row["detail"] = "or exec'd"
    elif event.kind == "exit":
        code = event.exit_code
        row.update(exit_code=code, exit_signal=event.exit_signal)
        killed = code & 0x7F
        row.update(status=None if killed else code >> 8 & 0xFF, signal=killed or None)
        row.update(last_tid=event.last_tid, maybe_exec=event.maybe_exec)
        row["detail"] = _signal(killed) if killed else f"status {code >> 8 & 0xFF}"
    elif event.ids is not None:
        row.update(real=event.ids[0], effective=event.ids[1])
        row["detail"] = f"{event.kind} {event.ids[0]}/{event.ids[1]}"
    return row


def _signal(signo: int) -> str:
    from tidscope.proc.masks import signal_name

    return f"killed {signal_name(signo)}"


_clock: dict[int, str] = {}


def _stamp(seconds: float) -> str:
    whole = int(seconds)
    head = _clock.get(whole)
    if head is None:
        _clock.clear()
        head = _clock[whole] = time.strftime("%H:%M:%S", time.localtime(whole))
    return f"{head}.{int(seconds % 1 * 1e6):06d}"


def _shown(row: dict[str, Any], fmt: str) -> dict[str, Any]:
    """An event's row as ``fmt`` shows it: JSON with the time in seconds and
    no ``detail``; a table and CSV with the time of day and ``?`` for the
    name of a task that is gone."""
    if fmt == "json":
        del row["detail"]
    else:
        row["time"] = _stamp(row["time"])
        if row["name"] is None:
            row["name"] = GONE
    return row


def _render(
    rows: Iterable[dict[str, Any]],
    columns: tuple[str, ...],
    widths: tuple[str, ...],
    fmt: str,
    no_headers: bool,
) -> None:
    """Rows printed and flushed as they come: JSON Lines for ``json``."""
    json = fmt == "json"
    render(
        rows,
        None if json else columns,
        "jsonl" if json else fmt,
        headers=not no_headers,
        widths=widths,
        flush=True,
    )


def _summary(fmt: str, tally: Any, conn: Any, no_headers: bool, names: bool = True) -> None:
    from tidscope.watch.summary import duration

    rows = []
    for tgid in sorted(tally.groups):
        group = tally.groups[tgid]
        rows.append(
            {
                "tgid": tgid,
                "threads_created": group.created,
                "threads_exited": group.exited,
                "shortest_lifetime_ns": group.shortest_ns,
                "median_lifetime_ns": group.median_ns,
                "lifetimes_measured": len(group.lifetimes_ns),
                "name": watch.name_of(tgid, tgid) if names else None,
            }
        )
    if fmt == "json":
        doc = {"summary": rows, "lost": conn.lost, "overruns": conn.overruns}
        _render([doc], (), (), fmt, no_headers)
        return
    for row in rows:
        row["shortest_life"] = duration(row["shortest_lifetime_ns"])
        row["median_life"] = duration(row["median_lifetime_ns"])
        if row["name"] is None:
            row["name"] = GONE
    print(flush=True)
    _render(rows, SUMMARY, SUMMARY_WIDTHS, fmt, no_headers)
