"""Terminating signals as exceptions, so that every exit path joins children;
children's exit signals absorbed, so that none kills or stops tidscope; and
the one way to hold signals back and wait for them (:func:`blocked`,
:func:`sigwait`)."""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType

from tidscope.errors import FIRED, UsageError, raise_once
from tidscope.proc.masks import signal_name

# What asks tidscope to stop: each unwinds the stack (children joined, labs
# and commands ended and reaped) and ends tidscope with 128+N.  SIGQUIT too,
# rather than dumping core with children parked.
TERMINATING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextmanager
def terminating_signals() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, SIGTERM/SIGHUP/SIGQUIT raise Terminated
    (the first of them: errors.raise_once).

    Installed even where the shell ignores SIGINT (a background job in a
    script), so that ``tidscope spawn --hold &`` ends cleanly on either.
    Once one has fired, the handlers stay when the block ends: tidscope is
    on its way out, and a late signal must neither kill it with a default
    action nor raise where nothing catches it.
    """
    old = {s: signal.signal(s, raise_once) for s in TERMINATING}
    try:
        yield
    finally:
        if not FIRED:
            for s, handler in old.items():
                signal.signal(s, handler)


# -- holding signals back, and waiting for them ------------------------------------


def sigmask(how: int, signals: Iterable[int]) -> set[int | signal.Signals]:
    """pthread_sigmask(2); the mask it replaced.  A failure is an OSError
    naming rt_sigprocmask.  Unblocking runs the handler of a signal that
    came meanwhile inside this call (so an exception it raises is raised
    here, where the caller can clean up)."""
    try:
        return signal.pthread_sigmask(how, signals)
    except OSError as err:
        raise OSError(err.errno, err.strerror, "rt_sigprocmask") from None


@contextmanager
def blocked(signals: Iterable[int]) -> Iterator[set[int | signal.Signals]]:
    """``signals`` held back for the block (it gets the mask they replaced):
    one that comes is taken with :func:`sigwait` inside, or acted on when
    the block ends."""
    old = sigmask(signal.SIG_BLOCK, signals)
    try:
        yield old
    finally:
        sigmask(signal.SIG_SETMASK, old)


def sigwait(signals: Iterable[int], timeout: float) -> int | None:
    """The blocked signal of ``signals`` that came within ``timeout`` seconds,
    taken (sigtimedwait(2)), or None.  A failure is an OSError naming
    rt_sigtimedwait."""
    try:
        got = signal.sigtimedwait(signals, max(timeout, 0))
    except OSError as err:
        raise OSError(err.errno, err.strerror, "rt_sigtimedwait") from None
    return None if got is None else got.si_signo


# -- children's exit signals ----------------------------------------------------------

# Sent by the kernel when the fault is real, which it then delivers even if
# ignored: these are ignored (SIG_IGN) rather than handled, as a handler
# that returns would fault again.
FAULTS = frozenset(
    {signal.SIGSEGV, signal.SIGBUS, signal.SIGILL, signal.SIGFPE, signal.SIGTRAP, signal.SIGSYS}
)
# Whose default action neither kills nor stops us.
HARMLESS = frozenset({signal.SIGCHLD, signal.SIGCONT, signal.SIGURG, signal.SIGWINCH})
LIBC_RESERVED = range(32, signal.SIGRTMIN)  # glibc's SIGCANCEL and SIGSETXID
INSTEAD = "give another, e.g. SIGCHLD (as fork does) or SIGUSR1"


def check_exit_signal(signo: int) -> None:
    """Refuse an exit signal of our children that we could not survive, or
    that would look like a request to stop tidscope."""
    name = signal_name(signo)
    if signo in (signal.SIGKILL, signal.SIGSTOP):
        does = "kill" if signo == signal.SIGKILL else "stop"
        raise UsageError(
            f"exit signal {name} would {does} tidscope as soon as a child exits, and no"
            f" process can handle it: {INSTEAD}"
        )
    if signo in TERMINATING:
        asks = ", ".join(s.name for s in TERMINATING)
        raise UsageError(
            f"exit signal {name} is one of the signals that ask tidscope to stop ({asks}):"
            f" a child's exit would look like one: {INSTEAD}"
        )
    if signo in LIBC_RESERVED:
        raise UsageError(
            f"exit signal {signo} is reserved for the C library's threads and tidscope"
            f" cannot handle it: {INSTEAD}"
        )


def _absorb(signo: int, frame: FrameType | None) -> None:
    """A child exited: nothing to do (it is reaped when it is joined)."""


@contextmanager
def exit_signal_absorbed(signo: int) -> Iterator[tuple[int, ...]]:
    """While this lasts, our children's exit signal ``signo`` (checked by
    :func:`check_exit_signal`) neither kills nor stops us: a handler that
    does nothing, or SIG_IGN for a fault signal.  Yields the signals set to
    SIG_IGN, which a command we start must get back at their default.

    Leave it only after the children are reaped: each sent its signal
    before it could be reaped, and the join ran our handler for it."""
    if not 0 < signo < signal.NSIG or signo in HARMLESS:
        yield ()
        return
    if signal.getsignal(signo) != signal.SIG_DFL:  # ignored or handled already
        yield ()
        return
    fault = signo in FAULTS
    old = signal.signal(signo, signal.SIG_IGN if fault else _absorb)
    try:
        yield (signo,) if fault else ()
    finally:
        signal.signal(signo, old)
