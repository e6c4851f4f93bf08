"""The proc root we read, and where it stands: whether it is the kernel's
own proc mount (and nothing is mounted over its tasks' files), whether it
hides other users' processes (``hidepid``), whether it shows our own pid
namespace, and the numbers the machine gives once for every task (its
clock tick, its boot time, how wide its pids can be).

Whether a proc root shows our own pid namespace is the one check every
command makes before it takes /proc's pids for the ones the kernel gives us.
A proc mount shows the pid namespace it was mounted in, whatever namespace
the reader is in.  ``unshare -fp`` without ``--mount-proc`` leaves /proc the
parent namespace's: ``/proc/1`` is the host's init, not ours, and a pid a
syscall gives us (a child's, our own) names another task there.  The kernel
says which namespace a proc mount shows in ``ROOT/self`` (our pid as that
namespace numbers it; missing when we have none there: a namespace we are
not in) and in ``ROOT/self/status``'s ``NSpid`` (our pid in each namespace
from the mount's down to our own: one number when they are the same one).
:func:`mismatch` holds both against the pid the kernel's own getpid(2)
gives (:func:`kernel_pid`: never libc's, which a preload can make lie), and
says what disagrees.

A ``--proc-root`` that is no proc mount (a copy, a hand-built tree) shows
no namespace and is not judged (:func:`is_proc_fs`); the default root
always is.  :func:`local_pid` turns a pid as an ancestor namespace's proc
names it into ours, for the one caller that must find its children there
(core.reaper), which still asks the kernel before it touches one.
"""

from __future__ import annotations

import os

from tidscope.errors import note
from tidscope.numeric import c_integer, decimal, entry_id, kernel_ints
from tidscope.proc.files import NOTHING, PROC, TABLE_MAX, Unread, contents, link, read, read_all
from tidscope.proc.task import ID_MAX, Status

try:  # the C reader gives the raw call; core's gateway would cost ps three imports
    from tidscope.proc._procread import kernel_pid as _kernel_pid
except ImportError:  # pragma: no cover - a build without it

    def _kernel_pid() -> int | None:
        return None


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


def is_proc_fs(root: str) -> bool:
    """Whether a proc filesystem is mounted at ``root`` (whatever is mounted
    over its files), by the kernel's own ``/proc/self/mountinfo``."""
    where = os.path.realpath(root)
    found = False
    for point, fstype, _ in mounts(read_all(f"{PROC}/self/mountinfo", limit=TABLE_MAX) or b""):
        if point == where:
            found = fstype == "proc"  # the last mount there is the one seen
    return found


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


PID_WIDTH = 5  # procps's column width when pid_max cannot be read


def clock_ticks() -> int:
    """USER_HZ: the unit of every time in ``stat``."""
    return os.sysconf("SC_CLK_TCK")


def boot_time(root: str = PROC) -> int | None:
    """Seconds since the epoch at boot (``btime`` in ``/proc/stat``)."""
    data = read_all(f"{root}/stat", limit=TABLE_MAX) or b""
    at = data.find(b"\nbtime ")
    if at < 0:
        return None
    values = kernel_ints(data[at + 7 :].split(b"\n", 1)[0])
    return values[0] if values and 0 <= values[0] < 1 << 40 else None  # a time_t yet


def pid_width(root: str = PROC) -> int:
    """Digits in ``kernel.pid_max``: procps's width for PID-like columns
    (procps's own default when the file holds no pid_max the kernel allows)."""
    text = (read(f"{root}/sys/kernel/pid_max") or b"").decode("ascii", "replace").strip()
    value = decimal(text)
    return len(text) if value is not None and 0 < value <= ID_MAX + 1 else PID_WIDTH


FIX = (
    "mount a proc of this namespace (unshare --fork --pid --mount-proc, or mount -t proc proc DIR)"
)

SHOWN = "the pids and tasks shown are that namespace's"  # what it means for a listing

_KNOWN: dict[str, str | None] = {}
_DEPTH: dict[str, int | None] = {}


def kernel_pid() -> int | None:
    """Our pid as the kernel gives it: getpid(2) itself, by number (libc's
    may lie: a preload library can make it); None if the call fails (a
    seccomp filter).  Every command's own pid comes from here."""
    return _kernel_pid()


def mismatch(root: str = PROC) -> str | None:
    """None when ``root`` shows the pid namespace in which the kernel's
    getpid(2) gives us our pid (when that call fails, /proc's own answers
    are held against each other alone); else what disagrees, one phrase
    ending with the fix.  Asked once per root (a fork's child is in its
    parent's pid namespace)."""
    if root not in _KNOWN:
        _KNOWN[root] = _mismatch(kernel_pid(), root)
    return _KNOWN[root]


def _mismatch(pid: int | None, root: str) -> str | None:
    if root != PROC and not is_proc_fs(root):
        return None  # no proc mount: no namespace to be wrong about
    kernel = "" if pid is None else f", and the kernel's getpid() says {pid}"
    other = f"{root} shows another pid namespace than ours"
    target = link(f"{root}/self", raises=NOTHING)
    if isinstance(target, Unread):
        return f"{other} ({target}: we have no pid there{kernel}): {FIX}"
    there = entry_id(target)
    if there is None:
        return f"{other} ({root}/self points to {target!r}{kernel}): {FIX}"
    data = contents(f"{root}/self/status", check=False, raises=NOTHING)
    nspid = None if isinstance(data, Unread) else _nspid(data)
    seen = f"{root}/self is {there}"
    if nspid is not None:
        seen += ", NSpid " + " ".join(map(str, nspid))
    if nspid is not None and (len(nspid) != 1 or nspid[0] != there):
        return f"{other} ({seen}{kernel}): {FIX}"
    if pid is not None and there != pid:
        return f"{other} ({seen}{kernel}): {FIX}"
    _DEPTH[root] = 1
    return None


def _nspid(data: bytes) -> tuple[int, ...] | None:
    try:
        return Status(data).nspid
    except ValueError:
        return None


def depth(root: str = PROC) -> int | None:
    """How many pid namespaces ``root``'s ``self/status`` NSpid lists for
    us (1: the mount's is ours); None if it cannot be read."""
    if root not in _DEPTH:
        data = contents(f"{root}/self/status", check=False, raises=NOTHING)
        nspid = None if isinstance(data, Unread) else _nspid(data)
        _DEPTH[root] = None if nspid is None else len(nspid)
    return _DEPTH[root]


def local_pid(there: int, root: str = PROC) -> int | None:
    """The pid, in our namespace, of the task ``root`` names ``there``: the
    same number when ``root`` shows our namespace, else its NSpid entry at
    our depth; None when it cannot be told (or is in no namespace of ours)."""
    levels = depth(root)
    if levels == 1:
        return there
    if levels is None:
        return None
    data = contents(f"{root}/{there}/status", check=False, raises=NOTHING)
    nspid = None if isinstance(data, Unread) else _nspid(data)
    if nspid is None or len(nspid) < levels:
        return None
    return nspid[levels - 1]


def foreign_note(command: str, root: str = PROC, then: str = "") -> str | None:
    """Say so on stderr (one note) when ``root`` shows another pid namespace
    than ours; ``then``: what that means for ``command``'s output.  The
    mismatch, or None."""
    other = mismatch(root)
    if other is not None:
        note(command, other + (f"; {then}" if then else ""))
    return other


# The inode numbers of the initial namespaces, fixed by the kernel since
# Linux 3.8 (include/linux/proc_ns.h: PROC_USER_INIT_INO, PROC_PID_INIT_INO)
INITIAL = {"user": 0xEFFFFFFD, "pid": 0xEFFFFFFC}


def outside_initial() -> str | None:
    """Which of the initial user and pid namespaces we are not in (``"pid
    namespace"``...), by our own ``ns`` links; None when we are in both, or
    when a link cannot be read (no evidence either way).  What the kernel
    reports in the initial namespaces only (the process-events connector,
    whose pids are the initial pid namespace's) is not for us otherwise."""
    outside = []
    for kind, inode in INITIAL.items():
        target = link(f"{PROC}/thread-self/ns/{kind}", raises=NOTHING)
        if isinstance(target, Unread):
            return None
        if target != f"{kind}:[{inode}]":
            outside.append(f"{kind} namespace")
    return " and ".join(outside) or None
