"""``/proc/<pid>/task/<tid>/status``: its ``Key: value`` lines, parsed once,
with the numbers in the forms the kernel writes (tidscope/numeric.py)."""

from __future__ import annotations

from tidscope.numeric import kernel_ints
from tidscope.proc.files import PROC, read_all


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
