"""Starting ``spawn --run``'s command: ``sh -c CMD`` with a clean signal state.

The command gets the signal mask we choose, and every signal at the
disposition tidscope was started with: what tidscope catches goes back to
SIG_DFL (as execve does), and so do the signals Python ignores (as Popen's
restore_signals does) and those tidscope ignores for its own sake.  Unlike
posix_spawn(3), which leaves glibc's internal signals ignored.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Mapping

from tidscope.core import _rawclone

SHELL = "/bin/sh"
PYTHON_IGNORES = (signal.SIGPIPE, signal.SIGXFSZ)


def _bits(signals: Iterable[int]) -> int:
    return sum(1 << (int(s) - 1) for s in set(signals))


def start(
    cmd: str, env: Mapping[str, str], mask: Iterable[int], ignored: Iterable[int] = ()
) -> int:
    """Start ``sh -c cmd`` and return its pid; ``ignored``: signals we set
    to SIG_IGN, which it gets back at their default.  OSError if it could
    not be started."""
    argv = [b"sh", b"-c", os.fsencode(cmd)]
    envp = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in env.items()]
    defaults = _bits((*PYTHON_IGNORES, *ignored))
    return _rawclone.spawn_command(os.fsencode(SHELL), argv, envp, _bits(mask), defaults)
