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

from tidscope.errors import UsageError
from tidscope.proc.system import pid_width
from tidscope.ps.columns import Column, column, parse_format
from tidscope.ps.options import SELECTIONS

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Sequence

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
        self.signames = False
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
) -> Request:
    """The Request of one command line (see run.run for the parameters)."""
    from tidscope.proc.selectors import parse_ids

    req = Request()
    req.root = proc_root
    req.fmt = fmt.lower()
    req.signames = flags["signames"]
    bsd = _bsd(bsd_tokens)
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
    req.columns = _columns(flags, lists, bsd, req)
    return req


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
    if flags["all_"] or (bsd and bsd.other_users and bsd.ttyless):
        return None
    listed = bool(req.pids or req.tids or users or real_users or sessions or groups)
    listed = listed or bool(real_groups or commands or ppids or ttys)
    # a BSD selection letter (a, x, g) adds procps's table to the lists; a
    # BSD form without either is the table alone
    table = None
    if bsd is not None and (bsd.table or not listed):
        table = (bsd.other_users, bsd.ttyless)
    if table is None and not listed:
        return None
    return psselect.Selection(
        table=table,
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


def _columns(
    flags: dict[str, bool], lists: dict[str, Sequence[str]], bsd: BsdArgs | None, req: Request
) -> list[Column]:
    """The -o columns, or the list procps makes for the format letters."""
    from tidscope.ps import formats as psformats

    formats = list(lists["formats"]) + (bsd.formats if bsd else [])
    style = psformats.Style(
        full=flags["full"],
        extra=flags["extra"],
        long=flags["long"],
        jobs=flags["jobs"],
        rss=flags["rss"],
        sched=flags["sched"],
        lwp=req.threads == "L",
        spid=req.threads == "T",
        bsd=bsd is not None,
        bsd_format=bsd.format_letter if bsd else "",
    )
    psformats.check(style, user_columns=bool(formats))
    if not formats:
        formats = [",".join(psformats.names(style))]
    cols = parse_format(formats, pid_width(req.root))
    if bsd and bsd.command_names:
        cols = [_command_name(c) if c.key == "args" else c for c in cols]
    return cols


def _command_name(col: Column) -> Column:
    """BSD c: the command column shows what ``comm`` shows, the task's name."""
    comm = column("comm", 1)
    return col.but(text=comm.text, value=comm.value, needs=comm.needs)
