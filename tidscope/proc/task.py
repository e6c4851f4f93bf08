"""A task as its ``stat`` line shows it, and the rules that make a line one.

Numbers are taken only in the forms and ranges the kernel writes
(tidscope/numeric.py); a line that holds anything else is no task.  Lines
read from a proc mount skip the number checks (``check=False``: a
twentieth of a ``ps -T``): there the kernel writes every number.
"""

from __future__ import annotations

from tidscope.numeric import kernel_ints, unsigned
from tidscope.proc.files import PROC, read_all
from tidscope.proc.status import Status

TYPE_CHECKING = False  # typing is not imported at run time: see Task
if TYPE_CHECKING:
    from typing import Any

ID_MAX = 0x7FFFFFFF  # the largest pid_t: no task id is larger
DEAD = frozenset("ZXx")  # the states of a task that has exited: zombie, dead (x: before 3.14)
START_MAX = 1 << 62  # ticks: a billion years at any USER_HZ, and a time_t yet


class Task:
    """One task as ``stat`` shows it.

    ``tgid`` is the directory the task was found under, never a guess.
    ``uid``, ``status`` and ``cmdline`` stay None unless asked for (and when
    unreadable); ``uid`` is the owner of the task's /proc directory, which is
    the effective uid procps shows.  (Plain classes rather than dataclasses
    here and in pslist/columns: importing dataclasses, which imports inspect,
    would cost a ``tidscope ps`` more than its own work.)
    """

    __slots__ = (
        "cmdline",
        "cpu_ticks",
        "extra",
        "fields",
        "name",
        "nlwp",
        "ppid",
        "rest",
        "start_ticks",
        "state",
        "status",
        "tgid",
        "tid",
        "tty_nr",
        "uid",
    )

    def __init__(
        self,
        tid: int,
        tgid: int,
        ppid: int,
        name: str,  # comm, undecodable bytes kept as surrogates
        state: str,
        tty_nr: int,
        cpu_ticks: int,  # utime + stime, in clock ticks
        start_ticks: int,  # since boot, in clock ticks
        nlwp: int,
        uid: int | None = None,
        status: Status | None = None,
        cmdline: tuple[str, ...] | None = None,
        rest: bytes = b"",  # the stat line after the name's ") ": see field()
    ) -> None:
        self.tid = tid
        self.tgid = tgid
        self.ppid = ppid
        self.name = name
        self.state = state
        self.tty_nr = tty_nr
        self.cpu_ticks = cpu_ticks
        self.start_ticks = start_ticks
        self.nlwp = nlwp
        self.uid = uid
        self.status = status
        self.cmdline = cmdline
        self.rest = rest
        self.fields: list[bytes] | None = None
        # what other files a column asked for (snapshot.py reads them), by name
        self.extra: dict[str, Any] | None = None

    def field(self, number: int) -> bytes:
        """Field ``number`` of the stat line, numbered as proc(5) numbers
        them (3 is the state, 4 the ppid... 52 the exit code); b"" if the
        kernel wrote no such field.  The line is split once, when first asked."""
        fields = self.fields
        if fields is None:
            fields = self.fields = self.rest.split(b" ")
        index = number - 3
        return fields[index] if 0 <= index < len(fields) else b""

    def __repr__(self) -> str:
        return f"Task(tid={self.tid}, tgid={self.tgid}, name={self.name!r}, state={self.state!r})"


def parse_stat(data: bytes, tid: int, tgid: int, check: bool = True) -> Task | None:
    """A ``stat`` line as a :class:`Task`, or None if it is not one.

    The name is everything between the first ``(`` and the *last* ``)``:
    comm may itself hold parentheses, spaces and digits (``a) b (c``).
    Every number must be one the kernel could have written, in its C
    type's range: anything else is a forged or garbled line, not a task.
    ``check=False`` (a line read from a proc mount, see :func:`is_proc_mount`)
    skips those tests, as :func:`read` skips the one that the file is
    regular: the kernel wrote the line (and the tests would cost a quarter
    of this function, on the hot path of ``ps -T``).  ``tty_nr`` is kept as
    the unsigned 32-bit device number it encodes.
    """
    start = data.find(b"(")
    end = data.rfind(b")")
    if start < 0 or end < start:
        return None
    # after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt
    # majflt cmajflt utime stime cutime cstime priority nice num_threads
    # itrealvalue starttime ...
    f = data[end + 2 :].split(b" ", 20)
    try:
        ppid, tty_nr, start_ticks = int(f[1]), int(f[4]), int(f[19])
        utime, stime, nlwp = int(f[11]), int(f[12]), int(f[17])
        state = chr(f[0][0])
    except (IndexError, ValueError):
        return None
    if check and not (
        len(f[0]) == 1
        and unsigned(f[1], f[4].removeprefix(b"-"), f[11], f[12], f[17], f[19])
        and ppid <= ID_MAX
        and -0x80000000 <= tty_nr <= 0x7FFFFFFF
        and start_ticks < START_MAX
    ):
        return None
    return Task(
        tid,
        tgid,
        ppid,
        data[start + 1 : end].decode("utf-8", "surrogateescape"),
        state,
        tty_nr & 0xFFFFFFFF,
        utime + stime,
        start_ticks,
        nlwp,
        rest=data[end + 2 :].rstrip(b"\n"),
    )


def parse_cmdline(data: bytes) -> tuple[str, ...]:
    """NUL-separated arguments, trailing empty ones dropped; a kernel
    thread's (or zombie's) is empty, but NULs alone (argv of empty strings,
    or none at all: the kernel then gives one) are one empty argument."""
    args = data.split(b"\0")
    while len(args) > 1 and not args[-1]:
        args.pop()
    if args == [b""] and not data:
        return ()
    return tuple(a.decode("utf-8", "surrogateescape") for a in args)


def tgid_of(tid: int, root: str = PROC) -> int | None:
    """The thread group ``tid`` belongs to now, or None if there is no such task.

    ``/proc/<tid>`` answers for any task, listed or not; only its status
    says whether ``tid`` leads its group.
    """
    data = read_all(f"{root}/{tid}/status")
    if data is None:
        return None
    at = data.find(b"\nTgid:")
    if at < 0:
        return None
    values = kernel_ints(data[at + 6 :].split(b"\n", 1)[0].strip())
    return values[0] if values and 0 < values[0] <= ID_MAX else None
