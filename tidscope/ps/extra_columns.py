"""The ps -o columns procps 4.0.2 reads from files of their own, and those
it asks libsystemd for.

``exe`` (where the task's ``exe`` link points), ``oom`` and ``oomadj``
(``oom_score``, ``oom_score_adj``), ``pss`` and ``uss`` (``smaps_rollup``:
Pss, and Private_Clean plus Private_Dirty, in KiB), the I/O counters of
``io`` (``rchars``, ``wchars``, ``rops``, ``wops``, ``rbytes``, ``wbytes``,
``wcbytes``), ``ag_id`` and ``ag_nice`` (``autogroup``), ``size``
(VmData plus VmStk of ``status``), ``label``, ``context`` and ``zone``
(the security label of ``attr/current``, as procps reads it where SELinux
is not enabled), ``luid`` (``loginuid``) and ``lxc`` (the LXC container
named in ``cgroup``).  A file that cannot be read prints as procps prints
it: ``-`` for a text, 0 for a number (-1 for ``ag_id``).

``lsession``, ``seat``, ``ouid``, ``slice``, ``unit``, ``uunit`` and
``machine`` are libsystemd's answers for the task (``sd_pid_get_*``), as
procps asks them; ``-`` where libsystemd is not installed or has none.
"""

from __future__ import annotations

from tidscope.numeric import kernel_ints
from tidscope.proc.snapshot import STATUS
from tidscope.proc.taskfiles import (
    ATTR,
    AUTOGROUP,
    CGROUP,
    EXE,
    IO,
    LOGINUID,
    OOM,
    OOM_ADJ,
    SMAPS,
    extra,
    task_status_line,
)
from tidscope.ps.context import LEFT, RIGHT, TEXT, Spec
from tidscope.text import escape

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from tidscope.proc.task import Task
    from tidscope.ps.context import Context


# what a number column (by key) prints and sorts as where its file cannot
# be read: procps's library holds that value then (ps/sort.py)
UNREAD: dict[str, int] = {}


def _number(
    key: str, header: str, width: int, needs: str, value: Callable[[Task], int | None], none: int
) -> Spec:
    """A number procps prints, and sorts, as ``none`` when its file cannot
    be read; JSON and CSV have null then."""
    UNREAD[key] = none

    def text(t: Task, c: Context) -> str:
        number = value(t)
        return str(none if number is None else number)

    return (key, header, width, RIGHT, frozenset({needs}), text, lambda t, c: value(t))


def _first_int(name: str) -> Callable[[Task], int | None]:
    def value(t: Task) -> int | None:
        data = extra(t, name)
        words = data.split() if data else []
        numbers = kernel_ints(words[0]) if words else None
        return numbers[0] if numbers else None

    return value


def _fields(data: bytes | None) -> dict[bytes, int]:
    """``name: number`` lines (``io``, ``smaps_rollup``), by name."""
    found: dict[bytes, int] = {}
    for line in (data or b"").splitlines():
        name, _, rest = line.partition(b":")
        words = rest.split()
        numbers = kernel_ints(words[0]) if words else None
        if numbers:
            found[name] = numbers[0]
    return found


def _io(name: bytes) -> Callable[[Task], int | None]:
    def value(t: Task) -> int | None:
        data = extra(t, IO)
        return None if data is None else _fields(data).get(name, 0)

    return value


def _smaps(*names: bytes) -> Callable[[Task], int | None]:
    def value(t: Task) -> int | None:
        data = extra(t, SMAPS)
        if data is None:
            return None
        fields = _fields(data)
        return sum(fields.get(name, 0) for name in names)

    return value


def _autogroup(t: Task) -> tuple[int, int] | None:
    """(id, nice) of ``/autogroup-ID nice N``."""
    data = extra(t, AUTOGROUP)
    words = data.split() if data else []
    if len(words) < 3 or not words[0].startswith(b"/autogroup-"):
        return None
    numbers = kernel_ints(words[0][len(b"/autogroup-") :], words[2])
    return (numbers[0], numbers[1]) if numbers else None


def _size(t: Task) -> int:
    """VmData plus VmStk in KiB (0 where ``status`` has neither)."""
    total = 0
    for line in (b"VmData", b"VmStk"):
        words = (task_status_line(t, line) or b"").split()
        numbers = kernel_ints(words[0]) if words else None
        total += numbers[0] if numbers else 0
    return total


def _label(t: Task) -> str | None:
    """procps's pr_context: ``attr/current`` up to its first byte that is
    no printable ASCII character other than a blank; None if that is empty."""
    data = extra(t, ATTR)
    if not data:
        return None
    end = 0
    while end < len(data) and 0x20 < data[end] <= 0x7E:
        end += 1
    return data[:end].decode("ascii") or None


def _exe(t: Task) -> str | None:
    found: str | None = extra(t, EXE)
    return found


def _loginuid(t: Task) -> int | None:
    """The login uid as procps keeps it, a C int: -1 (no login) is none."""
    number = _first_int(LOGINUID)(t)
    if number is None:
        return None
    number &= 0xFFFFFFFF
    signed = number - (1 << 32) if number > 0x7FFFFFFF else number
    return None if signed == -1 else signed


LXC_DELIMITERS = (b"lxc.payload.", b"lxc.payload/", b"lxc/")  # lxc 4, 3.2, 3.0


def _lxc(t: Task) -> str | None:
    """procps's lxc_containers: the innermost container named after the
    first LXC delimiter found in ``cgroup``, on that line."""
    data: bytes | None = extra(t, CGROUP)
    if not data:
        return None
    for delim in LXC_DELIMITERS:
        at = data.find(delim)
        if at < 0:
            continue
        line = data[at:].split(b"\n", 1)[0]
        name = line
        while True:
            name = line[len(delim) :]
            nested = name.find(delim)
            if nested < 0:
                break
            line = name[nested:]
        return name.split(b"/", 1)[0].decode("utf-8", "surrogateescape")
    return None


def _text(
    key: str,
    header: str,
    width: int,
    just: int,
    needs: frozenset[str],
    value: Callable[[Task], Any],
) -> Spec:
    def text(t: Task, c: Context) -> str:
        found = value(t)
        return "-" if found is None else escape(found)

    return (key, header, width, just, needs, text, lambda t, c: value(t))


# -- libsystemd -----------------------------------------------------------------


def _systemd(c: Context) -> Any:
    """(libsystemd, libc's free), once per run; None where not installed."""
    lib = c.cache.get("extra_columns.systemd", False)
    if lib is False:
        lib = None
        try:
            import ctypes

            free = ctypes.CDLL(None).free
            free.argtypes = [ctypes.c_void_p]
            lib = (ctypes.CDLL("libsystemd.so.0"), free)
        except (OSError, AttributeError):
            lib = None
        c.cache["extra_columns.systemd"] = lib
    return lib


def _sd_string(function: str) -> Callable[[Task, Context], str | None]:
    """What ``sd_pid_get_<function>`` says of the task, or None."""

    def value(t: Task, c: Context) -> str | None:
        lib = _systemd(c)
        if lib is None:
            return None
        return _call_string(lib, getattr(lib[0], f"sd_pid_get_{function}", None), t.tid)

    return value


def _call_string(lib: Any, fn: Any, arg: Any) -> str | None:
    import ctypes

    if fn is None:
        return None
    out = ctypes.c_void_p()
    if fn(arg, ctypes.byref(out)) < 0 or not out.value:
        return None
    try:
        raw = ctypes.string_at(out.value)
    finally:
        lib[1](out.value)
    text: str = raw.decode("utf-8", "surrogateescape")
    return text


def _seat(t: Task, c: Context) -> str | None:
    """The seat of the task's login session (sd_session_get_seat)."""
    session = _sd_string("session")(t, c)
    lib = _systemd(c)
    if session is None or lib is None:
        return None
    return _call_string(lib, getattr(lib[0], "sd_session_get_seat", None), session.encode())


def _owner(t: Task, c: Context) -> int | None:
    import ctypes

    lib = _systemd(c)
    fn = getattr(lib[0], "sd_pid_get_owner_uid", None) if lib is not None else None
    if fn is None:
        return None
    uid = ctypes.c_uint32()
    return uid.value if fn(t.tid, ctypes.byref(uid)) >= 0 else None


def _sd(key: str, header: str, width: int, value: Callable[[Task, Context], Any]) -> Spec:
    def text(t: Task, c: Context) -> str:
        found = value(t, c)
        return "-" if found is None else escape(str(found))

    return (key, header, width, LEFT, frozenset(), text, value)


# -- the table ------------------------------------------------------------------


def _in(name: str) -> frozenset[str]:
    return frozenset({name})


_LABEL = _in(ATTR)


SPECS: dict[str, Spec] = {
    "exe": _text("exe", "EXE", 27, TEXT, _in(EXE), _exe),
    "oom": _number("oom", "OOM", 4, OOM, _first_int(OOM), 0),
    "oomadj": _number("oomadj", "OOMADJ", 5, OOM_ADJ, _first_int(OOM_ADJ), 0),
    "pss": _number("pss", "PSS", 5, SMAPS, _smaps(b"Pss"), 0),
    "uss": _number("uss", "USS", 5, SMAPS, _smaps(b"Private_Clean", b"Private_Dirty"), 0),
    "rchars": _number("rchars", "RCHARS", 5, IO, _io(b"rchar"), 0),
    "wchars": _number("wchars", "WCHARS", 5, IO, _io(b"wchar"), 0),
    "rops": _number("rops", "ROPS", 5, IO, _io(b"syscr"), 0),
    "wops": _number("wops", "WOPS", 5, IO, _io(b"syscw"), 0),
    "rbytes": _number("rbytes", "RBYTES", 5, IO, _io(b"read_bytes"), 0),
    "wbytes": _number("wbytes", "WBYTES", 5, IO, _io(b"write_bytes"), 0),
    "wcbytes": _number("wcbytes", "WCBYTES", 5, IO, _io(b"cancelled_write_bytes"), 0),
    "ag_id": _number("ag_id", "AGID", 5, AUTOGROUP, lambda t: (_autogroup(t) or (None, 0))[0], -1),
    "ag_nice": _number(
        "ag_nice", "AGNI", 4, AUTOGROUP, lambda t: (_autogroup(t) or (0, None))[1], 0
    ),
    "size": (
        "size",
        "SIZE",
        5,
        RIGHT,
        frozenset({STATUS}),
        lambda t, c: str(_size(t)),
        lambda t, c: _size(t),
    ),
    "label": _text("label", "LABEL", 31, LEFT, _LABEL, _label),
    "context": _text("label", "CONTEXT", 31, LEFT, _LABEL, _label),
    "zone": _text("label", "ZONE", 31, LEFT, _LABEL, _label),
    "luid": (
        "luid",
        "LUID",
        5,
        RIGHT,
        _in(LOGINUID),
        lambda t, c: str(_loginuid(t) if _loginuid(t) is not None else "-"),
        lambda t, c: _loginuid(t),
    ),
    "lxc": _text("lxc", "LXC", 8, LEFT, _in(CGROUP), _lxc),
    "lsession": _sd("lsession", "SESSION", 11, _sd_string("session")),
    "seat": _sd("seat", "SEAT", 11, _seat),
    "ouid": _sd("ouid", "OWNER", 5, _owner),
    "slice": _sd("slice", "SLICE", 31, _sd_string("slice")),
    "unit": _sd("unit", "UNIT", 31, _sd_string("unit")),
    "uunit": _sd("uunit", "UUNIT", 31, _sd_string("user_unit")),
    "machine": _sd("machine", "MACHINE", 31, _sd_string("machine_name")),
}
