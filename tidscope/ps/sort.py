"""``--sort`` (and BSD ``k``): procps's sort keys and how it compares them.

A sort list is ``[+|-]key[,[+|-]key...]``: items separated by one comma,
blank, tab or newline each (one trailing separator allowed), each an ``-o``
column name, ``-`` for descending.  The first key decides, the next ones
break ties, and tasks still tied keep /proc order (procps's sort is a
stable merge sort).  A key compares what procps's library compares for it,
which is not always what the column prints: TTY and the user and group
names as text, TIME in clock ticks, START and STIME by the tick the task
started, ELAPSED by the same tick backwards, %CPU by CPU time over elapsed
time, RSS and %MEM by VmRSS.  Text compares as procps's ``strcoll`` does
in the locale procps would run in (:func:`_collation`), and it is the
text procps prints: the command and its name escaped (``?`` for a byte
the locale cannot print), ``?`` for an empty command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from tidscope.errors import UsageError
from tidscope.proc.snapshot import CMDLINE, STATUS
from tidscope.proc.task import Task
from tidscope.text import escape

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from typing import Any

    from tidscope.ps.context import Context

Key = Callable[[Task, "Context"], "Any"]
SEPARATORS = " ,\t\n"
_N: frozenset[str] = frozenset()
_S = frozenset({STATUS})
_C = frozenset({CMDLINE})


def _field(number: int) -> Key:
    def key(t: Task, c: Context) -> int:
        return int(t.field(number) or b"0")

    return key


def _status_kb(line: bytes) -> Key:
    """A ``status`` line in kB (VmRSS: procps's RSS and %MEM sort by it,
    and it is not stat's rss, which the kernel only approximates)."""

    def key(t: Task, c: Context) -> int:
        status = t.status
        words = (status.line(line) or b"").split() if status is not None else []
        return int(words[0]) if words and words[0].isdigit() else 0

    return key


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _text(c: Context, text: str) -> Any:
    """How procps's strcoll orders ``text`` in the locale procps would run in."""
    collate = c.cache.get("pssort.collate")
    if collate is None:
        collate = c.cache["pssort.collate"] = _collation()
    return collate(text)


def _collation() -> Callable[[str], Any]:
    """procps sets every locale category from the environment (all of them,
    or none if one names a locale that is not installed) and compares text
    with strcoll: byte order in C, POSIX and C.UTF-8, else the order of the
    locale's LC_COLLATE, the bytes taken in its character set."""
    import locale

    from tidscope import text

    env = text._startup_environment()

    def chosen(category: str) -> str:
        return env.get("LC_ALL") or env.get(category) or env.get("LANG") or ""

    plain = ("", "C", "POSIX", "C.UTF-8", "C.utf8")
    names = {number: chosen(name) for number, name in text.CATEGORIES.items()}
    if chosen("LC_COLLATE") in plain:
        return _bytes
    saved = {number: locale.setlocale(number) for number in names}
    try:
        for number, name in names.items():
            locale.setlocale(number, name)
        codeset = locale.nl_langinfo(locale.CODESET)
    except (locale.Error, ValueError):
        return _bytes  # procps runs in the C locale then
    finally:
        for number, name in saved.items():
            if number != locale.LC_COLLATE:
                locale.setlocale(number, name)
    import codecs

    try:
        codec = codecs.lookup(codeset).name
    except LookupError:
        return _bytes

    def key(value: str) -> tuple[int, Any]:
        try:
            return (0, locale.strxfrm(_bytes(value).decode(codec, "surrogateescape")))
        except ValueError:  # a NUL, which strcoll never sees
            return (1, _bytes(value))

    return key


def _status_id(line: bytes, index: int) -> Key:
    def key(t: Task, c: Context) -> int:
        status = t.status
        words = (status.line(line) or b"").split() if status is not None else []
        return int(words[index]) if len(words) > index else -1

    return key


def _user(index: int) -> Key:
    uid = _status_id(b"Uid", index)

    def key(t: Task, c: Context) -> Any:
        number = uid(t, c)
        return _text(c, c.user(number) if number >= 0 else "")

    return key


def _group(index: int) -> Key:
    gid = _status_id(b"Gid", index)

    def key(t: Task, c: Context) -> Any:
        number = gid(t, c)
        names: dict[int, str] = c.cache.setdefault("pssort.groups", {})
        name = names.get(number)
        if name is None:
            import grp

            try:
                name = grp.getgrgid(number).gr_name if number >= 0 else ""
            except (KeyError, OverflowError):
                name = str(number)
            names[number] = name
        return _text(c, name)

    return key


def _args(t: Task, c: Context) -> Any:
    """The command line as procps keeps it for sorting and printing alike:
    escaped, ``?`` when that is empty, ``[name]`` when there is none."""
    return _text(c, c.args(t))


def _comm(t: Task, c: Context) -> Any:
    return _text(c, escape(t.name))


def _utilization(t: Task, c: Context) -> float:
    """procps's UTILIZATION, uncapped: CPU ticks (times 100 in C's float)
    per tick since the task began."""
    import struct

    from tidscope.ps.machine import boot_tics

    life = float((boot_tics(c) - t.start_ticks) & 0xFFFFFFFFFFFFFFFF)
    if life <= 0:
        return 0.0
    used: float = struct.unpack("f", struct.pack("f", float(t.cpu_ticks)))[0]
    hundred: float = struct.unpack("f", struct.pack("f", used * 100.0))[0]
    return hundred / life


def _tty(t: Task, c: Context) -> Any:
    return _text(c, c.tty(t) or "?")


Keys = dict[str, tuple[Key, frozenset[str]]]


def _names(keys: str, key: Key, needs: frozenset[str] = _N) -> Keys:
    return {name: (key, needs) for name in keys.split()}


# name: (key, the files beyond stat it reads), after procps's sort items
KEYS: Keys = {
    **_names("pid tgid", lambda t, c: t.tgid),
    **_names("tid spid lwp", lambda t, c: t.tid),
    **_names("ppid", lambda t, c: t.ppid),
    **_names("pgid pgrp", _field(5)),
    **_names("sid sess session", _field(6)),
    **_names("tpgid", _field(8)),
    **_names("f flag flags", _field(9)),
    **_names("min_flt minflt", _field(10)),
    **_names("maj_flt majflt pagein", _field(12)),
    **_names("pri opri priority intpri pri_api pri_bar pri_baz pri_foo", _field(18)),
    **_names("ni nice", _field(19)),
    **_names("nlwp thcount", lambda t, c: t.nlwp),
    # procps 4.0.2 sorts its memory sizes (SIZE, TRS, DRS...) by VSZ, and
    # sorts nothing under vsize and fgid: their order is the listing's
    **_names("vsz sz size m_size trs trss tsiz m_trs drs dsiz m_drs", _field(23)),
    **_names("vsize fgid", lambda t, c: 0),
    **_names("rss rssize rsz sgi_rss pmem %mem", _status_kb(b"VmRSS"), _S),
    **_names("psr cpu cpuid lastcpu", _field(39)),
    **_names("rtprio", _field(40)),
    **_names("class cls policy sched", _field(41)),  # procps 4.0.2: the number, not CLS's text
    **_names("time cputime atime times cputimes bsdtime", lambda t, c: t.cpu_ticks),
    **_names("start stime start_time lstart bsdstart", lambda t, c: t.start_ticks),
    **_names("etime etimes", lambda t, c: -t.start_ticks),
    **_names("pcpu %cpu c cp util cuu", _utilization),
    **_names("s state stat", lambda t, c: t.state),
    **_names("comm ucmd ucomm fname", _comm),
    **_names("args cmd command", _args, _C),
    **_names("tty tt tname tty8 tty4 longtname", _tty),
    **_names("ruid", _status_id(b"Uid", 0), _S),
    **_names("uid euid", _status_id(b"Uid", 1), _S),
    **_names("suid svuid", _status_id(b"Uid", 2), _S),
    **_names("fuid fsuid", _status_id(b"Uid", 3), _S),
    **_names("ruser", _user(0), _S),
    **_names("user euser uname uid_hack", _user(1), _S),
    **_names("suser svuser", _user(2), _S),
    **_names("fuser fsuser", _user(3), _S),
    **_names("rgid", _status_id(b"Gid", 0), _S),
    **_names("gid egid", _status_id(b"Gid", 1), _S),
    **_names("sgid svgid", _status_id(b"Gid", 2), _S),
    **_names("fsgid", _status_id(b"Gid", 3), _S),
    **_names("rgroup", _group(0), _S),
    **_names("group egroup", _group(1), _S),
    **_names("sgroup svgroup", _group(2), _S),
    **_names("fgroup fsgroup", _group(3), _S),
}


class SortKey:
    """One item of a sort list: what to compare, which way, what it reads."""

    __slots__ = ("key", "name", "needs", "reverse")

    def __init__(self, name: str, key: Key, needs: frozenset[str], reverse: bool) -> None:
        self.name = name
        self.key = key
        self.needs = needs
        self.reverse = reverse


def parse(specs: Sequence[str], option: str = "--sort") -> list[SortKey]:
    """The keys of one sort list; UsageError naming what is wrong and the fix."""
    if len(specs) > 1:
        raise UsageError(
            f"{option} is given {len(specs)} times: give one list, e.g. {option} -pcpu"
        )
    keys: list[SortKey] = []
    for spec in specs:
        for item in _items(spec, option):
            reverse = item.startswith("-")
            name = item[1:] if item[:1] in "+-" else item
            keys.append(_key(name, reverse, option))
    return keys


def _items(spec: str, option: str) -> list[str]:
    """procps's long_sort_parse: one separator between items, one trailing allowed."""
    items: list[str] = []
    current = ""
    need = True
    for ch in spec:
        if ch in SEPARATORS:
            if need:
                break
            items.append(current)
            current, need = "", True
        else:
            current += ch
            need = False
    else:
        if current:
            items.append(current)
        if items:
            return items
    raise UsageError(
        f"{option} {spec!r} is not a sort list: keys separated by one comma each,"
        f" e.g. {option} -pcpu,pid"
    )


def _key(name: str, reverse: bool, option: str) -> SortKey:
    from tidscope.ps.columns import SPECS, column

    found = KEYS.get(name)
    if found is not None:
        return SortKey(name, found[0], found[1], reverse)
    if name in SPECS:  # a column with no key of its own: its typed value
        col = column(name, 5)
        value = col.value
        return SortKey(name, lambda t, c: _orderable(value(t, c)), col.needs, reverse)
    hint = f" (column names are lower case: {name.lower()})" if name.lower() in SPECS else ""
    raise UsageError(
        f"unknown sort key {name!r} in {option}{hint}: give [+|-] and an -o column name,"
        f" e.g. {option} -pcpu,pid (see tidscope-ps(1) COLUMNS)"
    )


def _orderable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    if isinstance(value, str):
        return (1, _bytes(value))
    if isinstance(value, list | tuple):
        return (1, tuple(map(str, value)))
    return (1, value)


def needs(keys: Iterable[SortKey]) -> frozenset[str]:
    return frozenset().union(*(k.needs for k in keys))


def ordered(tasks: list[Task], keys: Sequence[SortKey], ctx: Context) -> list[Task]:
    """``tasks`` sorted by ``keys``, the first deciding; ties keep their order."""
    for sort_key in reversed(keys):
        key = sort_key.key
        tasks.sort(key=lambda t: key(t, ctx), reverse=sort_key.reverse)
    return tasks
