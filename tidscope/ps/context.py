"""What every ``-o`` column module shares: the words of a column spec, and
the per-run :class:`Context` turning a task into cells needs (the clock
tick, the boot time, terminal and user names, with their caches).

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

import time

from tidscope.errors import TidscopeError
from tidscope.proc.files import PROC
from tidscope.proc.root import boot_time, clock_ticks
from tidscope.proc.task import Task
from tidscope.text import escape

NAME_MAX = 33  # procps's P_G_SZ: a user or group name this long or longer prints as its number
TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from tidscope.ps.ttys import TtyNames


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


class Context:
    """What turning a task into cells needs once per run, with caches."""

    def __init__(self, root: str = PROC, signames: bool = False, cumulative: bool = False) -> None:
        self.root = root
        self.signames = signames  # signal masks as names (--signames), not hex
        self.cumulative = cumulative  # --cumulative: reaped children's CPU time and faults too
        # per-run lookups of the column modules (meminfo, uptime, group
        # names...), each under its module's own key
        self.cache: dict[str, Any] = {}
        self.hz = clock_ticks()
        self._ttys: TtyNames | None = None  # made at the first terminal: ps.ttys
        self._accounts: dict[tuple[str, int], str] = {}
        self._boot: int | None = None
        self._now = time.time()

    def tty(self, task: Task) -> str | None:
        if not task.tty_nr:
            return None
        if self._ttys is None:
            from tidscope.ps.ttys import TtyNames

            self._ttys = TtyNames(self.root)
        return self._ttys.name(task.tty_nr, task.tid)

    def account(self, kind: str, number: int) -> str:
        """The name of user (``kind`` "user") or group ``number`` as procps's
        pwcache keeps it, raw: the number if there is none or it takes
        ``NAME_MAX`` bytes or more; an empty name stays empty.  ps prints it
        escaped and sorts by it as it is."""
        name = self._accounts.get((kind, number))
        if name is None:
            try:
                if kind == "user":
                    import pwd

                    name = pwd.getpwuid(number).pw_name
                else:
                    import grp

                    name = grp.getgrgid(number).gr_name
            except (KeyError, OverflowError):
                name = None
            if name is None or len(name.encode("utf-8", "surrogateescape")) >= NAME_MAX:
                name = str(number)
            self._accounts[(kind, number)] = name
        return name

    def user(self, uid: int | None) -> str:
        """The user column's cell: the user's name, printable."""
        return "?" if uid is None else escape(self.account("user", uid))

    def started(self, task: Task) -> int:
        """Start time in seconds since the epoch.  Without a boot time (no
        ``btime`` line in ``/proc/stat``, or none a clock can hold) there is
        no start date to print: an error, never 1970 (procps 4.0.2 refuses
        only an unparsable ``/proc/stat`` and prints 1970 or 2106 for the rest)."""
        if self._boot is None:
            boot = boot_time(self.root)
            if boot is None:
                raise TidscopeError(
                    f"{self.root}/stat: no boot time (its btime line is missing or not "
                    "a time since the epoch), so no start time can be printed: leave out "
                    "the start columns, or unmount what covers it"
                )
            self._boot = boot
        return self._boot + task.start_ticks // self.hz

    def stime(self, task: Task) -> str:
        """procps's STIME: HH:MM today, MmmDD this year, else the year."""
        start = time.localtime(self.started(task))
        now = time.localtime(self._now)
        if start.tm_year != now.tm_year:
            return time.strftime("%Y", start)
        if start.tm_yday != now.tm_yday:
            return time.strftime("%b%d", start)
        return time.strftime("%H:%M", start)

    def args(self, task: Task, quote: Callable[[str], str] = escape) -> str:
        """procps's args: the command line, arguments joined by blanks (and
        newlines made blanks); ``?`` if that prints as nothing (arguments
        that are all empty); ``[comm]`` if there is none, marked if a zombie.
        Printable (``quote`` escape) or as libproc2 holds it, which is what
        ps sorts by (``quote`` text.library)."""
        if task.cmdline:
            return quote(" ".join(task.cmdline).replace("\n", " ")) or "?"
        text = f"[{quote(task.name)}]"
        return text + " <defunct>" if task.state == "Z" else text
