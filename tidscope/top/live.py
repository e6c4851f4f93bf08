"""The live view: threads under their process (or flat), redrawn every
interval, in a real terminal, with curses.

Keys: ``q`` quit; ``p`` pause (and resume); ``<`` ``>`` (or ``s``) change
the sort column, ``c`` back to %CPU; ``/`` filter by thread name (a part
of it), ``#`` by process id, an empty answer clears the filter; ``H``
threads grouped under their process, or flat; ``e`` expand (or fold) the
thread pools.  The HIST column is each thread's %CPU over its last
intervals, one character each (a block of 1/8 steps, or ``_.:-=+*#%@`` where
the output cannot carry blocks), the newest last.

The terminal is given back on every way out: the end of the view, an
exception, SIGINT, SIGTERM, SIGHUP and SIGQUIT (which unwind as
exceptions: errors.raise_once), SIGTSTP (the screen is put back before
the view stops, and redrawn when it continues), and a failed write to a
terminal that went away (its errors are ignored while the screen is put
back).  A resize (SIGWINCH, taken by a handler of ours) redraws at the
new size.
"""

from __future__ import annotations

import contextlib
import curses
import os
import signal
import time
from collections import deque

from tidscope.errors import Terminated
from tidscope.text import escape
from tidscope.top import interval, pools
from tidscope.top.columns import SORTS, TABLE, sort_key
from tidscope.top.sample import Reading, Sampler

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    Row = dict[str, Any]

HISTORY = 8  # intervals of %CPU kept per thread
BLOCKS = "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
ASCII = "_.:-=+*#%@"
WIDTHS = {
    "tid": 7, "pid": 7, "user": 8, "s": 1, "cpu": 3, "pol": 3, "ni": 3, "pcpu": 6, "usr": 6,
    "sys": 6, "vcsw": 7, "ivcsw": 7, "migr": 6, "minflt": 7, "majflt": 6, "threads": 4,
    "hist": HISTORY, "name": 18, "wchan": 20,
}  # fmt: skip
# what a narrow terminal must show first: who, how busy, lately, and its name
FIRST = ("tid", "pid", "s", "pcpu", "usr", "sys", "hist", "name")
SHOWN = (*FIRST, *(k for k in TABLE if k not in FIRST and k != "wchan"), "wchan")
LEFT = frozenset({"user", "s", "pol", "hist", "name", "wchan"})
HELP = "q quit  p pause  < > sort  c %CPU  / name  # pid  H flat  e pools"


class State:
    """What the keys change."""

    def __init__(self, sort: str, flat: bool, fold: bool) -> None:
        self.sort = sort
        self.flat = flat
        self.fold = fold
        self.paused = False
        self.name = ""  # a part of the thread name shown
        self.pids: frozenset[int] = frozenset()
        self.prompt: str | None = None  # the filter being typed, after its key
        self.typed = ""
        self.quit = False


def _history_line(values: deque[float], blocks: str) -> str:
    steps = len(blocks) - 1
    return "".join(blocks[min(steps, round(v / 100 * steps))] for v in values)


class View:
    """The live view over ``sampler``, refreshed every ``delay`` seconds."""

    def __init__(
        self, sampler: Sampler, delay: float, count: int | None, state: State, utf8: bool
    ) -> None:
        self.sampler = sampler
        self.delay = delay
        self.count = count
        self.state = state
        self.blocks = BLOCKS if utf8 else ASCII
        self.rows: list[Row] = []
        self.length = 0.0
        self.when = 0.0
        self.history: dict[tuple[int, int], deque[float]] = {}
        self.frames = 0

    # -- the figures -------------------------------------------------------------------

    def _intervals(self) -> Iterator[None]:
        """Each step: a new interval's rows, read once ``delay`` has passed."""
        sampler = self.sampler
        before = sampler.read()
        began = sampler.began
        while True:
            after = sampler.read()
            rows = interval.rows(before, after, began)
            self._remember(rows, after)
            self.rows, self.length, self.when = rows, sampler.began - began, time.time()
            before, began = after, sampler.began
            self.frames += 1
            yield

    def _remember(self, rows: list[Row], after: dict[tuple[int, int], Reading]) -> None:
        starts = {r.tid: r.start for r in after.values()}
        kept: dict[tuple[int, int], deque[float]] = {}
        for r in rows:
            key = (r["tid"], starts.get(r["tid"], 0))
            past = self.history.get(key) or deque(maxlen=HISTORY)
            past.append(r["pcpu"])
            kept[key] = past
            r["hist"] = _history_line(past, self.blocks)
        self.history = kept

    def shown(self) -> list[tuple[Row, int]]:
        """The rows to draw, each with its indent (a thread under its process)."""
        st = self.state
        rows = [
            r
            for r in self.rows
            if (not st.name or st.name in r["name"]) and (not st.pids or r["pid"] in st.pids)
        ]
        key = sort_key(st.sort)
        if st.flat:
            folded = pools.fold(rows) if st.fold else rows
            return [(r, 0) for r in sorted(folded, key=key)]
        out: list[tuple[Row, int]] = []
        groups = pools.by_process(rows)
        heads = [
            (pools.process_row(pid, members, None), members) for pid, members in groups.items()
        ]
        for head, members in sorted(heads, key=lambda hm: key(hm[0])):
            head["pid"] = members[0]["pid"]
            if len(members) == 1:
                out.append((members[0], 0))
                continue
            out.append((head, 0))
            folded = pools.fold(members) if st.fold else members
            out.extend((r, 2) for r in sorted(folded, key=key))
        return out

    # -- drawing -------------------------------------------------------------------------

    def draw(self, screen: Any) -> None:
        st = self.state
        height, width = screen.getmaxyx()
        screen.erase()
        status = "paused" if st.paused else f"every {self.delay:g} s"
        filters = (f"  name ~ {st.name!r}" if st.name else "") + (
            f"  pid {','.join(map(str, sorted(st.pids)))}" if st.pids else ""
        )
        clock = time.strftime("%H:%M:%S", time.localtime(self.when or time.time()))
        title = (
            f"tidscope top - {clock}{filters}  sort {st.sort}  {status}"
            f"  interval {self.length:.2f} s  threads {len(self.rows)}"
        )
        lines = [title, HELP if st.prompt is None else f"{st.prompt} {st.typed}_"]
        if not self.frames:
            lines.append(f"reading the first interval ({self.delay:g} s)...")
        header = _line({k: k.upper() for k in SHOWN}, 0)
        body = [_line(r, indent) for r, indent in self.shown()] if self.frames else []
        for y, text in enumerate([*lines, header, *body][: max(height, 0)]):
            attr = curses.A_REVERSE if y == len(lines) else curses.A_NORMAL
            _put(screen, y, text[: max(width - 1, 0)], attr)
        screen.refresh()

    # -- keys ----------------------------------------------------------------------------

    def key(self, code: int) -> None:
        st = self.state
        if st.prompt is not None:
            self._typing(code)
            return
        char = chr(code) if 0 <= code < 0x110000 else ""
        if char in ("q", "Q"):
            st.quit = True
        elif char == "p":
            st.paused = not st.paused
        elif char in (">", "s"):
            st.sort = SORTS[(SORTS.index(st.sort) + 1) % len(SORTS)]
        elif char == "<":
            st.sort = SORTS[(SORTS.index(st.sort) - 1) % len(SORTS)]
        elif char == "c":
            st.sort = "pcpu"
        elif char == "H":
            st.flat = not st.flat
        elif char == "e":
            st.fold = not st.fold
        elif char in ("/", "#"):
            st.prompt = "name:" if char == "/" else "pid:"
            st.typed = ""

    def _typing(self, code: int) -> None:
        st = self.state
        if code in (10, 13, curses.KEY_ENTER):
            if st.prompt == "name:":
                st.name = st.typed
            else:
                st.pids = frozenset(
                    int(w) for w in st.typed.replace(",", " ").split() if w.isdecimal()
                )
            st.prompt = None
        elif code == 27:  # Escape: leave the filter as it was
            st.prompt = None
        elif code in (8, 127, curses.KEY_BACKSPACE):
            st.typed = st.typed[:-1]
        elif 32 <= code < 0x110000 and chr(code).isprintable() and len(st.typed) < 64:
            st.typed += chr(code)

    # -- the loop ------------------------------------------------------------------------

    def run(self, screen: Any) -> None:
        screen.timeout(100)
        steps = self._intervals()
        next(steps)  # (the first reading alone makes no interval: it is the baseline)
        self.frames = 0
        due = self.sampler.began + self.delay
        self.draw(screen)
        while not self.state.quit:
            if not self.state.paused and self.sampler.clock() >= due:
                next(steps)
                due = self.sampler.began + self.delay
                self.draw(screen)
                if self.count is not None and self.frames >= self.count:
                    return
            code = screen.getch()
            _still_a_terminal()
            if _RESIZED:
                _RESIZED.clear()
                _resize()
                self.draw(screen)
            if code in (-1, curses.KEY_RESIZE):
                continue
            self.key(code)
            self.draw(screen)


def _cell(row: Row, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    return escape(str(value))


def _line(row: Row, indent: int) -> str:
    parts = []
    for key in SHOWN:
        text = _cell(row, key)
        width = WIDTHS[key]
        if key == "name":
            text = " " * indent + text
        if key in LEFT:
            parts.append(text[:width].ljust(width) if key != "wchan" else text)
        else:
            parts.append(text.rjust(width))
    return " ".join(parts).rstrip()


def _put(screen: Any, y: int, text: str, attr: int) -> None:
    with contextlib.suppress(curses.error):  # the last cell, or a screen that shrank
        screen.addstr(y, 0, text, attr)


# -- the terminal, given back on every way out ------------------------------------------


def _restore(screen: Any) -> None:
    for step in (
        lambda: screen.keypad(False),
        curses.echo,
        curses.nocbreak,
        curses.endwin,
    ):
        with contextlib.suppress(curses.error, OSError):  # a terminal that went away
            step()


def _suspend(signo: int, frame: object) -> None:
    """SIGTSTP: the screen put back, then stop as the default action would;
    redrawn whole when continued."""
    with contextlib.suppress(curses.error):
        curses.endwin()
    old = signal.signal(signal.SIGTSTP, signal.SIG_DFL)
    try:
        os.kill(os.getpid(), signal.SIGTSTP)  # stops here until SIGCONT
    finally:
        signal.signal(signal.SIGTSTP, old)
    if _SCREEN:  # continued: everything redrawn
        _SCREEN[0].clearok(True)
        _SCREEN[0].refresh()


_SCREEN: list[Any] = []
_RESIZED: list[int] = []


def _resized(signo: int, frame: object) -> None:
    """SIGWINCH: noted here, acted on by the loop (curses' own handler is
    not there when the signal's disposition was not the default)."""
    _RESIZED.append(signo)


def _still_a_terminal() -> None:
    """A terminal that hung up (its window gone) ends the view as SIGHUP
    does: its reads then return at once, and the view would spin.  (The
    kernel sends SIGHUP to the session's leader; a shell that ignores it,
    or a tidscope outside the foreground group, would not hear of it.)"""
    try:
        os.get_terminal_size(1)
    except OSError:
        raise Terminated(signal.SIGHUP) from None


def _resize() -> None:
    """The screen set to the terminal's new size."""
    try:
        size = os.get_terminal_size(1)
    except OSError:  # no longer a terminal: the next write says so
        return
    with contextlib.suppress(curses.error):
        curses.resizeterm(size.lines, size.columns)
        if _SCREEN:  # cleared whole: what lay past the new edges goes too
            _SCREEN[0].clearok(True)


def show(view: View) -> None:
    """Run ``view`` in the terminal, and give the terminal back."""
    old_tstp = signal.getsignal(signal.SIGTSTP)
    if old_tstp == signal.SIG_DFL:  # before initscr: curses then keeps its hands off
        signal.signal(signal.SIGTSTP, _suspend)
    old_winch = signal.signal(signal.SIGWINCH, _resized)
    screen = None
    try:
        # the window's own size, not $COLUMNS and $LINES (which a shell may
        # have set for another size): the view follows the terminal
        curses.use_env(False)
        screen = curses.initscr()
        _SCREEN[:] = [screen]
        curses.noecho()
        curses.cbreak()
        screen.keypad(True)
        with contextlib.suppress(curses.error):  # a terminal without a cursor to hide
            curses.curs_set(0)
        view.run(screen)
    finally:
        _SCREEN.clear()
        if screen is not None:
            _restore(screen)
        if old_tstp == signal.SIG_DFL:
            signal.signal(signal.SIGTSTP, old_tstp)
        signal.signal(signal.SIGWINCH, old_winch)
        _RESIZED.clear()
