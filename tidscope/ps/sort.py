"""``--sort`` (and BSD ``k``): procps's sort keys and how it compares them.

A sort list is ``[+|-]key[,[+|-]key...]``: items separated by one comma,
blank, tab or newline each (one trailing separator allowed), each an ``-o``
column name, ``-`` for descending.  The first key decides, the next ones
break ties, and tasks still tied keep /proc order (procps's sort is a
stable merge sort).  A key compares what procps's library compares for it,
which is not always what the column prints: TTY and the user and group
names as text, TIME in clock ticks, START and STIME by the tick the task
started, ELAPSED by the same tick backwards, %CPU by CPU time over elapsed
time, RSS and %MEM by VmRSS, terminals by name as versions (glibc's
``strverscmp``).  Some keys compare what another column reads, and only
when such a column is there (:data:`_BORROWED`, :func:`settle`).  Text
compares as procps's ``strcoll`` does in the locale procps would run in
(:func:`_collation`), and it is the text libproc2 keeps, which is not
always what ps prints: command lines and names escaped by the library
alone (:func:`tidscope.text.library`), user and group names not at all,
``?`` for an empty command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import cmp_to_key

from tidscope.errors import UsageError
from tidscope.proc.snapshot import CMDLINE, STATUS
from tidscope.proc.task import Task
from tidscope.ps.ttys import strverscmp
from tidscope.text import library

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


def _account(kind: str, line: bytes, index: int) -> Key:
    """A user or group name key: the name as pwcache keeps it, not escaped."""
    number = _status_id(line, index)

    def key(t: Task, c: Context) -> Any:
        n = number(t, c)
        return _text(c, c.account(kind, n) if n >= 0 else "")

    return key


def _args(t: Task, c: Context) -> Any:
    """The command line as libproc2 keeps it (:func:`tidscope.text.library`),
    ``?`` when that is empty, ``[name]`` when there is none."""
    return _text(c, c.args(t, library))


def _comm(t: Task, c: Context) -> Any:
    return _text(c, library(t.name))


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


def _nothing(t: Task, c: Context) -> int:
    return 0


_version = cmp_to_key(strverscmp)


def _tty(t: Task, c: Context) -> Any:
    """Terminal names compare as libproc2 compares them, with glibc's
    ``strverscmp``: pts/9 before pts/10, whatever the locale."""
    return _version(_bytes(c.tty(t) or "?"))


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
    # procps 4.0.2 sorts its memory sizes (SIZE, TRS, DRS...) by VSZ
    **_names("vsz sz size m_size trs trss tsiz m_trs drs dsiz m_drs", _field(23)),
    # what ps prints as "-" and sorts by nothing (procps's PIDS_noop, or an
    # item no column reads: utime's TICS_USER...)
    **_names("cpu utime cutime resident m_resident m_share vm_exe vm_lib", _nothing),
    # the security label columns sort by the process id (procps 4.0.2)
    **_names("label context zone", lambda t, c: t.tgid),
    **_names("vsize", _field(23)),  # only with a column that reads it: _BORROWED
    **_names("fgid", _field(9)),
    **_names("start_code", _field(26)),
    **_names("end_code", _field(27)),
    **_names("vm_data", _status_kb(b"VmData"), _S),
    **_names("vm_stack", _status_kb(b"VmStk"), _S),
    **_names("rss rssize rsz sgi_rss pmem %mem", _status_kb(b"VmRSS"), _S),
    **_names("vm_lock", _status_kb(b"VmLck"), _S),  # prints "-", as procps
    **_names("psr cpuid lastcpu", _field(39)),
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
    **_names("ruser", _account("user", b"Uid", 0), _S),
    **_names("user euser uname uid_hack", _account("user", b"Uid", 1), _S),
    **_names("suser svuser", _account("user", b"Uid", 2), _S),
    **_names("fuser fsuser", _account("user", b"Uid", 3), _S),
    **_names("rgid", _status_id(b"Gid", 0), _S),
    **_names("gid egid", _status_id(b"Gid", 1), _S),
    **_names("sgid svgid", _status_id(b"Gid", 2), _S),
    **_names("fsgid", _status_id(b"Gid", 3), _S),
    **_names("rgroup", _account("group", b"Gid", 0), _S),
    **_names("group egroup", _account("group", b"Gid", 1), _S),
    **_names("sgroup svgroup", _account("group", b"Gid", 2), _S),
    **_names("fgroup fsgroup", _account("group", b"Gid", 3), _S),
}


# procps 4.0.2 sorts these keys by an item their own column does not read,
# so the sort finds it only when another column or sort key reads it (one
# of those named here): then it sorts by it (fgid by the flags, tty4 by
# the terminal's name...); else it sorts nothing (procps_pids_sort returns
# on an item it does not hold)
_SIZES = frozenset({"drs", "dsiz", "m_drs", "m_trs", "trs", "trss", "tsiz"})
_BORROWED: dict[str, frozenset[str]] = {
    "tty4": frozenset({"tty", "tt", "tname", "tty8", "longtname"}),
    "fgid": frozenset({"f", "flag", "flags"}),
    "vsize": _SIZES | {"m_size", "size"},
    "start_code": _SIZES,
    "end_code": _SIZES,
    "vm_data": frozenset({"size"}),
    "vm_stack": frozenset({"size"}),
}


def settle(keys: list[SortKey], columns: Iterable[str]) -> list[SortKey]:
    """``keys`` as they compare with these ``-o`` columns shown (names as
    given): a key of :data:`_BORROWED` none of whose columns is there, among
    the columns or the keys, sorts nothing."""
    present = {*columns, *(k.name for k in keys)}
    return [
        SortKey(k.name, _nothing, _N, k.reverse)
        if k.name in _BORROWED and not _BORROWED[k.name] & present
        else k
        for k in keys
    ]


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
        from tidscope.ps.extra_columns import UNREAD

        col = column(name, 5)
        value = col.value
        unread = UNREAD.get(col.key)  # what procps holds for a file it could not read
        if unread is not None:
            return SortKey(name, lambda t, c: _or(value(t, c), unread), col.needs, reverse)
        return SortKey(name, lambda t, c: _orderable(value(t, c)), col.needs, reverse)
    hint = f" (column names are lower case: {name.lower()})" if name.lower() in SPECS else ""
    raise UsageError(
        f"unknown sort key {name!r} in {option}{hint}: give [+|-] and an -o column name,"
        f" e.g. {option} -pcpu,pid (see tidscope-ps(1) COLUMNS)"
    )


def _or(value: int | None, unread: int) -> int:
    return unread if value is None else value


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
