"""What verify-flags and verify-threads print and exit with: each lab's
rows run with the terminating signals handled (a failure to handle them is
every row's error, for nothing may run without them), one row per
experiment through render.py, the evidence with --explain, and the exit
status from the verdicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from tidscope.core.signals import terminating_signals
from tidscope.render import render

R = TypeVar("R")


def run_rows(run: Callable[[], list[R]], not_run: Callable[[str], list[R]]) -> list[R]:
    """``run()``'s rows; if the signal handlers cannot be installed, no lab
    runs and ``not_run`` makes every row an error naming why."""
    try:
        with terminating_signals():
            return run()
    except OSError as err:  # labs answer every failure of theirs as a row
        return not_run(no_handlers(err))


def no_handlers(err: OSError) -> str:
    """Signal handlers we could not install: nothing may run without them."""
    from tidscope.errors import describe

    return "cannot handle terminating signals: " + describe(err, "rt_sigaction")


def show(
    rows: Sequence[R],
    columns: tuple[str, ...],
    json_columns: tuple[str, ...],
    as_dict: Callable[[R, bool], dict[str, Any]],
    explain: Callable[[R], list[str]],
    evidence: bool,
    fmt: str,
    no_headers: bool,
) -> None:
    """The rows in ``fmt``: the table with ``columns``, JSON and CSV with
    ``json_columns``; with ``evidence`` (--explain), JSON and CSV carry it
    in a column and the table is followed by each row's evidence."""
    cols = columns if fmt == "table" else json_columns
    if evidence and fmt != "table":
        cols = (*cols, "evidence")
    render([as_dict(r, evidence) for r in rows], cols, fmt, headers=not no_headers)
    if evidence and fmt == "table":
        for row in rows:
            click.echo("\n" + "\n".join(explain(row)))


def exit_status(verdicts: Sequence[str], strict: bool, proven: Sequence[str] = ("pass",)) -> int:
    """0 when no row is fail or error (skip rows are fine), 1 otherwise;
    with ``strict``, 0 only when every verdict is one of ``proven``."""
    if strict:
        return 0 if all(v in proven for v in verdicts) else 1
    return 1 if any(v in ("fail", "error") for v in verdicts) else 0
