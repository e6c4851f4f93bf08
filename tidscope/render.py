"""One way to print rows: a table for people, JSON and CSV for scripts.

Every command builds a list of dicts and a list of column names and hands
both to :func:`render`.  ``ps``'s procps-exact layout is the only other
renderer (see pslist.py).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from typing import IO, Any

Row = Mapping[str, Any]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def table(rows: Sequence[Row], columns: Sequence[str], headers: bool = True) -> str:
    """Upper-case headers, numbers right-aligned, two spaces between columns."""
    from tabulate import tabulate  # only tables pay for its import

    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    align = [
        "right" if rows and all(_is_number(r.get(c)) for r in rows) else "left" for c in columns
    ]
    text: str = tabulate(
        cells,
        headers=[c.upper() for c in columns] if headers else (),
        tablefmt="plain",
        disable_numparse=True,
        colalign=align,
    )
    return text + "\n" if text else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def render(
    rows: Sequence[Row],
    columns: Sequence[str],
    fmt: str,
    *,
    headers: bool = True,
    out: IO[str] | None = None,
) -> None:
    """Write ``rows`` (only ``columns`` of them, in that order) as ``fmt``."""
    out = out if out is not None else sys.stdout
    if fmt == "json":
        json.dump([{c: r.get(c) for c in columns} for r in rows], out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        if headers:
            writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else _csv_cell(r.get(c)) for c in columns])
    else:
        out.write(table(rows, columns, headers))


def _csv_cell(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return str(value)
