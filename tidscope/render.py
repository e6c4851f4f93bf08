"""The one output path: every command's rows as a table for people, or as
CSV, JSON or JSON Lines for scripts, each cell by one rule.

``ps``'s procps-exact table is the only other renderer (ps/layout.py); its
JSON and CSV come from here too.  Free-form lines (a tree's drawing, the
lines under ``share``'s tables) are not cells: their writers call
:func:`tidscope.text.escape` themselves.

Cells: the same rule in every format, whichever command made the row (so
callers hand over the raw text, never text they escaped):

* Text prints in a table and in CSV as procps prints names
  (:func:`tidscope.text.escape`, per locale): control characters, ESC,
  DEL and undecodable bytes print as ``?`` (control bytes as ``.`` in a
  locale that is not UTF-8), so no terminal escape reaches the output and
  no CSV field spans lines.  JSON carries the text itself: each
  undecodable byte as U+FFFD (:func:`tidscope.text.clean`), control
  characters as JSON's ``\\u`` escapes.  JSON output is ASCII and valid,
  with no unpaired surrogate.
* A bool is ``true`` or ``false``: in a table, in CSV and in JSON.
* None, no value: ``-`` in a table (an empty cell would shift the columns
  a reader splits on), an empty field in CSV (what CSV readers take for a
  missing value), null in JSON.
* A number prints as Python prints it; a list as its items' cells joined
  by one space (JSON: an array); a mapping as its JSON text (JSON: an
  object).

Layouts (:func:`render`'s ``fmt``), every row written as it comes but a
whole table's:

* ``table``: upper-case headers, a column of numbers right-aligned, two
  spaces between columns, widths in screen cells (:func:`tidscope.text.cells`)
  that fit every row, or fixed (``widths``: ``watch`` streams).
* ``csv``: a header line of the keys, then the rows.
* ``json``: an array of objects in ``json.dump(..., indent=2)``'s layout.
* ``jsonl``: JSON Lines, one compact object per row.

:func:`json_object` writes a document with one list item per line
(``share``), :func:`json_tree` nested objects as a walk finds them, in
bounded memory and text linear in the number of nodes however deep
(``tree``); :func:`write_pieces` writes any long run of text in batches
(a tree's drawing too).

It is longer than 400 lines because it is the one output path: the cell
rule and the layouts that apply it are one idea, and this docstring is the
rule's statement.
"""

from __future__ import annotations

import sys

from tidscope.text import cells, clean, escape

TYPE_CHECKING = False  # typing is not imported at run time: ps's JSON and CSV come here
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from typing import IO, Any

    Row = Mapping[str, Any]

NONE = "-"  # no value, in a table
FORMATS = ("table", "json", "csv")  # what every command's --format offers
BATCH = 512  # pieces written at once (write_pieces)
INFINITY = float("inf")


# -- cells -----------------------------------------------------------------------------


def cell(value: Any, none: str = NONE) -> str:
    """``value`` as a table shows it (CSV: ``none=""``); see the module."""
    kind = type(value)
    if kind is str:  # escape's own first check, without the call: nearly every cell
        return value if value.isascii() and value.isprintable() else escape(value)
    if kind is int or kind is float:
        return str(value)
    if value is None:
        return none
    if kind is bool:
        return "true" if value else "false"
    if kind is list or kind is tuple:
        return " ".join([cell(v, none) for v in value])
    if isinstance(value, dict):
        return json_line(value, sort_keys=True)
    return escape(str(value))


def plain(value: Any) -> Any:
    """``value`` with every string JSON can carry (:func:`tidscope.text.clean`)."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def json_line(value: Any, sort_keys: bool = False) -> str:
    """``value`` as compact JSON (json's C encoder), strings made plain.

    Undecodable bytes are surrogates U+DC80..U+DCFF, which the encoder
    writes as ``\\udcXX``: only text holding ``\\ud`` is encoded again."""
    import json

    text = json.dumps(value, sort_keys=sort_keys)
    return json.dumps(plain(value), sort_keys=sort_keys) if "\\ud" in text else text


def _json_indented(value: Any, indent: str) -> str:
    """``value`` as ``json.dumps(value, indent=2)``, each line after the
    first starting with ``indent`` more."""
    import json

    text = json.dumps(value, indent=2)
    if "\\ud" in text:
        text = json.dumps(plain(value), indent=2)
    return text.replace("\n", "\n" + indent) if indent else text


def _json_scalar(value: Any, quote: Callable[[str], str]) -> str | None:
    """A flat value's JSON text, as json writes it (``quote``: its string
    encoder); None for a list or object."""
    kind = type(value)
    if kind is str:
        return quote(value if value.isascii() else clean(value))
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is float:
        if value != value:  # noqa: PLR0124 (NaN, without importing math)
            return "NaN"
        if value in (INFINITY, -INFINITY):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# -- rows --------------------------------------------------------------------------------


def render(
    rows: Iterable[Row],
    columns: Sequence[str] | None,
    fmt: str,
    *,
    headers: bool = True,
    out: IO[str] | None = None,
    widths: Sequence[str] | None = None,
    flush: bool = False,
) -> int:
    """Write ``rows`` (only ``columns`` of them, in that order) as ``fmt``
    (see the module); the number of rows written.

    ``columns`` None: each row whole (``json`` and ``jsonl`` only).
    ``widths``, for a table written as rows come: one format spec per
    column (``"<15"``, ``">7"``; ``""`` unpadded).  ``flush``: the output
    is flushed after the header and after each row (a live stream)."""
    out = out if out is not None else sys.stdout
    if fmt == "json":
        count = _stream(rows, "", _json_row(columns), out, flush)
        out.write("\n]\n" if count else "[]\n")
        return count
    if fmt == "jsonl":
        return _stream(rows, "", _json_line_row(columns), out, flush)
    assert columns is not None, "a table and CSV have columns"
    if fmt == "csv" or widths is not None:
        head, line = _csv_rows(columns) if fmt == "csv" else _fixed_rows(columns, widths or ())
        return _stream(rows, head if headers else "", line, out, flush)
    rows = list(rows)  # a table's widths fit every row
    out.write(table(rows, columns, headers))
    if flush:
        out.flush()
    return len(rows)


def _stream(
    rows: Iterable[Row], head: str, line: Callable[[Row], str], out: IO[str], flush: bool
) -> int:
    """``head``, then ``line(row)`` for each row as it comes; the rows."""
    if head:
        _whole(out, head, flush)
    count = 0
    for row in rows:
        _whole(out, line(row), flush)
        count += 1
    return count


# The signals that stop a command (Linux's numbers on every architecture we
# build for: the signal module would import enum)
_STOPPING = (1, 2, 3, 15)  # SIGHUP, SIGINT, SIGQUIT, SIGTERM


def _whole(out: IO[str], text: str, flush: bool) -> None:
    """``text`` written; in a live stream (``flush``) flushed too, with the
    stopping signals held back meanwhile: their handler's exception (Ctrl-C's
    KeyboardInterrupt) then ends the stream between two rows, never inside
    the write, where the buffered writer would keep the bytes it had just
    written and write them again at exit, and the row it was taking would be
    lost.  A mask that cannot be set (a sabotaged rt_sigprocmask) is no
    reason not to write."""
    if not flush:
        out.write(text)
        return
    import _signal  # type: ignore[import-not-found]  # (C: signal would import enum)

    try:
        before = _signal.pthread_sigmask(_signal.SIG_BLOCK, ())  # the mask, unchanged
    except OSError:
        before = None
    try:
        if before is not None:
            _signal.pthread_sigmask(_signal.SIG_BLOCK, _STOPPING)
        out.write(text)
        out.flush()
    finally:
        if before is not None:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, before)


class _Lines(list[str]):
    """What a csv.writer writes, kept."""

    write = list.append


def _csv_rows(columns: Sequence[str]) -> tuple[str, Callable[[Row], str]]:
    """CSV's header line, and a row's line."""
    import csv

    lines = _Lines()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow(columns)

    def line(row: Row) -> str:
        writer.writerow([cell(row.get(c), "") for c in columns])
        return lines.pop()

    return lines.pop(), line


def _json_line_row(columns: Sequence[str] | None) -> Callable[[Row], str]:
    """A JSON Lines row's line (json_line, inlined: a watch's cost per event)."""
    from json import dumps

    def line(row: Row) -> str:
        picked = row if columns is None else {c: row.get(c) for c in columns}
        text = dumps(picked)
        return (dumps(plain(picked)) if "\\ud" in text else text) + "\n"

    return line


def _json_row(columns: Sequence[str] | None) -> Callable[[Row], str]:
    """A row of ``json.dump(rows, indent=2)``, the array's opening or a
    comma before it."""
    from _json import encode_basestring_ascii as quote  # json's own, without json's imports

    keys: dict[str, str] = {}  # key: its line's start
    before = ["[\n"]

    def line(row: Row) -> str:
        picked = row if columns is None else {c: row.get(c) for c in columns}
        parts = []
        for key, value in picked.items():
            start = keys.get(key)
            if start is None:
                start = keys[key] = f"    {quote(clean(key))}: "
            text = _json_scalar(value, quote)
            parts.append(start + (text if text is not None else _json_indented(value, "    ")))
        text = "  {\n" + ",\n".join(parts) + "\n  }" if parts else "  {}"
        first = before[0]
        before[0] = ",\n"
        return first + text

    return line


# -- tables ------------------------------------------------------------------------------


def table(rows: Sequence[Row], columns: Sequence[str], headers: bool = True) -> str:
    """The rows as a table whose widths fit every cell (see the module)."""
    values = [[r.get(c) for r in rows] for c in columns]
    texts = [[cell(v) for v in column] for column in values]
    right = [bool(rows) and all(map(_is_number, column)) for column in values]
    return _laid_out(texts, [c.upper() for c in columns] if headers else [], right)


def _laid_out(columns: list[list[str]], titles: list[str], right: list[bool]) -> str:
    """Columns of cells padded to their widest cell (a title and two
    blanks, with headers), two spaces apart."""
    narrow = all(all(map(str.isascii, column)) for column in (titles, *columns))
    width = len if narrow else cells
    sizes = [
        max(width(titles[i]) + 2 if titles else 0, max(map(width, column), default=0))
        for i, column in enumerate(columns)
    ]
    lines: list[Sequence[str]] = [titles] if titles else []
    if columns and columns[0]:
        lines += zip(*columns, strict=True)
    if narrow:
        specs = [
            f"{{:{'>' if r else '<'}{w}}}" if w else "{}" for w, r in zip(sizes, right, strict=True)
        ]
        line = "  ".join(specs).format
        text = "\n".join(line(*row).rstrip() for row in lines)
    else:
        text = "\n".join(
            "  ".join(_pad(c, w, r) for c, w, r in zip(row, sizes, right, strict=True)).rstrip()
            for row in lines
        )
    return text + "\n" if text else ""


def _pad(text: str, size: int, right: bool) -> str:
    """``text`` padded to ``size`` screen cells."""
    gap = " " * (size - cells(text))
    return gap + text if right else text + gap


def _fixed_rows(columns: Sequence[str], widths: Sequence[str]) -> tuple[str, Callable[[Row], str]]:
    """The header line of a table of fixed widths, and a row's line."""
    form = "  ".join(f"{{:{w}}}" for w in widths).format

    def line(row: Row) -> str:
        texts = [cell(row.get(c)) for c in columns]
        text: str = form(*texts)
        if not text.isascii():  # str.format pads by characters, not screen cells
            text = "  ".join(
                _pad(t, int(w[1:] or 0), w[:1] == ">") for t, w in zip(texts, widths, strict=True)
            )
        return text + "\n"

    return form(*(c.upper() for c in columns)) + "\n", line


# -- documents ---------------------------------------------------------------------------


def json_object(doc: Mapping[str, Any], out: IO[str]) -> None:
    """``doc`` as one JSON object, a member per line and each item of a
    list member on a line of its own (json's C encoder: fast)."""
    out.write("{\n")
    last = len(doc) - 1
    for i, (key, value) in enumerate(doc.items()):
        if isinstance(value, list) and value:
            text = "[\n" + ",\n".join(map(json_line, value)) + "\n]"
        else:
            text = json_line(value)
        out.write(f"{json_line(key)}: {text}{',' if i < last else ''}\n")
    out.write("}\n")


def json_tree(
    tops: Sequence[int],
    node: Callable[[int], Mapping[str, Any]],
    children: Callable[[int], Sequence[int]],
    out: IO[str],
    *,
    key: str = "children",
    depth: int = 50,
) -> None:
    """The trees under ``tops`` as ``json.dump(trees, indent=2)`` writes
    nested objects, each ``node(n)``'s members then its ``children(n)``
    under ``key``, and a newline; written as the walk goes, with no
    recursion, and indentation that stops growing ``depth`` levels down, so
    the text stays linear in the number of nodes however deep the tree."""
    write_pieces(out, _tree_pieces(tops, node, children, key, 2 * depth + 1))
    out.write("\n")


def write_pieces(out: IO[str], pieces: Iterable[str], sep: str = "") -> None:
    """``pieces``, each followed by ``sep``, written BATCH at a time: big
    outputs (a tree's lines) in bounded memory and few writes."""
    batch: list[str] = []
    for piece in pieces:
        batch.append(piece)
        if len(batch) >= BATCH:
            out.write(sep.join(batch) + sep)
            batch.clear()
    if batch:
        out.write(sep.join(batch) + sep)


def _tree_pieces(
    tops: Sequence[int],
    node: Callable[[int], Mapping[str, Any]],
    children: Callable[[int], Sequence[int]],
    key: str,
    deepest: int,
) -> Iterator[str]:
    def indent(level: int) -> str:
        return "\n" + "  " * min(level, deepest)

    def opened(n: int, level: int, kids: Sequence[int]) -> str:
        """A node up to its open children array (closed if it has none)."""
        inner = indent(level + 1)
        parts = [
            f"{inner}{json_line(k)}: {_json_indented(v, inner[1:])}" for k, v in node(n).items()
        ]
        head = (
            indent(level) + "{" + ",".join(parts) + ("," if parts else "") + inner + json_line(key)
        )
        return head + (": [" if kids else ": []" + indent(level) + "}")

    if not tops:
        yield "[]"
        return
    yield "["
    for number, top in enumerate(tops):
        kids = children(top)
        yield ("," if number else "") + opened(top, 1, kids)
        stack = [(kids, 0, 1)] if kids else []
        while stack:
            kids, i, level = stack[-1]
            if i < len(kids):
                stack[-1] = (kids, i + 1, level)
                below = children(kids[i])
                yield ("," if i else "") + opened(kids[i], level + 2, below)
                if below:
                    stack.append((below, 0, level + 2))
            else:
                stack.pop()
                yield indent(level + 1) + "]" + indent(level) + "}"
    yield "\n]"
