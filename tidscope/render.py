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
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    align = [
        "right" if rows and all(_is_number(r.get(c)) for r in rows) else "left" for c in columns
    ]
    titles = [c.upper() for c in columns] if headers else []
    fast = _plain(cells, titles, align)
    if fast is not None:
        return fast
    from tabulate import tabulate  # only the tables it lays out pay for its import

    text: str = tabulate(
        cells,
        headers=titles or (),
        tablefmt="plain",
        disable_numparse=True,
        colalign=align,
    )
    return text + "\n" if text else ""


def _plain(cells: list[list[str]], titles: list[str], align: list[str]) -> str | None:
    """tabulate's "plain" table, the same text, for cells that need none of
    its care (ASCII printable, no blanks around them): tens of times faster
    on a table of every task.  None: let tabulate lay it out."""
    for row in (titles, *cells):
        for c in row:
            if not (c.isascii() and c.isprintable() and c == c.strip()):
                return None
    widths = [len(t) + 2 for t in titles] if titles else [0] * len(align)
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))
    right = [a == "right" for a in align]
    lines = [
        "  ".join(
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in ([titles] if titles else []) + cells
    ]
    text = "\n".join(lines)
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
