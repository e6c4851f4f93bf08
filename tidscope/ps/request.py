"""One ``tidscope ps`` command line, resolved as procps resolves it.

The options click (or the fast path) parsed become a :class:`Request`:
which rows (processes, threads with -T/-L/--tid, threads shown as
processes with BSD ``H``), which columns (-o, or the list the format
letters make: formats.py), which tasks (selection.py, or -q's own list),
in which order (--sort: sort.py; --forest/-H: forest.py), with which
headers and how wide.  Every combination procps refuses, and every bad
value, is a UsageError naming the problem and the fix.
"""

from __future__ import annotations

import os

from tidscope.errors import UsageError
from tidscope.proc.root import pid_width
from tidscope.ps.columns import Column, column, parse_format
from tidscope.ps.options import SELECTIONS

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tidscope.ps.bsd import BsdArgs
    from tidscope.ps.selection import Selection
    from tidscope.ps.sort import SortKey

ONCE, EVERY_PAGE, NONE = "once", "every page", "none"  # header lines


class Request:
    """What to list and how: the resolved command line.

    ``threads`` is None (processes), ``T``/``L`` (-T/-L/--tid) or ``H``
    (BSD H: every thread, shown as a process is); ``quick`` is -q's list
    (read directly, in its order); ``forest`` None, forest.FOREST or
    forest.HIERARCHY.
    """

    def __init__(self) -> None:
        self.threads: str | None = None
        self.columns: list[Column] = []
        self.selection: Selection | None = None  # None: every task
        self.pids: tuple[int, ...] = ()  # -p (and BSD p), for messages
        self.tids: tuple[int, ...] = ()
        self.quick: tuple[int, ...] = ()
        self.sort: list[SortKey] = []
        self.forest: str | None = None
        self.headers = ONCE
        self.wide = 0
        self.cols: int | None = None  # --cols/--columns/--width: the screen's width
        self.rows: int | None = None  # --rows/--lines: its height
        self.signames = False
        self.cumulative = False
        self.warnings: list[str] = []  # said on stderr, as procps says them (PS_FORMAT)
        self.hide_kernel = False  # $LIBPROC_HIDE_KERNEL: no kthreadd, none of its children
        self.root = ""
        self.fmt = "table"


def resolve(
    *,
    flags: dict[str, bool],
    wide: int,
    lists: dict[str, Sequence[str]],
    bsd_tokens: Sequence[str],
    proc_root: str,
    fmt: str,
    cols: str | None = None,
    rows: str | None = None,
    env: Mapping[str, str] | None = None,
) -> Request:
    """The Request of one command line (see run.run for the parameters);
    ``env`` the environment procps reads (PS_FORMAT, LIBPROC_HIDE_KERNEL),
    os.environ if None."""
    from tidscope.proc.selectors import parse_ids

    env = os.environ if env is None else env
    req = Request()
    # libproc2's: set to anything, even empty, it leaves out process 2 and
    # every task whose parent it is, whatever the selection
    req.hide_kernel = HIDE_KERNEL in env
    req.root = proc_root
    req.fmt = fmt.lower()
    req.signames = flags["signames"]
    bsd = _bsd(bsd_tokens)
    if bsd and bsd.version:  # V alone is run.prepare's; with other letters, procps refuses
        raise UsageError("BSD V prints the version alone: give it without other options")
    req.cumulative = flags["cumulative"] or bool(bsd and bsd.cumulative)
    req.cols = _dimension(cols, "--cols", "columns", 120)
    req.rows = _dimension(rows, "--rows", "rows", 50)
    pids = list(lists["pids"]) + (bsd.pids if bsd else [])
    req.pids = parse_ids(pids, "-p")
    req.tids = parse_ids(lists["tids"], "--tid")
    req.threads = _threads(flags, bsd, bool(req.tids))
    req.forest = _forest(flags, bsd, req.threads)
    req.headers = _headers(flags, bsd)
    req.wide = wide + (bsd.wide if bsd else 0)
    sort = list(lists["sort"]) + (bsd.sort if bsd else [])
    if sort:
        from tidscope.ps import sort as pssort

        option = "--sort" if lists["sort"] else "k"
        if lists["sort"] and bsd and bsd.sort:
            raise UsageError("--sort and BSD k both give the order: give one of them")
        req.sort = pssort.parse(sort, option)
    quick = list(lists["quick"]) + (bsd.quick if bsd else [])
    if quick:
        req.quick = _quick(quick, lists, req, bsd)
    else:
        req.selection = _selection(flags, lists, bsd, req)
    req.columns = _columns(flags, lists, bsd, req, env)
    if req.sort:
        from tidscope.ps import sort as pssort

        req.sort = pssort.settle(req.sort, [c.name for c in req.columns])
    return req


HIDE_KERNEL = "LIBPROC_HIDE_KERNEL"
DIMENSION_MAX = 2000000000  # procps: more than 0, less than this


def _dimension(value: str | None, option: str, what: str, example: int) -> int | None:
    """--cols/--rows N as procps reads it: C's strtol, base 0 (``0x50``)."""
    if value is None:
        return None
    from tidscope.numeric import c_integer

    number = c_integer(value)
    if number is None or not 0 < number < DIMENSION_MAX:
        raise UsageError(
            f"{option} {value!r} is not a number of {what}: give 1 to {DIMENSION_MAX - 1},"
            f" e.g. {option} {example}"
        )
    return number


def _bsd(tokens: Sequence[str]) -> BsdArgs | None:
    if not tokens:
        return None
    from tidscope.ps import bsd

    return bsd.parse(tokens)


def _threads(flags: dict[str, bool], bsd: BsdArgs | None, tids: bool) -> str | None:
    if flags["spid"] and flags["lwp"]:
        raise UsageError("-T and -L both list threads: give one of them")
    if bsd and bsd.threads:
        if flags["spid"] or flags["lwp"]:
            given = "-T" if flags["spid"] else "-L"
            raise UsageError(f"BSD H and {given} both list threads: give one of them")
        return "H"
    if flags["lwp"]:
        return "L"
    if flags["spid"] or tids:
        return "T"
    return None


def _forest(flags: dict[str, bool], bsd: BsdArgs | None, threads: str | None) -> str | None:
    tree = flags["forest"] or bool(bsd and bsd.forest)
    if not tree and not flags["hierarchy"]:
        return None
    from tidscope.ps import forest

    if tree and flags["hierarchy"]:
        raise UsageError("-H and --forest both draw the tree: give one of them")
    kind = forest.FOREST if tree else forest.HIERARCHY
    if threads:
        given = {"T": "-T", "L": "-L", "H": "BSD H"}[threads]
        what = "-H" if kind == forest.HIERARCHY else "--forest"
        raise UsageError(
            f"{what} draws processes and {given} lists threads: give one of them"
            " (the tree of a process's threads is flat: -T -p PID)"
        )
    return kind


def _headers(flags: dict[str, bool], bsd: BsdArgs | None) -> str:
    none = flags["no_headers"] or bool(bsd and bsd.no_headers)
    if none and flags["headers"]:
        given = "--no-headers" if flags["no_headers"] else "BSD h"
        raise UsageError(f"--headers and {given} contradict each other: give one of them")
    return NONE if none else EVERY_PAGE if flags["headers"] else ONCE


def _quick(
    quick: list[str], lists: dict[str, Sequence[str]], req: Request, bsd: BsdArgs | None
) -> tuple[int, ...]:
    """-q: one list, alone, neither sorted nor drawn as a tree (as procps)."""
    from tidscope.proc.selectors import parse_ids

    if len(quick) > 1:
        raise UsageError("-q is given more than once: give one list, e.g. -q 1,42")
    others = [name for name, given in _list_options(lists, bsd).items() if given]
    if others:
        raise UsageError(
            f"-q reads only the processes it names, so it cannot be combined with"
            f" {others[0]}: use -p instead of -q"
        )
    if req.sort or req.forest:
        what = "--sort" if req.sort else "--forest" if req.forest == "forest" else "-H"
        raise UsageError(f"-q lists in the order given, not with {what}: use -p instead of -q")
    return parse_ids(quick, "-q")


def _list_options(lists: dict[str, Sequence[str]], bsd: BsdArgs | None) -> dict[str, bool]:
    """Whether each selecting list was given, by the option's first name;
    BSD p, U and t count as -p, -u and -t."""
    from_bsd = {"pids": bsd.pids, "users": bsd.users, "ttys": bsd.ttys} if bsd else {}
    return {o.names[0]: bool(lists[o.dest] or from_bsd.get(o.dest)) for o in SELECTIONS}


def _selection(
    flags: dict[str, bool], lists: dict[str, Sequence[str]], bsd: BsdArgs | None, req: Request
) -> Selection | None:
    """The selection, or None when every task is listed.  Every list is read
    (and a bad one refused) even when -A makes it moot, as procps reads it."""
    from tidscope.proc import selectors
    from tidscope.proc.selectors import parse_ids
    from tidscope.ps import selection as psselect

    sessions: frozenset[int] = frozenset()
    groups: frozenset[int] = frozenset()
    if lists["groups"]:
        sessions, groups = psselect.sessions_or_groups(lists["groups"])
    bsd_users, bsd_ttys = (bsd.users, bsd.ttys) if bsd else ([], [])
    users = selectors.users([*lists["users"], *bsd_users], "-u")
    real_users = selectors.users(lists["real_users"], "-U")
    sessions |= frozenset(parse_ids(lists["sids"], "-s"))
    groups |= selectors.groups(lists["egroups"], "--group")
    real_groups = selectors.groups(lists["real_groups"], "-G")
    commands = selectors.commands(lists["commands"])
    ppids = frozenset(parse_ids(lists["ppids"], "--ppid"))
    ttys = psselect.ttys([*lists["ttys"], *bsd_ttys])
    table = _table(flags, bsd)
    negate = flags["deselect"]
    if flags["all_"] or table == psselect.EVERYTHING:
        return psselect.Selection(everything=True, negate=True) if negate else None
    listed = bool(req.pids or req.tids or users or real_users or sessions or groups)
    listed = listed or bool(real_groups or commands or ppids or ttys)
    if table is None and bsd is not None and not listed:
        table = psselect.BSD_DEFAULT  # a BSD form without a selection
    if table is None and not listed and not negate:
        return None
    return psselect.Selection(
        table=table,
        negate=negate,
        pids=frozenset(req.pids),
        tids=frozenset(req.tids),
        users=users,
        real_users=real_users,
        sessions=sessions,
        groups=groups,
        real_groups=real_groups,
        commands=commands,
        ppids=ppids,
        ttys=ttys,
    )


def _table(flags: dict[str, bool], bsd: BsdArgs | None) -> int | None:
    """procps's table of its simple selections (Unix -a, -d; BSD a, x, g),
    as selection.Selection's table, or None where none is given.  Unix and
    BSD ones together conflict, as in procps (whose second reading of the
    command line may then take them all as BSD letters)."""
    from tidscope.ps import selection as psselect

    unix = flags["tty_others"] or flags["not_leaders"]
    if unix and bsd is not None and bsd.table:
        given = "-a" if flags["tty_others"] else "-d"
        letter = "a" if bsd.other_users else "x" if bsd.ttyless else "g"
        raise UsageError(
            f"{given} and BSD {letter} are two selections that conflict: give -{letter}"
            f" with a dash too, or {letter} alone"
        )
    if flags["not_leaders"] and flags["tty_others"]:
        return psselect.EITHER
    if flags["not_leaders"]:
        return psselect.NOT_LEADERS
    if flags["tty_others"]:
        return psselect.TTY_NOT_LEADERS
    if bsd is not None and bsd.table:
        if bsd.other_users and bsd.ttyless:
            return psselect.EVERYTHING
        if bsd.other_users:
            return psselect.BSD_A
        return psselect.BSD_X if bsd.ttyless else psselect.BSD_DEFAULT
    return None


def _columns(
    flags: dict[str, bool],
    lists: dict[str, Sequence[str]],
    bsd: BsdArgs | None,
    req: Request,
    env: Mapping[str, str],
) -> list[Column]:
    """The -o columns (-O's, with procps's around them), or the list procps
    makes for the format letters; without either, $PS_FORMAT's."""
    from tidscope.ps import formats as psformats

    formats = list(lists["formats"]) + (bsd.formats if bsd else [])
    preloaded = list(lists["preloaded"])
    bsd_preloaded = list(bsd.preloaded) if bsd else []
    if len(preloaded) + len(bsd_preloaded) > 1 or (formats and (preloaded or bsd_preloaded)):
        raise UsageError(
            "-O (or BSD O) can not follow other format options: give one -O list, or -o alone"
        )
    if preloaded:
        formats = psformats.preloaded(preloaded[0], bsd=False)
    elif bsd_preloaded:
        formats = psformats.preloaded(bsd_preloaded[0], bsd=True)
    style = psformats.Style(
        full=flags["full"],
        extra=flags["extra"],
        long=flags["long"],
        jobs=flags["jobs"],
        rss=flags["rss"],
        sched=flags["sched"],
        psr=flags["psr"],
        label=flags["label"] or bool(bsd and bsd.label),
        context=flags["context"],
        lwp=req.threads == "L",
        spid=req.threads == "T",
        bsd=bsd is not None,
        bsd_format=bsd.format_letter if bsd else "",
    )
    psformats.check(style, user_columns=bool(formats))
    width = pid_width(req.root)
    cols = None
    if not formats and not style.formatted and not style.modified:
        cols = _ps_format(env, width, req)
    if cols is None:
        cols = parse_format(formats or [",".join(psformats.names(style))], width)
    if bsd and bsd.command_names:
        cols = [_command_name(c) if c.key == "args" else c for c in cols]
    return cols


def _ps_format(env: Mapping[str, str], width: int, req: Request) -> list[Column] | None:
    """procps's $PS_FORMAT: the columns when no option chooses them; a bad
    one is ignored with a warning, as procps ignores it."""
    spec = env.get("PS_FORMAT")
    if not spec:
        return None
    try:
        return parse_format([spec], width)
    except UsageError as err:
        req.warnings.append(f"warning: $PS_FORMAT ignored: {err.message}")
        return None


def _command_name(col: Column) -> Column:
    """BSD c: the command column shows what ``comm`` shows, the task's name."""
    comm = column("comm", 1)
    return col.but(text=comm.text, value=comm.value, needs=comm.needs)
