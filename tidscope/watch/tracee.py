"""What ``watch --run`` asks of one tracee, and what /proc says of it.

Each request turns the kernel's answers into the tracer's rules: a tracee
that vanished meanwhile (ESRCH) is no error (it is reported when reaped);
every other failing call is a TidscopeError naming it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from tidscope.core import signals as signals_
from tidscope.errors import TidscopeError, describe
from tidscope.proc.files import NOTHING, PROC, Unread, contents
from tidscope.proc.task import Status
from tidscope.watch import _ptrace

EVENT_STOP = 128  # PTRACE_EVENT_STOP
T = TypeVar("T")


@contextlib.contextmanager
def blocked(signals: Sequence[int]) -> Iterator[None]:
    """``signals`` held back for the block; one that came is acted on after it."""
    old = mask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, old)


def mask(how: int, signals: Iterable[int]) -> Iterable[int]:
    """core.signals.sigmask, failing as --run's calls fail."""
    try:
        return signals_.sigmask(how, signals)
    except OSError as err:
        raise call_error(err) from None


def sigwait(signals: set[int], timeout: float) -> int | None:
    """core.signals.sigwait, failing as --run's calls fail."""
    try:
        return signals_.sigwait(signals, timeout)
    except OSError as err:
        raise call_error(err) from None


def ask(request: Callable[[int], T], tid: int) -> T | None:
    """A request about a stopped tracee; None if it was killed meanwhile."""
    try:
        return request(tid)
    except ProcessLookupError:
        return None
    except OSError as err:
        raise call_error(err) from None


def resume(request: Callable[[int, int], None], tid: int, sig: int = 0) -> None:
    """Restart a tracee; one killed meanwhile (ESRCH) is reported when reaped."""
    try:
        request(tid, sig)
    except ProcessLookupError:
        pass
    except OSError as err:
        raise call_error(err) from None


def listen(tid: int) -> None:
    """PTRACE_LISTEN a tracee in a group-stop; one killed out of it
    meanwhile (ESRCH, or EIO at its exit stop) has its next stop reported."""
    try:
        _ptrace.listen(tid)
    except ProcessLookupError:
        pass
    except OSError as err:
        if err.errno != errno.EIO or ask(_ptrace.stop_event, tid) == EVENT_STOP:
            raise call_error(err) from None


def kill_stopped(tid: int) -> None:
    """SIGKILL the group of ``tid``, a tracee waitpid just reported stopped:
    the kernel's own answer that it is ours, and its tid cannot go to
    another task before we reap it.  One killed meanwhile is no error."""
    _sigkill(lambda: os.kill(tid, signal.SIGKILL), "kill")


def kill(pidfd: int) -> None:
    """SIGKILL the group of the pidfd ``pidfd`` (core.reaper.claim's); one
    already gone is no error."""
    _sigkill(lambda: signal.pidfd_send_signal(pidfd, signal.SIGKILL), "pidfd_send_signal")


def _sigkill(send: Callable[[], None], call: str) -> None:
    try:
        send()
    except ProcessLookupError:
        pass
    except OSError as err:
        raise call_error(err, call) from None


def call_error(err: OSError, call: str | None = None) -> TidscopeError:
    """The error for a failing call: ``call``, or the one ``err`` names."""
    return TidscopeError(f"--run: {describe(err, call or err.filename or 'a system call')}")


def ids(tid: int) -> tuple[int | None, int | None, int | None]:
    """Task ``tid``'s Tgid, PPid and TracerPid from /proc (None: unreadable,
    whatever the errno: the cleanup that asks must go on)."""
    data = contents(f"{PROC}/{tid}/status", check=False, raises=NOTHING)
    if isinstance(data, Unread):
        return None, None, None
    status = Status(data)
    return status.number(b"Tgid"), status.number(b"PPid"), status.number(b"TracerPid")


def in_clone(tid: int) -> bool:
    """Whether task ``tid`` may be inside a clone-family call: /proc/TID/syscall
    says it is, or that it is running (it may be on its way to the clone
    event's stop, or dying there), or cannot be read (we cannot tell), unless
    the task is gone."""
    data = contents(f"{PROC}/{tid}/syscall", check=False, raises=NOTHING)
    if isinstance(data, Unread):
        return not data.gone
    word = data.split(b" ", 1)[0].strip()
    if word.lstrip(b"-").isdigit():
        return int(word) in _ptrace.CLONE_CALLS
    return True  # "running"
