"""``tidscope ps`` itself: resolve the command line, read, order, print.

Which tasks are read (a :class:`Query`: every process, every thread, or
the ids given) is here too, with why ids matched nothing.

Without --sort or a tree, rows are read, formatted and written one at a
time, in every format (memory does not grow with the number of tasks);
--sort and --forest/-H read every selected task first, as procps does.  The
table is layout.py's (procps's layout), JSON and CSV render.py's, in the
same order.
"""

from __future__ import annotations

import os

from tidscope.errors import TidscopeError, UsageError
from tidscope.proc import snapshot
from tidscope.proc.files import PROC
from tidscope.proc.root import SHOWN, foreign_note, hidden_note, is_proc_mount
from tidscope.proc.task import Task, tgid_of
from tidscope.ps.columns import Column, check_keys
from tidscope.ps.context import Context
from tidscope.ps.layout import OUTBUF_SIZE, screen_columns
from tidscope.ps.options import FLAGS, LISTS
from tidscope.ps.request import EVERY_PAGE, HIDE_KERNEL, NONE, Request, resolve
from tidscope.text import from_env, window

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from typing import IO

WIDE = 132  # -w: at least this many columns
ROWS = 24  # procps's screen height when no terminal says otherwise


def run(**params: object) -> int:
    """``tidscope ps``, for click's command and the fast path alike, with
    the values of ps's options (ps/options.py) under their names: each flag
    (False if not given), each list (a sequence of the values given), each
    value (None if not given), BSD arguments, -w's count.

    As in procps, selections add up, -A/-e lists everything, and with
    nothing selected every process is listed.  Exit status 1 when no task
    matched.
    """
    return execute(prepare(**params))  # type: ignore[arg-type]


def prepare(
    *,
    bsd: Sequence[str] = (),
    wide: int = 0,
    proc_root: str = "/proc",
    fmt: str = "table",
    cols: str | None = None,
    rows: str | None = None,
    **options: object,
) -> Request | str:
    """The Request of one command line (UsageError if it has none), or the
    version line -V asks for."""
    flags = {name: bool(options.get(name, False)) for name in FLAGS}
    lists: dict[str, Sequence[str]] = {}
    for name in LISTS:
        value = options.get(name, ())
        assert isinstance(value, list | tuple)
        lists[name] = [str(v) for v in value]
    if flags["version"] or "V" in bsd:
        return _version(flags, lists, bsd, wide, cols, rows)
    req = resolve(
        flags=flags,
        wide=wide,
        lists=lists,
        bsd_tokens=bsd,
        proc_root=proc_root,
        fmt=fmt,
        cols=cols,
        rows=rows,
    )
    if req.fmt != "table":
        check_keys(req.columns)
    return req


def _version(
    flags: dict[str, bool],
    lists: dict[str, Sequence[str]],
    bsd: Sequence[str],
    wide: int,
    cols: str | None,
    rows: str | None,
) -> str:
    """-V, --version or BSD V, alone as procps wants it: tidscope's version."""
    others = [name for name, given in flags.items() if given and name != "version"]
    alone = not others and not any(lists.values()) and not wide and cols is rows is None
    if not alone or len(bsd) > (0 if flags["version"] else 1):
        raise UsageError("-V prints the version alone: give it without other options")
    from tidscope import __version__

    return f"tidscope, version {__version__}"


def execute(req: Request | str) -> int:
    """Print what ``prepare`` made of a command line (see :func:`run`)."""
    import sys

    if isinstance(req, str):
        sys.stdout.write(req + "\n")
        return 0
    for warning in req.warnings:
        sys.stderr.write(warning + "\n")
    count = show(req, sys.stdout)
    hidden_note("ps", req.root)
    foreign_note("ps", req.root, SHOWN)
    if not count:  # procps prints the header alone; we also say why on stderr
        raise TidscopeError(_why_nothing(req))
    return 0


def selected(req: Request, want: frozenset[str]) -> Iterator[Task]:
    """The tasks ``req`` selects, in /proc order (-q: in its own order);
    with $LIBPROC_HIDE_KERNEL, none of the kernel's (:data:`KTHREADD`'s)."""
    found = _selected(req, want)
    if req.hide_kernel:
        return (t for t in found if KTHREADD not in (t.tgid, t.ppid))
    return found


KTHREADD = 2  # libproc2 takes process 2 for the kernel's, whatever the namespace


def _selected(req: Request, want: frozenset[str]) -> Iterator[Task]:
    root, threads = req.root, req.threads is not None
    if req.quick:
        return _quick(req.quick, threads, root, want)
    sel = req.selection
    if sel is None:
        return snapshot.tasks(root, want) if threads else snapshot.processes(root, want)
    if sel.ids_only:
        return tasks(Query(threads, req.pids, req.tids, root), want)
    walk = (
        snapshot.tasks(root, want | sel.needs)
        if threads
        else snapshot.processes(root, want | sel.needs)
    )
    return (t for t in walk if sel.wants(t))


def _quick(pids: Sequence[int], threads: bool, root: str, want: frozenset[str]) -> Iterator[Task]:
    for pid in pids:  # procps: in the order given, a pid given twice twice
        if threads:
            yield from snapshot.group(pid, root, want)
        else:
            task = snapshot.process(pid, root, want)
            if task is not None:
                yield task


def show(req: Request, out: IO[str]) -> int:
    """Print what ``req`` asks for to ``out``; the number of rows."""
    cols = req.columns
    sort_needs: frozenset[str] = frozenset()
    if req.sort:
        from tidscope.ps.sort import needs

        sort_needs = needs(req.sort)
    want = frozenset().union(*(c.needs for c in cols)) | sort_needs
    ctx = Context(req.root, signames=req.signames, cumulative=req.cumulative)
    rows: Iterable[Task] = selected(req, want)
    marks: list[str] | None = None
    if req.forest:
        from tidscope.ps import forest

        pairs = list(forest.walk(forest.order(list(rows), req.sort, ctx), req.forest))
        rows = [task for task, _ in pairs]
        marks = [m for _, m in pairs]
    elif req.sort:
        from tidscope.ps.sort import ordered

        rows = ordered(list(rows), req.sort, ctx)
    if req.fmt != "table":
        from tidscope.render import render

        keys = [c.key for c in cols]
        headers = req.headers != NONE
        return render(records(rows, cols, ctx), keys, req.fmt, headers=headers, out=out)
    if marks is not None and req.forest:
        cols, rows = _indented(cols, rows, marks, req.forest)
    return _table(rows, cols, ctx, out, req)


def records(
    rows: Iterable[Task], cols: Sequence[Column], ctx: Context
) -> Iterator[dict[str, object]]:
    """Typed rows for JSON and CSV, keyed by the columns' keys, one at a time."""
    for task in rows:
        yield {c.key: c.value(task, ctx) for c in cols}


def _indented(
    cols: list[Column], rows: Iterable[Task], marks: list[str], kind: str
) -> tuple[list[Column], Iterator[Task]]:
    """The command columns with each row's tree indent in front of their
    text (forest.Indented: cut to the room as procps cuts it)."""
    from tidscope.ps.forest import COMMAND_COLUMNS, Indented, chunk, draw

    size = chunk(kind)
    current = [""]

    def wrap(col: Column) -> Column:
        text = col.text

        def indented(t: Task, c: Context) -> str:
            return Indented(current[0], text(t, c), size)

        return col.but(text=indented)

    def walk() -> Iterator[Task]:
        for task, mark in zip(rows, marks, strict=True):
            current[0] = draw(mark, kind)
            yield task

    return [wrap(c) if c.name in COMMAND_COLUMNS else c for c in cols], walk()


def _table(
    rows: Iterable[Task], cols: Sequence[Column], ctx: Context, out: IO[str], req: Request
) -> int:
    from tidscope.ps.layout import write_table

    width = req.cols or screen_columns(out)
    if req.wide == 1 and width < WIDE:
        width = WIDE
    elif req.wide > 1:
        width = OUTBUF_SIZE
    if req.headers != EVERY_PAGE:
        return write_table(rows, cols, ctx, out, req.headers != NONE, width)
    # --headers: a header, then one more before every screenful of rows,
    # printed even when every header is empty (procps's HEAD_MULTI)
    from tidscope.ps.layout import Layout

    header = Layout(cols, width, ctx.signames).header() + "\n"
    gap = (req.rows or screen_rows(out)) - 1
    count = 0
    page: list[Task] = []
    for task in rows:
        page.append(task)
        if len(page) == gap:
            out.write(header)
            count += write_table(page, cols, ctx, out, False, width)
            page = []
    if page or not count:
        out.write(header)
        count += write_table(page, cols, ctx, out, False, width)
    return count


def screen_rows(out: IO[str]) -> int:
    """procps's screen height: $LINES, else the terminal's (text.window),
    else 24."""
    try:
        fd: int | None = out.fileno()
    except (OSError, ValueError):
        fd = None
    size = window(fd)
    return from_env("LINES", OUTBUF_SIZE) or (size[1] if size else ROWS)


def _why_nothing(req: Request) -> str:
    """Why nothing was listed: one line for stderr."""
    threads = req.threads is not None
    if req.hide_kernel and any(True for _ in _selected(req, frozenset())):
        return (
            f"{HIDE_KERNEL} is set, which leaves out process {KTHREADD} and its children,"
            " the kernel's, as procps does: unset it to list them"
        )
    if req.quick:
        return unmatched(Query(threads, req.quick, (), req.root))
    sel = req.selection
    if sel is None:
        return snapshot.why_nothing(req.root, threads)
    if sel.ids_only:
        return unmatched(Query(threads, req.pids, req.tids, req.root))
    snapshot.pid_names(req.root)  # raises if root is no proc mount at all
    what = "thread" if threads else "process"
    return f"no {what} matched the selection: see tidscope ps -e for the processes there are"


# -- which tasks: every process, or every thread, or the ids given (procps's
# id lists), and why ids matched nothing


class Query:
    """Which tasks: all processes, or threads (``-T``/``-L``, or ``tids``), maybe only some."""

    __slots__ = ("pids", "root", "threads", "tids")

    def __init__(
        self,
        threads: bool = False,
        pids: tuple[int, ...] = (),
        tids: tuple[int, ...] = (),
        root: str = PROC,
    ) -> None:
        self.threads = threads
        self.pids = pids
        self.tids = tids
        self.root = root

    @property
    def everything(self) -> bool:
        return not self.pids and not self.tids


def unmatched(query: Query) -> str:
    """Why ``query``, which names ids, matched no task: one line for stderr."""
    root = query.root
    snapshot.pid_names(root)  # raises if root is no proc mount at all
    for pid in query.pids:
        tgid = tgid_of(pid, root)
        if tgid is not None and tgid != pid:
            return (
                f"{pid} is a thread of process {tgid}, not a process:"
                f" use -T -p {tgid}, or --tid {pid}"
            )
    for pid in query.pids:  # there, but not to be read: say what was wrong
        if os.path.lexists(f"{root}/{pid}"):
            problem = snapshot.unreadable(root, str(pid), query.threads)
            if problem is not None:
                fix = "run again"
                if root != PROC and not is_proc_mount(root):
                    fix = "point --proc-root at a proc mount"
                return f"process {pid} could not be read: {problem[0]} {problem[1]}: {fix}"
    missing = []
    if query.pids:
        missing.append("no process " + ", ".join(map(str, query.pids)))
    if query.tids:
        missing.append("no thread " + ", ".join(map(str, query.tids)))
    return " and ".join(missing) + ": see tidscope ps -AT for the tasks there are"


def tasks(query: Query, want: frozenset[str]) -> Iterator[Task]:
    """The tasks ``query`` selects, in /proc order, each read once."""
    root = query.root
    if query.threads or query.tids:
        if query.everything:
            return snapshot.tasks(root, want)
        return snapshot.selected(query.pids, query.tids, root, want)
    if query.everything:
        return snapshot.processes(root, want)
    return (
        t
        for t in (snapshot.process(pid, root, want) for pid in sorted(set(query.pids)))
        if t is not None
    )
