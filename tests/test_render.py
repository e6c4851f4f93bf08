"""render.table: its fast layout is tabulate's "plain" table, character for character."""

from __future__ import annotations

import random
import string

import pytest
from tabulate import tabulate

from tidscope import render

ALPHABET = string.ascii_letters + string.digits + " -_.,:()?"


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
def test_the_fast_layout_is_tabulates(seed: int) -> None:
    """Random tables as render.table makes them (no rows: every column left)."""
    rng = random.Random(seed)
    compared = 0
    for _ in range(600):
        ncol, nrow = rng.randint(1, 6), rng.randint(0, 6)
        titles = [_cell(rng).upper() for _ in range(ncol)] if rng.random() < 0.8 else []
        cells = [[_cell(rng) for _ in range(ncol)] for _ in range(nrow)]
        align = [rng.choice(["left", "right"]) if nrow else "left" for _ in range(ncol)]
        fast = render._plain(cells, titles, align)
        if fast is None:
            continue
        compared += 1
        assert fast == _tabulate(cells, titles, align), (titles, cells, align)
    assert compared > 300


@pytest.mark.parametrize(
    "cell", [" lead", "trail ", "t\tab", "two\nlines", "\u00e9t\u00e9", "\u6f22", "\x1b[1m"]
)
def test_cells_that_need_tabulates_care_get_it(cell: str) -> None:
    assert render._plain([[cell, "x"]], ["A", "B"], ["left", "left"]) is None
    rows = [{"a": cell, "b": 1}]
    assert render.table(rows, ["a", "b"]) == _tabulate([[cell, "1"]], ["A", "B"], ["left", "right"])


def test_table_is_unchanged_for_the_usual_rows() -> None:
    rows = [{"pid": 1, "name": "init", "ok": True, "n": None}, {"pid": 22, "name": "x"}]
    assert render.table(rows, ["pid", "name", "ok", "n"]) == (
        "  PID  NAME    OK    N\n    1  init    yes   -\n   22  x       -     -\n"
    )
    assert render.table(rows, ["pid", "name"], headers=False) == " 1  init\n22  x\n"
    assert render.table([], ["pid", "name"]) == "PID    NAME\n"
