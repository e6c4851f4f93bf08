"""Finding, ending and reaping the processes we are responsible for, and
nothing else.

Used wherever tidscope starts processes it must not leave behind: the
verify-flags labs (and the CLONE_PARENT children they hand us), the command
``spawn --run`` starts, ``watch --run``'s tracees.  While :func:`subreaper`
is active, orphans of our descendants become our children, so that they can
be ended and reaped too.

What may be signalled is what the kernel says is ours, never a pid we
believe we have: :func:`claim` opens a pidfd for a pid and keeps it only if
waitid(2) on that pidfd (WNOWAIT: nothing is reaped) finds it our child or
our tracee; every signal then goes through the pidfd (pidfd_send_signal,
which no pid reuse can redirect), and a task is reaped through it too.
The candidates come from ``/proc/self`` (the kernel's "us", resolved by the
proc mount itself: never a pid libc gave, which a preload can make lie),
their numbers turned into our namespace's when that proc mount is an
ancestor namespace's (proc.root.local_pid).  A descendant that is not our
child yet is not touched: it becomes ours (we are its subreaper) once its
parent is gone, and is ended then.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterator
from collections.abc import Set as AbstractSet

from tidscope.core.syscalls import syscall
from tidscope.errors import describe
from tidscope.proc.files import NOTHING, PROC, Unread, contents, listing
from tidscope.proc.root import local_pid

WALL = 0x40000000  # __WALL: wait for every kind of child
PR_SET_CHILD_SUBREAPER = 36
LIST_MAX = 1 << 20  # the most of one task's children file read
WAIT_RETRY = 2.0  # seconds a wait that fails (ECHILD for a child still there) is tried again


def children(pid: int | str) -> set[int]:
    """The children of every thread of ``pid`` as /proc names them
    (``"self"``: us), zombies included; what cannot be listed or read (a
    task that went away, a failing read, whatever its errno) is left out.
    An observation, never a licence to signal: see :func:`own_children`."""
    found: set[int] = set()
    tids = listing(f"{PROC}/{pid}/task", raises=NOTHING)
    if isinstance(tids, Unread):
        return found
    for tid in tids:
        path = f"{PROC}/{pid}/task/{tid}/children"
        data = contents(path, limit=LIST_MAX, check=False, raises=NOTHING)
        if isinstance(data, Unread):
            continue
        with contextlib.suppress(ValueError):
            found.update(int(k) for k in data.split())
    return found


def own_children() -> set[int]:
    """Our children (``/proc/self``'s), as pids of our own namespace;
    candidates for :func:`claim`, which asks the kernel."""
    local = (local_pid(p) for p in children("self"))
    return {p for p in local if p is not None}


def claim(pid: int) -> int | None:
    """A pidfd for ``pid`` (the caller closes it) if the kernel says the task
    is ours to wait for (our child or our tracee); None if it is not, is
    gone, or cannot be asked about."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return None
    try:
        os.waitid(os.P_PIDFD, fd, os.WEXITED | os.WNOHANG | os.WNOWAIT | WALL)
    except OSError:  # ECHILD: not ours
        os.close(fd)
        return None
    return fd


def ours(pid: int) -> bool:
    """Whether the kernel says ``pid`` is our child or our tracee."""
    fd = claim(pid)
    if fd is None:
        return False
    os.close(fd)
    return True


def send(fd: int, signo: int) -> None:
    """``signo`` to the task of the pidfd ``fd`` (one gone already is no error)."""
    with contextlib.suppress(ProcessLookupError):
        signal.pidfd_send_signal(fd, signo)


def there(fd: int) -> bool:
    """Whether the task of the pidfd ``fd`` is still there, by the kernel's
    answer to pidfd_send_signal(2) with signal 0: alive, or a zombie not
    reaped yet (ESRCH only once it is reaped)."""
    try:
        signal.pidfd_send_signal(fd, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: there, not ours to signal
        return True
    return True


def _reaped(pid: int, fd: int | None = None) -> bool:
    """Reap our child ``pid`` if it has exited (wait4 reaps only our own:
    a pid not ours is ECHILD); whether it is gone, or not ours to wait for.
    An error but ECHILD is raised, naming wait4; so is ECHILD while the
    pidfd ``fd`` (the caller's: the task is ours) says the task is still
    there: the wait failed (a filter, an injected fault), it may pass."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG | WALL)
    except ChildProcessError as err:
        if fd is not None and there(fd):
            raise OSError(err.errno, err.strerror, "wait4") from None
        return True
    except OSError as err:
        raise OSError(err.errno, err.strerror, "wait4") from None
    return done != 0


def reap_by_waitid(fd: int, block: bool = False) -> bool | None:
    """Reap the task of the pidfd ``fd`` (our child) through
    waitid(P_PIDFD) if it has exited (or wait until it has, ``block``):
    whether it was reaped; None if waitid fails too."""
    try:
        got = os.waitid(os.P_PIDFD, fd, os.WEXITED | WALL | (0 if block else os.WNOHANG))
    except ChildProcessError:
        return not there(fd)
    except OSError:
        return None
    return got is not None


def opened(pid: int) -> int | None:
    """A pidfd for ``pid``, a child we created and have not reaped (so its
    pid is still its own); None if it cannot be opened."""
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def reap(pid: int, kill_after: float, fd: int | None = None) -> str | None:
    """Wait for our child ``pid``; SIGKILL it through the pidfd ``fd`` (the
    caller's, from :func:`claim` or :func:`opened`) once ``kill_after``
    seconds passed.  Without a pidfd it is waited for, never signalled.

    None once it is reaped (or is not ours to reap); else why it could not
    be waited for (``wait4: EPERM``): it is killed then, and left to init.
    """
    deadline = time.monotonic() + kill_after
    refused = deadline + WAIT_RETRY  # until when a failing wait4 is tried again
    while True:
        try:
            if _reaped(pid, fd):
                return None
        except OSError as err:
            if err.errno != errno.ECHILD or time.monotonic() > refused:
                if fd is not None:
                    with contextlib.suppress(OSError):
                        send(fd, signal.SIGKILL)
                return describe(err, "wait4")
        if time.monotonic() > deadline:
            if fd is None:
                return f"{pid} did not end within {kill_after:g}s, and is not ours to end"
            with contextlib.suppress(OSError):
                send(fd, signal.SIGKILL)
            deadline = float("inf")
        with contextlib.suppress(OSError):  # a failing nanosleep only makes us spin
            time.sleep(0.005)


def end_all(signo: int, kill_after: float, keep: AbstractSet[int] = frozenset()) -> None:
    """Send ``signo`` once to each of our children but ``keep``, SIGKILL
    those still there after ``kill_after`` seconds, and reap them all,
    until we have no child left but ``keep``: a descendant becomes our
    child when its parent dies (we are its subreaper), and is ended then.
    Only a child the kernel says is ours (:func:`claim`) is signalled.

    Parents are signalled before their children, so that a shell running
    CMD dies before it could see (and report) its child dying."""
    deadline = time.monotonic() + kill_after
    held: dict[int, int] = {}  # pid -> its pidfd, until it is reaped
    try:
        while True:
            pending = own_children() - keep - held.keys()
            for pid in pending:
                fd = claim(pid)
                if fd is not None:
                    held[pid] = fd
                    send(fd, signo)
            # a child of ours that waitid would not claim (a failing call)
            # is asked about again, for a while
            if not held and (not pending or time.monotonic() > deadline + WAIT_RETRY):
                return
            late = time.monotonic() > deadline
            for pid, fd in list(held.items()):
                if late:
                    send(fd, signal.SIGKILL)
                try:
                    gone = _reaped(pid, fd)
                except OSError as err:  # wait4 refused: waitid may reap it
                    by_waitid = None if err.errno == errno.ECHILD else reap_by_waitid(fd)
                    # else not to be waited for: killed, and left to init
                    gone = by_waitid or time.monotonic() > deadline + WAIT_RETRY
                if gone:
                    os.close(held.pop(pid))
            time.sleep(0.005)
    finally:
        for fd in held.values():
            os.close(fd)


@contextlib.contextmanager
def subreaper() -> Iterator[None]:
    """Orphans of our descendants become our children while this lasts."""
    with contextlib.suppress(OSError):
        syscall("prctl", PR_SET_CHILD_SUBREAPER, 1)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            syscall("prctl", PR_SET_CHILD_SUBREAPER, 0)
