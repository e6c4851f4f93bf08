"""The columns ``tidscope ps -o`` knows, with procps's names, headers and widths.

Each column has two faces: ``text`` is the cell procps would print, and
``value`` is the typed value JSON and CSV carry under ``key`` (text as read:
render.py escapes or cleans it for the format).  ``needs`` names the files
beyond ``stat`` the column reads (see snapshot.py).
"""

from __future__ import annotations

from tidscope.errors import UsageError
from tidscope.numeric import decimal, is_decimal
from tidscope.proc.snapshot import CMDLINE, UID
from tidscope.proc.task import Task
from tidscope.ps.context import LEFT, PIDMAX, RIGHT, TEXT, USER, Context, Spec, signed_id
from tidscope.text import escape

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

LONG_MAX = (1 << 63) - 1


class Column:
    """One -o column; treated as immutable (``but`` makes a changed copy)."""

    __slots__ = ("header", "just", "key", "name", "needs", "text", "value", "width")

    def __init__(
        self,
        name: str,  # as given to -o
        key: str,  # JSON/CSV key
        header: str,
        width: int,
        just: int,
        needs: frozenset[str],
        text: Callable[[Task, Context], str],
        value: Callable[[Task, Context], Any],
    ) -> None:
        self.name = name
        self.key = key
        self.header = header
        self.width = width
        self.just = just
        self.needs = needs
        self.text = text
        self.value = value

    def but(self, **changes: Any) -> Column:
        """A copy with ``changes`` (header, width, key...)."""
        fields = {name: getattr(self, name) for name in self.__slots__}
        return Column(**{**fields, **changes})


_TIMES: dict[int, str] = {}


def cpu_time(seconds: int) -> str:
    """``[DD-]HH:MM:SS``, as procps's TIME column."""
    text = _TIMES.get(seconds)
    if text is None:
        days, rest = divmod(seconds, 86400)
        hours, rest = divmod(rest, 3600)
        minutes, secs = divmod(rest, 60)
        text = f"{hours:02}:{minutes:02}:{secs:02}"
        text = _TIMES[seconds] = f"{days}-{text}" if days else text
    return text


def _tty_value(t: Task, c: Context) -> str | None:
    return c.tty(t)


def _args_value(t: Task, c: Context) -> str:
    return " ".join(t.cmdline) if t.cmdline else c.args(t)


_Spec = Spec  # name: (key, header, width, just, needs, text, value)
_N: frozenset[str] = frozenset()
_U = frozenset({UID})
_C = frozenset({CMDLINE})


def _pid(header: str) -> _Spec:
    return ("pid", header, PIDMAX, RIGHT, _N, lambda t, c: str(t.tgid), lambda t, c: t.tgid)


def _tid(header: str) -> _Spec:
    return ("tid", header, PIDMAX, RIGHT, _N, lambda t, c: str(t.tid), lambda t, c: t.tid)


def _comm(header: str) -> _Spec:
    return (
        "comm",
        header,
        15,
        TEXT,
        _N,
        lambda t, c: escape(t.name),
        lambda t, c: t.name,
    )


def _args(header: str) -> _Spec:
    return ("args", header, 27, TEXT, _C, lambda t, c: c.args(t), _args_value)


def _tty(header: str) -> _Spec:
    return ("tty", header, 8, LEFT, _N, lambda t, c: c.tty(t) or "?", _tty_value)


def _time(header: str) -> _Spec:
    return (
        "time",
        header,
        8,
        RIGHT,
        _N,
        lambda t, c: cpu_time(t.cpu_ticks // c.hz),
        lambda t, c: round(t.cpu_ticks / c.hz, 2),
    )


def _user(header: str) -> _Spec:
    return ("user", header, 8, USER, _U, lambda t, c: c.user(t.uid), _user_value)


def _user_value(t: Task, c: Context) -> str | None:
    return None if t.uid is None else c.account("user", t.uid)


def _uid(header: str) -> _Spec:
    return ("uid", header, 5, RIGHT, _U, lambda t, c: signed_id(t.uid), lambda t, c: t.uid)


def _state(header: str) -> _Spec:
    return ("state", header, 1, LEFT, _N, lambda t, c: t.state, lambda t, c: t.state)


def _nlwp(header: str, width: int) -> _Spec:
    return ("nlwp", header, width, RIGHT, _N, lambda t, c: str(t.nlwp), lambda t, c: t.nlwp)


def _start(header: str) -> _Spec:
    return ("start", header, 5, RIGHT, _N, lambda t, c: c.stime(t), lambda t, c: c.started(t))


_TABLE: dict[str, _Spec] = {
    "pid": _pid("PID"),
    "tgid": ("tgid", "TGID", PIDMAX, RIGHT, _N, lambda t, c: str(t.tgid), lambda t, c: t.tgid),
    "tid": _tid("TID"),
    "spid": _tid("SPID"),
    "lwp": _tid("LWP"),
    "ppid": ("ppid", "PPID", PIDMAX, RIGHT, _N, lambda t, c: str(t.ppid), lambda t, c: t.ppid),
    "nlwp": _nlwp("NLWP", 4),
    "thcount": _nlwp("THCNT", 5),
    "comm": _comm("COMMAND"),
    "ucomm": _comm("COMMAND"),
    "ucmd": _comm("CMD"),
    "args": _args("COMMAND"),
    "command": _args("COMMAND"),
    "cmd": _args("CMD"),
    "s": _state("S"),
    "state": _state("S"),
    "tty": _tty("TT"),
    "tt": _tty("TT"),
    "tname": _tty("TTY"),
    "time": _time("TIME"),
    "cputime": _time("TIME"),
    "times": (
        "times",
        "TIME",
        8,
        RIGHT,
        _N,
        lambda t, c: str(t.cpu_ticks // c.hz),
        lambda t, c: t.cpu_ticks // c.hz,
    ),
    "uid": _uid("UID"),
    "euid": _uid("EUID"),
    "user": _user("USER"),
    "euser": _user("EUSER"),
    "uname": _user("USER"),
    "uid_hack": _user("UID"),
    "stime": _start("STIME"),
    "start_time": _start("START"),
}


def column(name: str, pid_width: int) -> Column:
    """Column ``name`` (a procps -o name); UsageError naming the valid ones."""
    spec = _TABLE.get(name) or specs().get(name) or _every().get(name)
    if spec is None:
        _refused(name)
        SPECS = _every()
        if name.lower() in SPECS:  # procps: unknown user-defined format specifier
            raise UsageError(
                f"unknown column {name!r} in -o: column names are lower case, e.g. {name.lower()}"
            )
        raise UsageError(f"unknown column {name!r} in -o: use one of {', '.join(sorted(SPECS))}")
    key, header, width, just, needs, text, value = spec
    if width == PIDMAX:
        width = max(pid_width, len(header))
    return Column(name, key, header, width, just, needs, text, value)


# procps's test columns: each prints made-up values, the same whatever the task
TEST_COLUMNS = frozenset({"_left", "_left2", "_right", "_right2", "_unlimited", "_unlimited2"})


def _refused(name: str) -> None:
    """The names procps takes that tidscope refuses on purpose, each with why."""
    if name in TEST_COLUMNS:
        raise UsageError(
            f"-o {name} is one of procps's test columns, which print made-up values"
            " whatever the task: tidscope ps does not print them"
        )
    if name.startswith("%") and name not in ("%cpu", "%mem"):
        raise UsageError(
            f"-o {name!r}: AIX field descriptors (%p %c...) are not supported by tidscope"
            " ps: give the column names, e.g. -o pid,comm"
        )


def parse_format(specs: Sequence[str], pid_width: int) -> list[Column]:
    """``-o`` lists: ``name[:width][=header]`` items split by commas or blanks."""
    columns: list[Column] = []
    for spec in specs:
        items = spec.replace("\t", " ").replace("\n", " ").replace(",", " ").split(" ")
        if items and not items[-1]:
            items.pop()  # one trailing separator is allowed, as procps allows it
        if not items or not all(items):
            raise UsageError(f"-o {spec!r} is not a column list: give e.g. -o pid,tid,comm")
        for item in items:
            columns.append(_one(item, pid_width))
    return columns


def _one(item: str, pid_width: int) -> Column:
    name, eq, header = item.partition("=")
    name, colon, width = name.partition(":")
    col = column(name, pid_width)
    if eq:
        size = len(header.encode("utf-8", "surrogateescape"))  # procps: strlen
        col = col.but(header=header, width=max(col.width, size))
    if colon:
        col = col.but(width=_width(width, item))
    return col


def _width(text: str, item: str) -> int:
    """procps's column width: ASCII digits, no leading 0, read as C's
    ``atoi`` reads them into an int (so 4294967297 is 1)."""
    if not is_decimal(text) or text[0] == "0":
        raise UsageError(
            f"column width {text!r} in -o {item!r} is not a positive number in"
            " ASCII digits without a leading 0: give e.g. pid:8"
        )
    number = min(decimal(text) or 0, LONG_MAX) & 0xFFFFFFFF  # strtol saturates; int keeps 32
    if number == 0 or number >= 1 << 31:
        raise UsageError(
            f"column width {text!r} in -o {item!r} is out of range: give 1 to {(1 << 31) - 1}"
        )
    return number


def check_keys(columns: Sequence[Column]) -> None:
    """JSON and CSV name each value by its column's key (see tidscope-ps(1));
    UsageError if two columns of ``columns`` share one."""
    seen: dict[str, str] = {}
    for col in columns:
        if col.key in seen:
            first = seen[col.key]
            same = "is given twice" if first == col.name else f"and {col.name} are the same column"
            raise UsageError(f"-o {first} {same} (JSON/CSV key {col.key!r}): give it once")
        seen[col.key] = col.name


_LOADED: list[bool] = []


def specs() -> dict[str, _Spec]:
    """The usual columns: the ones above, and on first call those of the
    column modules (stat_columns.py, nop_columns.py, file_columns.py), which
    a plain ``ps`` does not import (a fifth of its start-up).  The rarer
    ones of extra_columns.py are :func:`_every`'s."""
    if not _LOADED:
        # the columns computed from stat and system files, those procps
        from tidscope.ps import file_columns, nop_columns, stat_columns

        # prints as "-", and more of procps's names for the above
        _TABLE.update(stat_columns.SPECS)
        _TABLE.update(nop_columns.SPECS)
        _TABLE.update(
            atime=_TABLE["time"],
            cputimes=_TABLE["times"],
            longtname=_TABLE["tname"],
            tty8=_TABLE["tname"],
        )
        # the columns that read status and the other per-task files
        _TABLE.update(file_columns.SPECS)
        _LOADED.append(True)
    return _TABLE


def _every() -> dict[str, _Spec]:
    """Every column: :func:`specs`'s and extra_columns.py's (procps 4's
    newer files and libsystemd), imported only when one of them is named
    (``ps -ef`` and ``ps aux`` need none)."""
    table = specs()
    if len(_LOADED) < 2:
        from tidscope.ps import extra_columns

        table.update(extra_columns.SPECS)
        _LOADED.append(True)
    return table


def __getattr__(name: str) -> dict[str, _Spec]:
    """``SPECS``: the whole table (see :func:`_every`)."""
    if name == "SPECS":
        return _every()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
