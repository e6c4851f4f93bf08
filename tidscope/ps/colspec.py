"""The vocabulary every ``-o`` column module shares.

columns.py holds the table (``SPECS``) and the column modules
(stat_columns.py...) add theirs to it; both import their words from here, so
no column module needs columns.py at import time (which imports them).

A spec is ``(key, header, width, justification, needs, text, value)``:
``key`` names the typed value in JSON and CSV (columns that show the same
datum share it), ``width`` is procps's (or :data:`PIDMAX`), ``needs`` the
files beyond ``stat`` the column reads (snapshot.py), ``text`` the cell
procps prints and ``value`` the typed value.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from tidscope.proc.task import Task
    from tidscope.ps.context import Context

RIGHT, LEFT, USER, TEXT = range(4)  # procps's CF_RIGHT, CF_LEFT, CF_USER, CF_UNLIMITED
# procps's CF_SIGNAL (a mask, right-aligned in 9 or 16: see layout.Layout) and
# CF_WCHAN (left-aligned, cut to its room, never pushing the row right)
SIGNAL, WCHAN = 4, 5
PIDMAX = -1  # width: the digits of kernel.pid_max

# name: (key, header, width, just, needs, text, value)
Spec = tuple[
    str,
    str,
    int,
    int,
    frozenset[str],
    "Callable[[Task, Context], str]",  # strings: these names exist only for the type checker
    "Callable[[Task, Context], Any]",
]


def signed_id(number: int | None) -> str:
    """procps's ``%d`` of an unsigned user or group id, the one rule of every
    id column (``uid``, ``euid``, ``ruid``, ``egid``...): 4294967294 prints
    as -2, 2147483648 as -2147483648; ``?`` where it could not be read."""
    if number is None:
        return "?"
    return str(number - (1 << 32) if number > 0x7FFFFFFF else number)
