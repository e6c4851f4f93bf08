"""The ``-o`` columns read from ``status`` and the other per-task files, as
procps 4.0.2 prints them: real, saved and filesystem ids and their names,
the effective group, supplementary groups, context switches, ``wchan``,
``cgroup`` and the namespaces; with them the signal masks of
signal_columns.py.

Every value is the task's own: a thread row (``-T``/``-L``) shows the
thread's credentials, masks, wchan and namespaces, which the kernel keeps
per thread.  procps reads a thread group's leader from ``/proc/<pid>``
whether or not it lists threads, and so does snapshot.py: its ``pending``
is then the process-wide pending set (``ShdPnd``), another thread's its
own (``SigPnd``) -- procps's rule, kept.

Cells follow procps, quirks included: ids print as C's ``%d`` of the
unsigned id (4294967295 is -1); user and group names of 33 bytes or more
print as numbers, as do ids with no name; masks are hex, right-aligned in
16 or, when the screen is too narrow, 9 (signal_columns.py).
``nvcsw`` and ``nivcsw`` are the one departure: procps 4.0.2 prints ``-``
for them, tidscope the counts ``status`` holds.

JSON and CSV carry typed values under each column's key (see
tidscope-ps(1)): ids and counts as numbers, names as text, masks as the
16 hex digits ``status`` holds (lists of signal names with ``--signames``),
lists as lists; None where the file could not be read.
"""

from __future__ import annotations

from tidscope.numeric import kernel_ints
from tidscope.proc.snapshot import STATUS
from tidscope.proc.task import Task
from tidscope.proc.taskfiles import CGROUP, GID, NAMESPACES, NS, extra, task_status_line
from tidscope.proc.taskfiles import WCHAN as WCHAN_FILE
from tidscope.ps import signal_columns
from tidscope.ps.context import RIGHT, TEXT, USER, WCHAN, Spec, signed_id
from tidscope.text import escape

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable

    from tidscope.ps.context import Context

ID_MAX = 0xFFFFFFFF  # uid_t, gid_t
REAL, EFFECTIVE, SAVED, FS = range(4)  # the ids of a Uid: or Gid: line

_S = frozenset({STATUS})
_G = frozenset({GID})


# -- ids and names -------------------------------------------------------------


def _ids(task: Task, key: bytes) -> tuple[int, ...] | None:
    """Real, effective, saved and filesystem id of a ``Uid:``/``Gid:`` line."""
    line = task_status_line(task, key)
    ids = kernel_ints(*line.split()) if line else None
    if ids is None or len(ids) != 4 or not all(0 <= i <= ID_MAX for i in ids):
        return None
    return ids


def _id(key: str, header: str, line: bytes, which: int, needs: frozenset[str] = _S) -> Spec:
    def value(t: Task, c: Context) -> int | None:
        ids = _ids(t, line)
        return None if ids is None else ids[which]

    def text(t: Task, c: Context) -> str:
        number = value(t, c)
        return signed_id(number)

    return (key, header, 5, RIGHT, needs, text, value)


def _named(
    key: str,
    header: str,
    kind: str,
    number: Callable[[Task], int | None],
    needs: frozenset[str] = _S,
) -> Spec:
    def text(t: Task, c: Context) -> str:
        n = number(t)
        return "?" if n is None else escape(c.account(kind, n))

    def value(t: Task, c: Context) -> str | None:
        n = number(t)
        return None if n is None else c.account(kind, n)

    return (key, header, 8, USER, needs, text, value)


def _one(line: bytes, which: int) -> Callable[[Task], int | None]:
    def number(t: Task) -> int | None:
        ids = _ids(t, line)
        return None if ids is None else ids[which]

    return number


def _egid(t: Task) -> int | None:
    """The effective gid as procps reads it: the group owning the task's
    directory (the kernel keeps it so), not ``status``."""
    gid = extra(t, GID)
    return gid if isinstance(gid, int) else None


def _egid_text(t: Task, c: Context) -> str:
    gid = _egid(t)
    return signed_id(gid)


def _supgids(t: Task) -> list[bytes] | None:
    """The ``Groups:`` line's ids, as written; [] for none (or no such line)."""
    if t.status is None:
        return None
    words = (task_status_line(t, b"Groups") or b"").split()
    ids = kernel_ints(*words) if words else ()
    return None if ids is None else words


def _supgid_text(t: Task, c: Context) -> str:
    words = _supgids(t)
    if words is None:
        return "?"
    return b",".join(words).decode("ascii") if words else "-"


def _supgid_value(t: Task, c: Context) -> list[int] | None:
    words = _supgids(t)
    return None if words is None else [int(w) for w in words]


def _supgrp_names(t: Task, c: Context) -> list[str] | None:
    words = _supgids(t)
    return None if words is None else [c.account("group", int(w)) for w in words]


def _supgrp_text(t: Task, c: Context) -> str:
    names = _supgrp_names(t, c)
    if names is None:
        return "?"
    return escape(",".join(names)) if names else "-"


# -- counts, wchan, cgroup, namespaces -----------------------------------------


def _count(key: str, header: str, field: bytes) -> Spec:
    def value(t: Task, c: Context) -> int | None:
        raw = task_status_line(t, field)
        counts = kernel_ints(raw) if raw else None
        return counts[0] if counts and counts[0] >= 0 else None

    def text(t: Task, c: Context) -> str:
        count = value(t, c)
        return "-" if count is None else str(count)

    return (key, header, 5, RIGHT, _S, text, value)


def _wchan_name(t: Task) -> bytes | None:
    """procps's lookup_wchan: the symbol, b"-" when the kernel wrote 0
    (running, or not ours to see), None if unreadable or empty."""
    data = extra(t, WCHAN_FILE)
    if not data:
        return None
    name: bytes = data.split(b"\0", 1)[0]
    if name == b"0":
        return b"-"
    return name.removeprefix(b".").lstrip(b"_")  # ppc64 prefixes a dot


def _wchan_text(t: Task, c: Context) -> str:
    name = _wchan_name(t)
    return "?" if name is None else escape(name.decode("utf-8", "surrogateescape"))


def _wchan_value(t: Task, c: Context) -> str | None:
    name = _wchan_name(t)
    if name is None or name == b"-":
        return None
    return name.decode("utf-8", "surrogateescape")


def _cgroups(t: Task) -> list[str] | None:
    """The lines of ``cgroup`` procps shows: all but empty ones and those
    in a hierarchy's root (ending in ``/``)."""
    data = extra(t, CGROUP)
    if data is None:
        return None
    lines = data.replace(b"\n", b"\0").split(b"\0")
    return [x.decode("utf-8", "surrogateescape") for x in lines if x and not x.endswith(b"/")]


def _cgname(t: Task) -> str | None:
    """procps's cgname: what follows the first ``:name=`` in the joined
    cgroup lines (the rest of them with it), else all of them."""
    lines = _cgroups(t)
    if not lines:
        return None
    joined = ",".join(lines)
    at = joined.find(":name=")
    return joined[at + 6 :] if at >= 0 and joined[at + 6 :] else joined


def _cgroup_text(t: Task, c: Context) -> str:
    lines = _cgroups(t)
    return escape(",".join(lines)) if lines else "-"


def _cgname_text(t: Task, c: Context) -> str:
    name = _cgname(t)
    return "-" if name is None else escape(name)


def _namespace(name: str) -> Spec:
    link = NS[name]

    def value(t: Task, c: Context) -> int | None:
        inode = extra(t, link)
        return inode if inode else None

    def text(t: Task, c: Context) -> str:
        inode = extra(t, link)
        return str(inode) if inode else "-"

    return (f"{name}ns", f"{name.upper()}NS", 10, RIGHT, frozenset({link}), text, value)


# -- the table -----------------------------------------------------------------

_ruid = _one(b"Uid", REAL)
_suid = _one(b"Uid", SAVED)
_fuid = _one(b"Uid", FS)
_rgid = _one(b"Gid", REAL)
_sgid = _one(b"Gid", SAVED)
_fgid = _one(b"Gid", FS)
_EGID: Spec = ("gid", "", 5, RIGHT, _G, _egid_text, lambda t, c: _egid(t))
_WCHAN: Spec = ("wchan", "WCHAN", 6, WCHAN, frozenset({WCHAN_FILE}), _wchan_text, _wchan_value)
_CG = frozenset({CGROUP})


def _headed(spec: Spec, header: str) -> Spec:
    key, _, width, just, needs, text, value = spec
    return (key, header, width, just, needs, text, value)


SPECS: dict[str, Spec] = {
    "ruid": _id("ruid", "RUID", b"Uid", REAL),
    "suid": _id("suid", "SUID", b"Uid", SAVED),
    "svuid": _id("suid", "SVUID", b"Uid", SAVED),
    "fuid": _id("fuid", "FUID", b"Uid", FS),
    "fsuid": _id("fuid", "FSUID", b"Uid", FS),
    "rgid": _id("rgid", "RGID", b"Gid", REAL),
    "egid": _headed(_EGID, "EGID"),
    "gid": _headed(_EGID, "GID"),
    "sgid": _id("sgid", "SGID", b"Gid", SAVED),
    "svgid": _id("sgid", "SVGID", b"Gid", SAVED),
    "fgid": _id("fgid", "FGID", b"Gid", FS),
    "fsgid": _id("fgid", "FSGID", b"Gid", FS),
    "ruser": _named("ruser", "RUSER", "user", _ruid),
    "suser": _named("suser", "SUSER", "user", _suid),
    "svuser": _named("suser", "SVUSER", "user", _suid),
    "fuser": _named("fuser", "FUSER", "user", _fuid),
    "fsuser": _named("fuser", "FSUSER", "user", _fuid),
    "rgroup": _named("rgroup", "RGROUP", "group", _rgid),
    "egroup": _named("group", "EGROUP", "group", _egid, _G),
    "group": _named("group", "GROUP", "group", _egid, _G),
    "sgroup": _named("sgroup", "SGROUP", "group", _sgid),
    "svgroup": _named("sgroup", "SVGROUP", "group", _sgid),
    "fgroup": _named("fgroup", "FGROUP", "group", _fgid),
    "fsgroup": _named("fgroup", "FSGROUP", "group", _fgid),
    "supgid": ("supgid", "SUPGID", 20, TEXT, _S, _supgid_text, _supgid_value),
    "supgrp": ("supgrp", "SUPGRP", 40, TEXT, _S, _supgrp_text, _supgrp_names),
    **signal_columns.SPECS,
    "nvcsw": _count("nvcsw", "VCSW", b"voluntary_ctxt_switches"),
    "nivcsw": _count("nivcsw", "IVCSW", b"nonvoluntary_ctxt_switches"),
    "wchan": _WCHAN,
    "wname": _WCHAN,
    "cgroup": ("cgroup", "CGROUP", 27, TEXT, _CG, _cgroup_text, lambda t, c: _cgroups(t)),
    "cgname": ("cgname", "CGNAME", 27, TEXT, _CG, _cgname_text, lambda t, c: _cgname(t)),
    **{f"{name}ns": _namespace(name) for name in NAMESPACES},
}
