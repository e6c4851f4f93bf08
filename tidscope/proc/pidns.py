"""Whether a proc root shows our own pid namespace: the one check every
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
no namespace and is not judged here (mounts.is_proc_fs); the default root
always is.  :func:`local_pid` turns a pid as an ancestor namespace's proc
names it into ours, for the one caller that must find its children there
(core.reaper), which still asks the kernel before it touches one.
"""

from __future__ import annotations

from tidscope.errors import note
from tidscope.numeric import entry_id
from tidscope.proc.files import NOTHING, PROC, contents, link
from tidscope.proc.mounts import is_proc_fs
from tidscope.proc.status import Status
from tidscope.proc.unread import Unread

try:  # the C reader gives the raw call; core's gateway would cost ps three imports
    from tidscope.proc._procread import kernel_pid as _kernel_pid
except ImportError:  # pragma: no cover - a build without it

    def _kernel_pid() -> int | None:
        return None


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
