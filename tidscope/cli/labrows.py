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


def report(
    lab: Any,
    run: Callable[[], list[Any]],
    names: list[str] | None,
    evidence: bool,
    strict: bool,
    fmt: str,
    no_headers: bool,
    proven: Sequence[str] = ("pass",),
) -> int:
    """``run()``'s rows of ``lab`` (lab.verify or lab.threads: its
    ``COLUMNS`` for the table, ``JSON_COLUMNS`` for JSON and CSV,
    ``row_dict``, ``explain_lines`` and ``not_run``) printed in ``fmt``;
    with ``evidence`` (--explain), JSON and CSV carry it in a column and
    the table is followed by each row's evidence.  The exit status: 0 when
    no row is fail or error (skip rows are fine), 1 otherwise; with
    ``strict``, 0 only when every verdict is one of ``proven``."""
    rows = run_rows(run, lambda why: lab.not_run(names, why))
    cols = lab.COLUMNS if fmt == "table" else lab.JSON_COLUMNS
    if evidence and fmt != "table":
        cols = (*cols, "evidence")
    render([lab.row_dict(r, evidence) for r in rows], cols, fmt, headers=not no_headers)
    if evidence and fmt == "table":
        for row in rows:
            click.echo("\n" + "\n".join(lab.explain_lines(row)))
    verdicts = [r.verdict for r in rows]
    if strict:
        return 0 if all(v in proven for v in verdicts) else 1
    return 1 if any(v in ("fail", "error") for v in verdicts) else 0
