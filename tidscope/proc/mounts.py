"""What is mounted where: whether a root is the kernel's own proc mount,
and whether it hides other users' processes (``hidepid``)."""

from __future__ import annotations

import os

from tidscope.errors import note
from tidscope.numeric import c_integer, entry_id
from tidscope.proc.files import PROC, TABLE_MAX, contents, read_all
from tidscope.proc.unread import Unread

_PROC_MOUNTS: dict[str, bool] = {}


def mounts(data: bytes) -> list[tuple[str, str, list[str]]]:
    """``mountinfo`` lines as (mount point, filesystem type, super options);
    the mount point with its octal escapes (``\\040``) undone."""
    found = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if sep and len(fields) > 4 and len(tail) > 2:
            found.append((_unescape(fields[4]), tail[0], tail[2].split(",")))
    return found


def _unescape(point: str) -> str:
    """The kernel writes a blank, tab, newline or backslash in a mount
    point as ``\\`` and three octal digits."""
    if "\\" not in point:
        return point
    first, *rest = point.split("\\")
    out = [first]
    for part in rest:
        code = c_integer(part[:3], 8) if len(part) > 2 and part[0] in "0123" else None
        out.append(chr(code) + part[3:] if code is not None else "\\" + part)
    return "".join(out)


def is_proc_mount(root: str = PROC) -> bool:
    """Whether ``root`` is a proc mount with nothing mounted over its tasks'
    files, by the kernel's own ``/proc/self/mountinfo``: then every file
    under ``root/<pid>`` is the kernel's, and regular.  Asked once per root."""
    known = _PROC_MOUNTS.get(root)
    if known is None:
        known = _PROC_MOUNTS[root] = _is_proc_mount(root)
    return known


def _is_proc_mount(root: str) -> bool:
    where = os.path.realpath(root)
    below = where.rstrip("/") + "/"
    proc = False
    for point, fstype, _ in mounts(read_all(f"{PROC}/self/mountinfo", limit=TABLE_MAX) or b""):
        if point == where:
            proc = fstype == "proc"  # the last mount there is the one seen
        elif point.startswith(below) and entry_id(point[len(below) :].split("/")[0]):
            return False  # something mounted over a task's files
    return proc


def hidepid(root: str = PROC) -> str | None:
    """The ``hidepid`` option ``root`` is mounted with, if it hides anything
    from us: what a listing there cannot show, to say so."""
    if os.geteuid() == 0:
        return None  # root may look at every process
    where = os.path.realpath(root)
    data = read_all(f"{root}/self/mountinfo", limit=TABLE_MAX) or b""
    for point, fstype, options in mounts(data):
        if point == where and fstype == "proc":
            for option in options:
                name, _, value = option.partition("=")
                if name == "hidepid" and value not in ("0", "off"):
                    return value
    return None


def hidden_note(command: str, root: str) -> None:
    """Say so when ``root`` hides other users' processes from us."""
    value = hidepid(root)
    if value is not None:
        note(
            command,
            f"{root} is mounted with hidepid={value}: only the processes you may "
            "look into are shown",
        )


def unseen(task: int, root: str = PROC) -> str:
    """Why ``root`` shows no task ``task``, for a message: hidden by
    ``hidepid``, there but unreadable (what reading its status answered),
    or not there at all.  Whether a task has that id is the kernel's answer
    (kill(2) with signal 0, which sends nothing), asked only of our own
    /proc: a root elsewhere may be another pid namespace's."""
    got = contents(f"{root}/{task}/status")
    if not isinstance(got, Unread):
        return "it is there now"
    if root == PROC:
        try:
            os.kill(task, 0)
        except ProcessLookupError:
            return "no process or thread has this id"
        except PermissionError:
            pass  # it is there, and not ours to signal
        hide = hidepid(root)
        if hide is not None:
            return (
                f"{root} is mounted with hidepid={hide}, which hides it from us:"
                " run as its owner or as root"
            )
    elif got.gone:
        return f"{root} shows no task {task}"
    return f"{root} does not show it: {got.where}: {got.why}"
