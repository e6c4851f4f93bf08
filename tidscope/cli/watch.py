"""``tidscope watch``: thread and process births, execs and exits, live,
from the kernel's process-events connector (root only)."""

from __future__ import annotations

import csv
import json
import sys
import time
from typing import Any

import click

from tidscope.cli.options import output_options
from tidscope.cli.tree import PidRange
from tidscope.errors import UsageError, note
from tidscope.procfs import ID_MAX

COLUMNS = ("time", "event", "kind", "tgid", "tid", "parent", "detail", "name")
LINE = "{:<15}  {:<8}  {:<7}  {:>7}  {:>7}  {:>7}  {:<14}  {}"
SUMMARY = ("tgid", "threads_created", "threads_exited", "shortest_life", "median_life", "name")
MAX_SECONDS = 10**9  # 31 years: what every clock here counts without trouble
SUMMARY_LINE = "{:>7}  {:>15}  {:>14}  {:>13}  {:>11}  {}"


@click.command("watch")
@click.option(
    "--pid", type=PidRange(1, ID_MAX), help="Only events whose tgid or parent tgid is PID."
)
@click.option("--threads-only", is_flag=True, help="Only thread births and exits.")
@click.option("--processes-only", is_flag=True, help="Only process births and exits.")
@click.option("--duration", metavar="S", help="Stop after S seconds (a decimal number above 0).")
@click.option("--count", type=PidRange(1), metavar="N", help="Stop after N events.")
@click.option("--summary", is_flag=True, help="At the end, threads created/exited per group.")
@output_options()
def command(
    pid: int | None,
    threads_only: bool,
    processes_only: bool,
    duration: str | None,
    count: int | None,
    summary: bool,
    fmt: str,
    no_headers: bool,
) -> int:
    """Print thread and process births, execs, exits, renames, id changes
    and ptrace attaches as the kernel reports them (needs root).

    A new task is a thread or a process by the event's own ids, never by a
    later look into /proc.  Names are read from /proc when the task is
    still there and print as ? when it is gone.
    """
    from tidscope import signals, watch, watch_summary

    if threads_only and processes_only:
        raise UsageError("--threads-only and --processes-only exclude each other: give one")
    threads = True if threads_only else False if processes_only else None
    fmt = fmt.lower()
    deadline = None if duration is None else time.monotonic() + _seconds(duration)
    tally = watch_summary.Summary()
    out = sys.stdout
    writer = csv.writer(out, lineterminator="\n")
    with signals.terminating_signals(), watch.Connector() as conn:
        try:
            if not no_headers:
                _header(fmt, writer, COLUMNS, LINE)
            seen = 0
            for event in conn.events(deadline):
                if not watch.selected(event, pid, threads):
                    continue
                tally.add(event)
                _write(fmt, writer, _row(event))
                seen += 1
                if count is not None and seen >= count:
                    break
        finally:
            if summary:
                _summary(fmt, writer, tally, conn, no_headers)
            if conn.lost or conn.overruns:
                note(
                    "watch",
                    f"{conn.lost} events were lost ({conn.overruns} receive buffer overruns):"
                    " the output is incomplete",
                )
    return 0


def _seconds(value: str) -> float:
    """--duration: ASCII decimals above 0, at most MAX_SECONDS."""
    from tidscope.numbers import decimal_fraction

    seconds = decimal_fraction(value)
    if seconds is None or not 0 < seconds <= MAX_SECONDS:
        raise UsageError(
            f"--duration {value!r} is not a number of seconds above 0 and at most {MAX_SECONDS}:"
            " give e.g. --duration 10 or --duration 0.5"
        )
    return seconds


def _row(event: Any) -> dict[str, Any]:
    from tidscope import watch

    name = event.comm if event.comm is not None else watch.name_of(event.tid, event.tgid)
    kind = None if event.thread is None else "thread" if event.thread else "process"
    row: dict[str, Any] = {
        "time": watch.wall_clock(event.time_ns),
        "monotonic_ns": event.time_ns,
        "cpu": event.cpu,
        "event": event.kind,
        "kind": kind,
        "tgid": event.tgid,
        "tid": event.tid,
        "parent": event.parent_tgid,
        "parent_tid": event.parent_tid,
        "name": name,
        "detail": None,
    }
    if event.kind == "exit":
        code = event.exit_code
        row.update(exit_code=code, exit_signal=event.exit_signal)
        killed = code & 0x7F
        row.update(status=None if killed else code >> 8 & 0xFF, signal=killed or None)
        row["detail"] = _signal(killed) if killed else f"status {code >> 8 & 0xFF}"
    elif event.ids is not None:
        row.update(real=event.ids[0], effective=event.ids[1])
        row["detail"] = f"{event.kind} {event.ids[0]}/{event.ids[1]}"
    return row


def _signal(signo: int) -> str:
    from tidscope.flags import signal_name

    return f"killed {signal_name(signo)}"


def _stamp(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds)) + f".{int(seconds % 1 * 1e6):06d}"


def _header(fmt: str, writer: Any, columns: tuple[str, ...], line: str) -> None:
    if fmt == "table":
        print(line.format(*(c.upper() for c in columns)), flush=True)
    elif fmt == "csv":
        writer.writerow(columns)
        sys.stdout.flush()


def _write(fmt: str, writer: Any, row: dict[str, Any]) -> None:
    from tidscope.text import clean, escape

    name = row["name"]
    if fmt == "json":
        row = {**row, "name": None if name is None else clean(name)}
        print(json.dumps({k: v for k, v in row.items() if k != "detail"}), flush=True)
        return
    cells = [_cell(row[c]) for c in COLUMNS]
    cells[0] = _stamp(row["time"])
    if fmt == "table":
        cells[-1] = "?" if name is None else escape(name)
        print(LINE.format(*cells), flush=True)
    else:
        cells[-1] = "?" if name is None else clean(name)
        writer.writerow(cells)
        sys.stdout.flush()


def _cell(value: Any) -> str:
    return "-" if value is None else str(value)


def _summary(fmt: str, writer: Any, tally: Any, conn: Any, no_headers: bool) -> None:
    from tidscope import watch
    from tidscope.watch_summary import duration

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
                "name": watch.name_of(tgid, tgid),
            }
        )
    if fmt == "json":
        doc = {"summary": rows, "lost": conn.lost, "overruns": conn.overruns}
        print(json.dumps(doc), flush=True)
        return
    print(flush=True)
    if not no_headers:
        _header(fmt, writer, SUMMARY, SUMMARY_LINE)
    for row in rows:
        row["shortest_life"] = duration(row["shortest_lifetime_ns"])
        row["median_life"] = duration(row["median_lifetime_ns"])
        cells = [_cell(row[c]) for c in SUMMARY]
        cells[-1] = "?" if row["name"] is None else cells[-1]
        if fmt == "table":
            print(SUMMARY_LINE.format(*cells), flush=True)
        else:
            writer.writerow(cells)
            sys.stdout.flush()
