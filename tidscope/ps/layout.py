"""procps's table layout, for ``tidscope ps``'s text output.

The table is procps's layout, not a generic one: every column has a fixed
width (PID-like ones the digits of ``kernel.pid_max``), numbers are
right-aligned in it, text is left-aligned, and a cell wider than its column
pushes the rest of its row right until later columns win the room back.
Rows are read, formatted and written one at a time, so memory does not grow
with the number of tasks.
"""

from __future__ import annotations

from tidscope.proc.task import Task
from tidscope.ps.columns import Column
from tidscope.ps.context import RIGHT, SIGNAL, TEXT, USER, WCHAN, Context
from tidscope.text import cells, clip, from_env, window

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import IO

OUTBUF_SIZE = 131072  # procps's line buffer: "unlimited" width
MAX_GAP = 144  # procps pads with at most this many spaces at once
SIGNAME_WIDTH = 27  # procps's narrowest column of signal names
BATCH = 512  # rows per write
PLANS = 4096  # row shapes remembered (see Layout.row)


def screen_columns(out: IO[str]) -> int:
    """procps's line width: $COLUMNS, else unlimited when not writing to a
    terminal, else the terminal's width (text.window), else 80."""
    cols = OUTBUF_SIZE
    try:
        tty = out.isatty()
    except ValueError:
        tty = False
    if tty:
        size = window(out.fileno())
        cols = size[0] if size else 80
    return from_env("COLUMNS", OUTBUF_SIZE) or cols


class Layout:
    """One line per task, placed as procps's ``show_one_proc`` places it.

    Two kinds of column are placed by rules of their own.  A signal mask
    (SIGNAL) is right-aligned in 16 when the screen holds every column with
    7 more for each mask, and then takes those 7 too; otherwise in 9, cut
    to its last 8 hex digits (``<`` first if more were set).  With
    ``signames`` a mask column becomes text at least 27 wide, its names
    listed as far as they fit, ``+`` for the rest.  A WCHAN column is
    cut to its room and never pushes the row right.
    """

    def __init__(
        self, cols: Sequence[Column], screen_cols: int = OUTBUF_SIZE, signames: bool = False
    ) -> None:
        # procps's check_header_width turns mask columns into text for names
        self.names = [signames and c.just == SIGNAL for c in cols]
        self.cols = [
            c.but(just=TEXT, width=max(c.width, SIGNAME_WIDTH)) if named else c
            for c, named in zip(cols, self.names, strict=True)
        ]
        self.widths = [c.width for c in self.cols]
        self.justs = [c.just for c in self.cols]
        total = self._total()
        self.active = self._active(screen_cols, total)
        masks = sum(self.names) + self.justs.count(SIGNAL)
        self.wide = total + 7 * masks <= self.active
        # where a right-aligned cell ends (0: left-aligned) and how far each
        # column moves the next one
        mask = 16 if self.wide else 9
        self.pads = [
            w if j == RIGHT else mask if j == SIGNAL else 0
            for w, j in zip(self.widths, self.justs, strict=True)
        ]
        self.advances = [
            w + 7 if j == SIGNAL and self.wide else w
            for w, j in zip(self.widths, self.justs, strict=True)
        ]
        # When every cell fits its column and the line fits the screen, the
        # layout is this plain format, and a line of exactly the expected
        # length proves every cell fitted; other rows take the long way.
        # (Columns so wide that a gap could exceed MAX_GAP always do, and so
        # do signal names, which are cut short of their room.)
        last = len(cols) - 1
        self.fast = (
            all(2 * w < MAX_GAP for w in self.advances)
            and self.pads == [w if p else 0 for w, p in zip(self.advances, self.pads, strict=True)]
            and not any(self.names)
        )
        self.fmt = " ".join(
            f"%{p}s" if p else "%s" if i == last else f"%-{w}s"
            for i, (w, p) in enumerate(zip(self.advances, self.pads, strict=True))
        )
        self.fixed = sum(self.advances[:-1]) + last
        self.last_width = self.pads[-1]
        wide = self.wide
        # rows placed by their cells' lengths (see row); not when a cell's
        # content decides its cut (signal names)
        self.plans: dict[tuple[int, ...], list[tuple[str, int, str]]] | None = (
            None if any(self.names) else {}
        )
        self.texts = [
            (lambda t, c, text=c.text: mask_cell(text(t, c), wide)) if c.just == SIGNAL else c.text
            for c in self.cols
        ]
        self.row = self._compile_row()

    def _total(self) -> int:
        """procps's check_header_width: the width all columns want."""
        total = 0
        for i, col in enumerate(self.cols):
            last = i == len(self.cols) - 1
            total += 3 if last and col.just == TEXT else col.width
            total += 1 if i else 0
        return total

    @staticmethod
    def _active(screen_cols: int, total: int) -> int:
        """procps's check_header_width: a whole number of screens that holds all."""
        active = screen_cols
        while active < total and active < OUTBUF_SIZE // 2:
            active += screen_cols
        return active

    def header(self) -> str:
        return self.line([c.header for c in self.cols], data=False)

    def _compile_row(self) -> Callable[[Task, Context], str]:
        """``row``, written out for these columns: each column's cell
        function called in turn into one tuple and, when the layout is a
        plain format (``fast``), that format applied and its length checked,
        else :meth:`placed` (the per-row cost of a ``ps -T`` is mostly this
        function's own, as generic code it was a third more)."""
        names = [f"cell{i}" for i in range(len(self.texts))]
        env: dict[str, object] = dict(zip(names, self.texts, strict=True))
        env.update(fmt=self.fmt, fixed=self.fixed, lastw=self.last_width, active=self.active)
        env.update(placed=self.placed, clip=clip)
        last = len(names) - 1
        # a WCHAN cell is cut to its room, which is its width but in the last
        # column: cut first, so that a long name leaves the row a plain one
        calls = "".join(
            f"clip({name}(task, ctx), {width}), "
            if just == WCHAN and i < last
            else f"{name}(task, ctx), "
            for i, (name, width, just) in enumerate(
                zip(names, self.widths, self.justs, strict=True)
            )
        )
        src = f"def row(task, ctx):\n    texts = ({calls})\n"
        if self.fast:
            src += (
                "    line = fmt % texts\n"
                "    size = len(line)\n"
                "    last = len(texts[-1])\n"
                "    if (size == fixed + (last if last > lastw else lastw)\n"
                "            and size <= active and line.isascii()):\n"
                "        return line\n"
            )
        src += "    return placed(texts)\n"
        exec(src, env)  # code of our own, made of column counts
        return env["row"]  # type: ignore[return-value]

    def placed(self, texts: tuple[str, ...]) -> str:
        """The row of ``texts`` when it is no plain format's: by a plan for
        its shape, or cell by cell."""
        if (
            self.plans is not None
            and "".join(texts).isascii()
            and all([type(t) is str for t in texts])  # no tree cell (forest.py)
        ):
            # Plain text (no tree cell, no names): where each cell goes and
            # how much of it shows depend only on the cells' lengths, so
            # rows of one shape (a group's threads) are placed once.
            shape = tuple(map(len, texts))
            plan = self.plans.get(shape)
            if plan is None:
                if len(self.plans) >= PLANS:
                    self.plans.clear()
                plan = self.plans[shape] = self._plan(shape)
            return "".join([p + t[:cut] + q for (p, cut, q), t in zip(plan, texts, strict=True)])
        return self.line(texts)

    def _plan(self, shape: tuple[int, ...]) -> list[tuple[str, int, str]]:
        """For ASCII cells of lengths ``shape``: each one's leading blanks,
        how many of its characters show, and what follows them (``+``)."""
        plan = []
        for space, text in self._place(["x" * n for n in shape]):
            plus = text.endswith("+")  # a cut user name: "x" cells end so only then
            plan.append((" " * space, len(text) - plus, "+" if plus else ""))
        return plan

    def line(self, texts: Sequence[str], data: bool = True) -> str:
        """The row of cells ``texts`` (of headers, if not ``data``)."""
        return "".join([" " * space + text for space, text in self._place(texts, data)])

    def _place(self, texts: Sequence[str], data: bool = True) -> list[tuple[int, str]]:
        """Each cell as it shows, with the blanks before it."""
        out = []
        correct = actual = dospace = 0
        last = len(texts) - 1
        for i, cell in enumerate(texts):
            width, just = self.widths[i], self.justs[i]
            text = cell
            if i < last:
                room = width
            elif correct - actual < 1:
                room = self.active - actual - dospace
            else:
                room = self.active - correct
            if room < 0:  # procps's unsigned sum: below 0 wraps round to no limit
                room = OUTBUF_SIZE - 1
            if not data:  # headers are printed as given, and counted in bytes
                amount = len(text.encode("utf-8", "surrogateescape"))
            else:
                fit = getattr(text, "fit", None)  # a command cell under a tree: forest.py
                if fit is not None:
                    text = fit(room)
                elif self.names[i]:
                    text = fit_names(text, room) if text else mask_cell(text, self.wide)
                elif just == TEXT:
                    text = clip(text, room)  # none when there is no room: procps too
                elif just == USER and cells(text) > room >= 1:
                    text = clip(text, room - 1) + "+"
                elif just == WCHAN:
                    text = clip(text, room)
                amount = cells(text)
            leftpad = max(self.pads[i] - amount, 0)
            space = correct - actual + leftpad
            if space < 1:
                space = dospace
            space = min(space, MAX_GAP)
            out.append((space, text))
            actual += space + amount
            correct += self.advances[i] + 1
            dospace = 1
        return out


def mask_cell(mask: str, wide: bool) -> str:
    """procps's help_pr_sig: a hex mask in 16 digits when ``wide``, else
    in its last 8, ``<`` first when more than 8 are significant."""
    size = len(mask)
    if wide:
        return mask if size > 8 else "00000000" + mask
    if len(mask.lstrip("0")) > 8:
        return "<" + mask[-8:]
    return mask.rjust(8, "0") if size < 8 else mask[-8:]


def fit_names(names: str, room: int) -> str:
    """procps's signal names in ``room`` columns: each next name (with its
    comma) only while it leaves a column free, else ``+`` and no more."""
    if names == "-":
        return names
    out = []
    for name in names.split(","):
        if len(name) + 1 >= room:
            out.append("+")
            break
        piece = "," + name if out else name
        out.append(piece)
        room -= len(piece)
    return "".join(out)


def write_table(
    rows: Iterable[Task],
    cols: Sequence[Column],
    ctx: Context,
    out: IO[str],
    headers: bool = True,
    screen_cols: int = OUTBUF_SIZE,
) -> int:
    """procps's table of ``rows``; the number of rows written."""
    layout = Layout(cols, screen_cols, ctx.signames)
    lines = []
    # procps prints no header when every column's header is empty (``-o pid=``)
    if headers and any(c.header for c in cols):
        lines.append(layout.header())
    count = 0
    row = layout.row
    for task in rows:
        lines.append(row(task, ctx))
        count += 1
        if len(lines) >= BATCH:
            out.write("\n".join(lines) + "\n")
            lines.clear()
    if lines:
        out.write("\n".join(lines) + "\n")
    return count
