"""What turning a task into cells needs once per run: the clock tick, the
boot time, terminal and user names, with their caches.  Every column table
gets one (columns.py, stat_columns.py...); it imports none of them."""

from __future__ import annotations

import time

from tidscope.errors import TidscopeError
from tidscope.proc.files import PROC
from tidscope.proc.system import boot_time, clock_ticks
from tidscope.proc.task import Task
from tidscope.text import escape

NAME_MAX = 33  # procps's P_G_SZ: a user or group name this long or longer prints as its number
TYPE_CHECKING = False  # typing is not imported at run time: see proc/task.py
if TYPE_CHECKING:
    from typing import Any

    from tidscope.ps.ttys import TtyNames


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
        self._users: dict[int, str] = {}
        self._boot: int | None = None
        self._now = time.time()

    def tty(self, task: Task) -> str | None:
        if not task.tty_nr:
            return None
        if self._ttys is None:
            from tidscope.ps.ttys import TtyNames

            self._ttys = TtyNames(self.root)
        return self._ttys.name(task.tty_nr, task.tid)

    def user(self, uid: int | None) -> str:
        if uid is None:
            return "?"
        name = self._users.get(uid)
        if name is None:
            import pwd

            try:
                raw = pwd.getpwuid(uid).pw_name
            except KeyError:
                raw = None
            # procps shows the number for a name of NAME_MAX bytes or more
            long = raw is not None and len(raw.encode("utf-8", "surrogateescape")) >= NAME_MAX
            name = str(uid) if raw is None or long else escape(raw)
            self._users[uid] = name
        return name

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

    def args(self, task: Task) -> str:
        """procps's args: the command line, arguments joined by blanks (and
        newlines made blanks); ``?`` if that prints as nothing (arguments
        that are all empty); ``[comm]`` if there is none, marked if a zombie."""
        if task.cmdline:
            return escape(" ".join(task.cmdline).replace("\n", " ")) or "?"
        text = f"[{escape(task.name)}]"
        return text + " <defunct>" if task.state == "Z" else text
