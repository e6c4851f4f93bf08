"""pslist.Layout places plain rows by their cells' lengths (a plan per row
shape); every plan must give the line the cell-by-cell placement gives."""

from __future__ import annotations

import random

import pytest

from tidscope.ps import columns
from tidscope.ps import layout as pslist
from tidscope.ps.forest import Indented

LISTS = [
    "user=UID,pid,ppid,lwp,c,nlwp,stime,tname,time,cmd",  # -eLf
    "pid,spid,tname,time,ucmd",
    "tid,pcpu,stat,wchan,comm",
    "user,pid,pcpu,pmem,vsz,rss,tname,stat,start,time,args",  # aux
    "f,s,uid,pid,ppid,c,pri,ni,addr,sz,wchan,tname,time,ucmd",  # -l
    "comm,pid,user:3,args:5,wchan,blocked,caught",
    "pid:1,user:2,comm:2,tid:1",
]


def plain(layout: pslist.Layout, texts: list[str]) -> str:
    plan = layout._plan(tuple(map(len, texts)))
    return "".join(p + t[:cut] + q for (p, cut, q), t in zip(plan, texts, strict=True))


@pytest.mark.parametrize("spec", LISTS)
@pytest.mark.parametrize("screen", [pslist.OUTBUF_SIZE, 80, 40, 7])
def test_plans_place_cells_as_the_cell_by_cell_way(spec: str, screen: int) -> None:
    rng = random.Random(f"{spec}{screen}")
    layout = pslist.Layout(columns.parse_format([spec], 7), screen)
    assert layout.plans is not None
    for _ in range(400):
        texts = [
            "".join(rng.choice("abc+ 9-") for _ in range(rng.choice([0, 1, 2, 5, 8, 9, 20, 200])))
            for _ in layout.cols
        ]
        assert plain(layout, texts) == layout.line(texts), texts


def test_signal_names_are_placed_cell_by_cell() -> None:
    layout = pslist.Layout(columns.parse_format(["pid,blocked"], 7), signames=True)
    assert layout.plans is None


def test_a_tree_cell_is_placed_cell_by_cell() -> None:
    """--forest cells cut whole levels first (forest.Indented.fit), which a
    plan by lengths would not: two levels in 6 columns keep one level and
    two characters of the command, not six characters of indent."""
    pid, args, tid = columns.parse_format(["pid,fname:6,tid"], 7)  # any column may be drawn
    cell = Indented("    " + " \\_ ", "command", 4)
    one = pid.but(text=lambda t, c: "1")
    layout = pslist.Layout([one, args.but(text=lambda t, c: cell), tid.but(text=lambda t, c: "2")])
    row = layout.row(None, None)  # type: ignore[arg-type]
    assert row == layout.line(["1", cell, "2"])
    assert row.split(" 1 ")[1].startswith("    co ")


@pytest.mark.parametrize("name", ["-", "futex_do_wait", "do_sigtimedwait.isra.0", "ab"])
def test_a_wchan_cell_is_cut_before_the_plain_format_as_cell_by_cell(name: str) -> None:
    pid, wchan, comm, last = columns.parse_format(["pid,wchan,comm,wchan"], 7)
    texts = ["1", name, "x", name]
    picked = zip([pid, wchan, comm, last], texts, strict=True)
    cols = [c.but(text=lambda t, ctx, v=v: v) for c, v in picked]
    layout = pslist.Layout(cols)
    assert layout.fast
    assert layout.row(None, None) == layout.line(texts)  # type: ignore[arg-type]
