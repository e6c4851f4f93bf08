"""render.py, the one output path: its table is tabulate's "plain" table
for the cells tabulate lays out right, its JSON is json.dump's, and every
cell of every format follows one rule (escaped text, true/false, no value)."""

from __future__ import annotations

import csv
import io
import json
import math
import random
import string
from collections.abc import Iterator
from typing import Any

import pytest
from tabulate import tabulate

from tidscope import render, text

ALPHABET = string.ascii_letters + string.digits + " -_.,:()?"


@pytest.fixture(autouse=True)
def utf8() -> Iterator[None]:
    """Escape as in a UTF-8 locale writing UTF-8, whatever runs the tests."""
    saved = list(text._MODE)
    text._MODE[:] = [(True, "utf-8")]
    yield
    text._MODE[:] = saved


def _tabulate(cells: list[list[str]], titles: list[str], align: list[str]) -> str:
    text: str = tabulate(
        cells, headers=titles or (), tablefmt="plain", disable_numparse=True, colalign=align
    )
    return text + "\n" if text else ""


def _cell(rng: random.Random) -> str:
    pick = rng.random()
    if pick < 0.1:
        return ""
    if pick < 0.3:
        return str(rng.randint(-5, 10**6))
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 14))).strip()


@pytest.mark.parametrize("seed", range(8))
def test_the_layout_is_tabulates(seed: int) -> None:
    """Random tables of printable ASCII cells with no blank around them (no
    rows: every column left), as tabulate lays them out."""
    rng = random.Random(seed)
    for _ in range(600):
        ncol, nrow = rng.randint(1, 6), rng.randint(0, 6)
        titles = [_cell(rng).upper() for _ in range(ncol)] if rng.random() < 0.8 else []
        cells = [[_cell(rng) for _ in range(ncol)] for _ in range(nrow)]
        align = [rng.choice(["left", "right"]) if nrow else "left" for _ in range(ncol)]
        columns = [[row[i] for row in cells] for i in range(ncol)]
        ours = render._laid_out(columns, titles, [a == "right" for a in align])
        assert ours == _tabulate(cells, titles, align), (titles, cells, align)


def test_table_is_unchanged_for_the_usual_rows() -> None:
    rows = [{"pid": 1, "name": "init", "ok": True, "n": None}, {"pid": 22, "name": "x"}]
    assert render.table(rows, ["pid", "name", "ok", "n"]) == (
        "  PID  NAME    OK    N\n    1  init    true  -\n   22  x       -     -\n"
    )
    assert render.table(rows, ["pid", "name"], headers=False) == " 1  init\n22  x\n"
    assert render.table([], ["pid", "name"]) == "PID    NAME\n"


def test_wide_characters_take_their_screen_cells() -> None:
    """Widths are screen cells, as procps counts them (text.cells): a
    column after a wide name stays aligned."""
    rows = [{"name": "\u6f22\u5b57", "n": 1}, {"name": "abc", "n": 22}, {"name": "e\u0301", "n": 3}]
    assert render.table(rows, ["name", "n"]).splitlines() == [
        "NAME      N",
        "\u6f22\u5b57      1",
        "abc      22",
        "e\u0301         3",
    ]


def test_blanks_around_a_cell_are_kept() -> None:
    rows = [{"a": " lead", "b": "x"}, {"a": "trail ", "b": "y"}]
    assert render.table(rows, ["a", "b"]) == "A       B\n lead   x\ntrail   y\n"


# -- one rule for every cell -------------------------------------------------------------

HOSTILE = "a\x1b[31mb\tc\nd\x7fe\udcff"  # ESC, a tab, a newline, DEL, an undecodable byte


def _all(rows: list[dict[str, Any]], columns: list[str]) -> dict[str, str]:
    shown = {}
    for fmt in ("table", "csv", "json", "jsonl"):
        out = io.StringIO()
        assert render.render(rows, columns, fmt, out=out) == len(rows)
        shown[fmt] = out.getvalue()
    return shown


def test_text_is_escaped_in_a_table_and_csv_and_itself_in_json() -> None:
    shown = _all([{"name": HOSTILE, "n": 1}], ["name", "n"])
    assert shown["table"] == "NAME              N\na?[31mb?c?d?e?    1\n"
    assert shown["csv"] == "name,n\na?[31mb?c?d?e?,1\n"
    for fmt in ("json", "jsonl"):
        assert "\x1b" not in shown[fmt] and "\\udc" not in shown[fmt] and shown[fmt].isascii()
    (row,) = json.loads(shown["json"])
    assert row == json.loads(shown["jsonl"]) == {"name": "a\x1b[31mb\tc\nd\x7fe\ufffd", "n": 1}


def test_escaped_by_the_locale() -> None:
    text._MODE[:] = [(False, "utf-8")]  # not UTF-8: control bytes ".", the rest of the bytes "?"
    assert render.cell(HOSTILE) == "a.[31mb.c.d.e?"
    assert render.cell("\u00e9") == "??"


def test_a_bool_and_no_value_are_one_rule() -> None:
    rows = [{"ok": True, "no": False, "none": None, "list": [1, None, "x y"], "obj": {"b": 1}}]
    columns = list(rows[0])
    shown = _all(rows, columns)
    assert shown["table"].splitlines()[1].split() == [
        "true", "false", "-", "1", "-", "x", "y", '{"b":', "1}"
    ]  # fmt: skip
    assert list(csv.reader(io.StringIO(shown["csv"])))[1] == [
        "true", "false", "", "1  x y", '{"b": 1}'
    ]  # fmt: skip
    assert json.loads(shown["json"]) == rows


def test_cells_of_other_kinds() -> None:
    assert render.cell(2.5) == "2.5" and render.cell(-3) == "-3"
    assert render.cell(("a\x1b", "b")) == "a? b" and render.cell([]) == ""
    assert render.cell({"z": "\udcff", "a": None}) == '{"a": null, "z": "\\ufffd"}'
    assert render.cell(None, "") == ""


# -- JSON --------------------------------------------------------------------------------


def _value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12 if depth < 2 else 8)
    simple: list[Any] = [
        None,
        True,
        False,
        rng.randint(-(10**12), 10**12),
        rng.uniform(-1e6, 1e6),
        rng.choice([math.nan, math.inf, -math.inf, 0.1, 1e300]),
        "".join(
            rng.choice('ab "\\/\u00e9\u6f22\U0001f600\x01\n') for _ in range(rng.randint(0, 6))
        ),
        "x",
    ]
    if pick < len(simple):
        return simple[pick]
    if pick < 10:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randint(0, 3))}


@pytest.mark.parametrize("seed", range(4))
def test_json_is_json_dumps_with_indent_2(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        keys = [f"c{i}" for i in range(rng.randint(0, 5))]
        rows = [{k: _value(rng) for k in keys} for _ in range(rng.randint(0, 4))]
        out = io.StringIO()
        assert render.render(rows, keys, "json", out=out) == len(rows)
        assert out.getvalue() == json.dumps(rows, indent=2) + "\n"
        out = io.StringIO()
        render.render(rows, None, "jsonl", out=out)
        assert out.getvalue() == "".join(json.dumps(r) + "\n" for r in rows)


def test_json_of_undecodable_bytes_is_the_clean_text() -> None:
    rows = [{"name": "a\udcff", "list": ["\udc80"], "obj": {"k\udcfe": "\U0001f600\udcff"}}]
    out = io.StringIO()
    render.render(rows, None, "json", out=out)
    assert out.getvalue() == json.dumps(render.plain(rows), indent=2) + "\n"
    assert "\\udc" not in out.getvalue()
    assert render.json_line(rows[0]) == json.dumps(render.plain(rows[0]))
    assert json.loads(render.json_line(rows[0]))["obj"] == {"k\ufffd": "\U0001f600\ufffd"}


def test_a_document_has_a_line_per_list_item() -> None:
    doc = {"tasks": [{"name": "a\udcff"}, {"name": "b"}], "empty": [], "n": {"x": 1}}
    out = io.StringIO()
    render.json_object(doc, out)
    assert out.getvalue() == (
        '{\n"tasks": [\n{"name": "a\\ufffd"},\n{"name": "b"}\n],\n"empty": [],\n"n": {"x": 1}\n}\n'
    )
    assert json.loads(out.getvalue()) == render.plain(doc)


def _tree(rng: random.Random, size: int) -> tuple[list[int], dict[int, list[int]]]:
    kids: dict[int, list[int]] = {}
    tops = []
    for n in range(1, size + 1):
        if n == 1 or rng.random() < 0.1:
            tops.append(n)
        else:
            kids.setdefault(rng.randrange(1, n), []).append(n)
    return tops, kids


def _node(n: int) -> dict[str, Any]:
    return {"pid": n, "name": f"p\udcff{n}", "threads": [{"tid": n * 10}] if n % 2 else []}


@pytest.mark.parametrize("seed", range(4))
def test_a_tree_is_json_dumps_of_it_nested(seed: int) -> None:
    rng = random.Random(seed)
    for size in (0, 1, 2, 5, 30):
        tops, kids = _tree(rng, size)

        def nested(n: int, kids: dict[int, list[int]] = kids) -> dict[str, Any]:
            return {**render.plain(_node(n)), "children": [nested(k) for k in kids.get(n, [])]}

        def below(n: int, kids: dict[int, list[int]] = kids) -> list[int]:
            return kids.get(n, [])

        out = io.StringIO()
        render.json_tree(tops, _node, below, out)
        assert out.getvalue() == json.dumps([nested(t) for t in tops], indent=2) + "\n"


def test_a_deep_trees_indentation_stops_growing() -> None:
    depth = 3000
    out = io.StringIO()
    render.json_tree([1], lambda n: {"n": n}, lambda n: [n + 1] if n < depth else [], out, depth=5)
    lines = out.getvalue().splitlines()
    assert max(len(line) - len(line.lstrip()) for line in lines) == 2 * (2 * 5 + 1)
    assert len(out.getvalue()) < depth * 200  # linear: each node's lines at most so long
    opened = "".join(f'{{"n":{n},"children":[' for n in range(1, depth + 1))
    assert "".join(out.getvalue().split()) == "[" + opened + "]}" * depth + "]"


# -- streams -----------------------------------------------------------------------------


def test_a_fixed_table_is_written_as_rows_come() -> None:
    """``widths``: each row is out (and flushed) before the next is asked for."""
    out = io.StringIO()
    seen: list[str] = []

    def rows() -> Iterator[dict[str, Any]]:
        for row in (
            {"a": "x", "n": 1, "name": "\u6f22y"},
            {"a": "longer", "n": None, "name": None},
        ):
            seen.append(out.getvalue())
            yield row

    assert render.render(rows(), ["a", "n", "name"], "table", widths=("<4", ">3", ""), out=out) == 2
    assert seen == ["A       N  NAME\n", "A       N  NAME\nx       1  \u6f22y\n"]
    assert out.getvalue().splitlines()[2] == "longer    -  -"


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_csv_and_json_are_written_as_rows_come(fmt: str) -> None:
    out = io.StringIO()
    sizes: list[int] = []

    def rows() -> Iterator[dict[str, Any]]:
        for n in range(3):
            sizes.append(len(out.getvalue()))
            yield {"n": n}

    assert render.render(rows(), ["n"], fmt, out=out) == 3
    assert sizes[0] < sizes[1] < sizes[2]
