"""A task as its ``stat`` line, its ``status`` and its command line show
it, and the rules that make a line one.

Numbers are taken only in the forms and ranges the kernel writes
(tidscope/numeric.py); a line that holds anything else is no task.  Lines
read from a proc mount skip the number checks (``check=False``: a
twentieth of a ``ps -T``): there the kernel writes every number.

``/proc/<pid>/task/<tid>/status`` is read into a :class:`Status`: its
``Key: value`` lines, parsed once, with the numbers in the forms the kernel
writes.
"""

from __future__ import annotations

from tidscope.numeric import kernel_ints, unsigned
from tidscope.proc.files import PROC, read_all

TYPE_CHECKING = False  # typing is not imported at run time: see Task
if TYPE_CHECKING:
    from typing import Any

ID_MAX = 0x7FFFFFFF  # the largest pid_t: no task id is larger
DEAD = frozenset("ZXx")  # the states of a task that has exited: zombie, dead (x: before 3.14)
START_MAX = 1 << 62  # ticks: a billion years at any USER_HZ, and a time_t yet


class Status:
    """What only ``status`` knows; read when a caller asks for it.

    ``data`` is the whole file.  Its lines are looked up when asked for:
    :meth:`line` finds any ``Key: value`` line (``VmLck`` for ps's
    ``stat``...), the properties parse the ones tidscope reads as numbers,
    and ``fields`` splits every line on first use (a status file has some
    60 lines: splitting them all for every task cost more than reading it).
    :func:`parse_status` checks that the numbers are the kernel's before
    it makes a Status of a file from a root that is not a proc mount."""

    __slots__ = ("_fields", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._fields: dict[bytes, bytes] | None = None

    def line(self, key: bytes) -> bytes | None:
        """The value of the first line ``key``, stripped; None if there is none."""
        return status_line(self.data, key)

    def number(self, key: bytes) -> int | None:
        """The first line ``key`` as one unsigned decimal number (``Tgid``,
        ``PPid``), or None if there is no such line or it holds anything
        else; for callers that take what they can, where the properties
        below raise."""
        value = self.line(key)
        return int(value) if value is not None and value.isdigit() else None

    @property
    def tgid(self) -> int:
        return _ints(_need(self.line(b"Tgid")))[0]

    @property
    def nspid(self) -> tuple[int, ...]:
        """The task's id in each PID namespace, outermost first."""
        return _ints(self.line(b"NSpid") or _need(self.line(b"Pid")))

    @property
    def nstgid(self) -> tuple[int, ...]:
        return _ints(self.line(b"NStgid") or _need(self.line(b"Tgid")))

    @property
    def tracer_pid(self) -> int:
        return _ints(_get(self.data, b"TracerPid", b"0"))[0]

    @property
    def threads(self) -> int:
        return _ints(_get(self.data, b"Threads", b"1"))[0]

    @property
    def uids(self) -> tuple[int, ...]:
        """Real, effective, saved and filesystem uid."""
        return _ints(_get(self.data, b"Uid", b""), empty=True)

    @property
    def fields(self) -> dict[bytes, bytes]:
        """Every line's value by its key (the first line of each key)."""
        if self._fields is None:
            fields: dict[bytes, bytes] = {}
            for line in self.data.split(b"\n"):
                key, sep, value = line.partition(b":")
                if sep:
                    fields.setdefault(key, value.strip())
            self._fields = fields
        return self._fields


def status_line(data: bytes, key: bytes) -> bytes | None:
    """The value of the first ``key:`` line of a status file, stripped."""
    head = key + b":"
    if data.startswith(head):
        at = len(head)
    else:
        at = data.find(b"\n" + head)
        if at < 0:
            return None
        at += len(head) + 1
    end = data.find(b"\n", at)
    return data[at : end if end >= 0 else len(data)].strip()


def parse_status(data: bytes, check: bool = True) -> Status | None:
    """A ``status`` file as a :class:`Status`, or None if one of the lines
    it gives is missing or not what the kernel writes.  ``check=False``
    (a file of a proc mount, as for :func:`parse_stat`) skips that test:
    the kernel wrote the file, and its lines are parsed when asked for."""
    status = Status(data)
    if check:
        try:
            singles = (b"Tgid", None), (b"TracerPid", b"0"), (b"Threads", b"1")
            for key, default in singles:
                value = status.line(key) if default is None else _get(data, key, default)
                if len(_ints(_need(value))) != 1:
                    return None
            _ = status.nspid, status.nstgid, status.uids  # each raises if not the kernel's
        except ValueError:
            return None
    return status


def _get(data: bytes, key: bytes, default: bytes) -> bytes:
    value = status_line(data, key)
    return default if value is None else value


def _need(value: bytes | None) -> bytes:
    if value is None:
        raise ValueError("missing")
    return value


def _ints(field: bytes, empty: bool = False) -> tuple[int, ...]:
    """Blank-separated kernel numbers; ValueError if any is not one."""
    words = field.split()
    values = kernel_ints(*words) if words else () if empty else None
    if values is None:
        raise ValueError(field)
    return values


def task_status(tgid: int, tid: int, root: str = PROC) -> dict[str, str] | None:
    """``/proc/<tgid>/task/<tid>/status`` as a dict, or None if unreadable."""
    data = read_all(f"{root}/{tgid}/task/{tid}/status")
    return None if data is None else status_fields(data)


def status_fields(data: bytes) -> dict[str, str]:
    """Every ``Key: value`` line of a status file."""
    status: dict[str, str] = {}
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            status[key] = value.strip()
    return status


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
