"""One way to print rows: a table for people, JSON and CSV for scripts.

Every command builds a list of dicts and a list of column names and hands
both to :func:`render`.  ``ps``'s procps-exact layout is the only other
renderer (see ps/layout.py).
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
    values = [[r.get(c) for r in rows] for c in columns]
    cells = [_column(v) for v in values]
    align = ["right" if rows and all(map(_is_number, v)) else "left" for v in values]
    titles = [c.upper() for c in columns] if headers else []
    fast = _plain_columns(cells, titles, align)
    if fast is not None:
        return fast
    from tabulate import tabulate  # only the tables it lays out pay for its import

    text: str = tabulate(
        [list(row) for row in zip(*cells, strict=True)],
        headers=titles or (),
        tablefmt="plain",
        disable_numparse=True,
        colalign=align,
    )
    return text + "\n" if text else ""


def _column(values: list[Any]) -> list[str]:
    """A column's cells: ints and strings without a call a cell."""
    if all(type(v) is int for v in values):
        return list(map(str, values))
    return [v if type(v) is str else str(v) if type(v) is int else _cell(v) for v in values]


def _plain(cells: list[list[str]], titles: list[str], align: list[str]) -> str | None:
    """:func:`_plain_columns` of rows of cells."""
    columns = [list(c) for c in zip(*cells, strict=True)] if cells else [[] for _ in align]
    return _plain_columns(columns, titles, align)


def _plain_columns(columns: list[list[str]], titles: list[str], align: list[str]) -> str | None:
    """tabulate's "plain" table, the same text, for cells that need none of
    its care (ASCII printable, no blanks around them): tens of times faster
    on a table of every task.  None: let tabulate lay it out."""
    for column in (titles, *columns):
        for c in column:
            if not (c.isascii() and c.isprintable() and c == c.strip()):
                return None
    specs = []
    for i, column in enumerate(columns):
        width = max(len(titles[i]) + 2 if titles else 0, max(map(len, column), default=0))
        specs.append(f"{{:{'>' if align[i] == 'right' else '<'}{width}}}" if width else "{}")
    line = "  ".join(specs).format
    rows = zip(*columns, strict=True) if columns and columns[0] else []
    lines = [line(*row).rstrip() for row in ([titles] if titles else []) + list(rows)]
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
