"""Terminating signals as exceptions, so that every exit path joins children."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from tidscope.errors import Terminated

# What asks tidscope to stop: each unwinds the stack (children joined, labs
# and commands ended and reaped) and ends tidscope with 128+N.  SIGQUIT too,
# rather than dumping core with children parked.
TERMINATING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _raise(signo: int, frame: FrameType | None) -> None:
    if signo == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signo)


@contextmanager
def terminating_signals() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, SIGTERM/SIGHUP/SIGQUIT raise Terminated.

    Installed even where the shell ignores SIGINT (a background job in a
    script), so that ``tidscope spawn --hold &`` ends cleanly on either.
    """
    old = {s: signal.signal(s, _raise) for s in TERMINATING}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
