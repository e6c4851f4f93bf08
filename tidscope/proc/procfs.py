"""Reading the kernel's task tables under /proc (the procfs backend).

Races are ordinary control flow here: a task can vanish between listing and
reading, which yields None, never an exception.  So does a file we may not
read (``hidepid``, another user's task): callers show what they could read.

Files are read as bytes with one ``os.open`` and as few ``os.read`` calls as
the file needs; the procfs root is a parameter so that tests, and users with
a second proc mount, can point it elsewhere.  The numbers the tables hold
that need a lookup to mean something (a terminal's device number) are
resolved here too, as procps resolves them.

A root that is not the kernel's (``--proc-root`` at a copy, or a hostile
tree) may hold anything where a file should be: every open is non-blocking
(a FIFO cannot hang us), every read is capped (``/dev/zero`` cannot fill
memory), and anything but a regular file reads as unreadable, like a
hidden one.  Numbers are taken only in the forms and ranges the kernel
writes (tidscope/numeric.py); a line that holds anything else is no task.
The per-task files of a root that is a proc mount skip the last two
checks (an ``fstat`` per file would cost a tenth of a ``ps -T``, the
number checks a twentieth): there the kernel makes every file, regular,
and writes every number in them.
"""

from __future__ import annotations

import errno
import os
import stat

from tidscope.numeric import c_integer, decimal, entry_id, kernel_ints, unsigned

TYPE_CHECKING = False  # typing is not imported at run time: see Task
if TYPE_CHECKING:
    from typing import Any

PROC = "/proc"
READ = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY
DIRECTORY = READ | os.O_DIRECTORY
CHUNK = 4096  # one read holds any stat line; longer files are read to EOF
PID_WIDTH = 5  # procps's column width when pid_max cannot be read
ID_MAX = 0x7FFFFFFF  # the largest pid_t: no task id is larger
START_MAX = 1 << 62  # ticks: a billion years at any USER_HZ, and a time_t yet

# The most of a file read: procps's cap for a command line; a status file
# lists at most 65,536 supplementary groups; the system tables (mountinfo,
# /proc/stat, tty/drivers) are read once.
CMDLINE_MAX = 128 * 1024
STATUS_MAX = 1024 * 1024
TABLE_MAX = 4 * 1024 * 1024

# What a vanished or hidden task raises: ENOENT, ESRCH, EACCES/EPERM, ENOTDIR.
GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)
# Errors that are ours, not the file's: reported, never taken for a hidden task.
EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM})


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


def passable(err: OSError) -> bool:
    """Whether ``err`` means "leave this file out" (gone, hidden, or not a
    file /proc would hold: a socket, a symlink loop...) rather than a
    failure of ours (no file descriptors or memory left), which is raised."""
    return err.errno not in EXHAUSTED


def kind(mode: int) -> str:
    """What a file of ``mode`` is, for messages: ``a FIFO``, ``a directory``..."""
    for test, name in (
        (stat.S_ISREG, "a regular file"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "no regular file"


def _open(path: str, dir_fd: int | None, check: bool) -> int | None:
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except OSError as err:
        if passable(err):
            return None
        raise
    if check and not _regular(fd):
        os.close(fd)
        return None
    return fd


def read(path: str, dir_fd: int | None = None, check: bool = True) -> bytes | None:
    """One read of a small file (``stat``), or None if it is gone, hidden or
    no regular file.  ``check=False`` skips the last test: for the kernel's
    own files (see :func:`is_proc_mount`).  (The hot path of ``ps -T``:
    :func:`_open` inlined.)"""
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except OSError as err:
        if err.errno in EXHAUSTED:
            raise
        return None
    try:
        if check and not _regular(fd):
            return None
        return os.read(fd, CHUNK)
    except OSError as err:
        if err.errno in EXHAUSTED:
            raise
        return None
    finally:
        os.close(fd)


def _regular(fd: int) -> bool:
    try:
        return stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        return False


def read_all(
    path: str, dir_fd: int | None = None, limit: int = STATUS_MAX, check: bool = True
) -> bytes | None:
    """A whole file (``status``, ``cmdline``) up to ``limit`` bytes, or None
    as :func:`read`."""
    fd = _open(path, dir_fd, check)
    if fd is None:
        return None
    try:
        return read_fd(fd, limit)
    except OSError as err:
        if passable(err):
            return None
        raise
    finally:
        os.close(fd)


def read_fd(fd: int, limit: int) -> bytes:
    """The open file ``fd`` read to its end, up to ``limit`` bytes; an
    error is raised, for the caller to judge."""
    chunks = []
    left = limit
    while left > 0 and (chunk := os.read(fd, min(CHUNK * 4, left))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_PROC_MOUNTS: dict[str, bool] = {}


def mounts(data: bytes) -> list[tuple[str, str, list[str]]]:
    """``mountinfo`` lines as (mount point, filesystem type, super options);
    the mount point with its octal escapes (``\\040``) undone."""
    found = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if sep and len(fields) > 4 and len(tail) > 2:
            found.append((_unescape(fields[4]), tail[0], tail[2].split(",")))
    return found


def _unescape(point: str) -> str:
    """The kernel writes a blank, tab, newline or backslash in a mount
    point as ``\\`` and three octal digits."""
    if "\\" not in point:
        return point
    first, *rest = point.split("\\")
    out = [first]
    for part in rest:
        code = c_integer(part[:3], 8) if len(part) > 2 and part[0] in "0123" else None
        out.append(chr(code) + part[3:] if code is not None else "\\" + part)
    return "".join(out)


def is_proc_mount(root: str = PROC) -> bool:
    """Whether ``root`` is a proc mount with nothing mounted over its tasks'
    files, by the kernel's own ``/proc/self/mountinfo``: then every file
    under ``root/<pid>`` is the kernel's, and regular.  Asked once per root."""
    known = _PROC_MOUNTS.get(root)
    if known is None:
        known = _PROC_MOUNTS[root] = _is_proc_mount(root)
    return known


def _is_proc_mount(root: str) -> bool:
    where = os.path.realpath(root)
    below = where.rstrip("/") + "/"
    proc = False
    for point, fstype, _ in mounts(read_all(f"{PROC}/self/mountinfo", limit=TABLE_MAX) or b""):
        if point == where:
            proc = fstype == "proc"  # the last mount there is the one seen
        elif point.startswith(below) and entry_id(point[len(below) :].split("/")[0]):
            return False  # something mounted over a task's files
    return proc


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


def hidepid(root: str = PROC) -> str | None:
    """The ``hidepid`` option ``root`` is mounted with, if it hides anything
    from us: what a listing there cannot show, to say so."""
    if os.geteuid() == 0:
        return None  # root may look at every process
    where = os.path.realpath(root)
    data = read_all(f"{root}/self/mountinfo", limit=TABLE_MAX) or b""
    for point, fstype, options in mounts(data):
        if point == where and fstype == "proc":
            for option in options:
                name, _, value = option.partition("=")
                if name == "hidepid" and value not in ("0", "off"):
                    return value
    return None


def clock_ticks() -> int:
    """USER_HZ: the unit of every time in ``stat``."""
    return os.sysconf("SC_CLK_TCK")


def boot_time(root: str = PROC) -> int | None:
    """Seconds since the epoch at boot (``btime`` in ``/proc/stat``)."""
    data = read_all(f"{root}/stat", limit=TABLE_MAX) or b""
    at = data.find(b"\nbtime ")
    if at < 0:
        return None
    values = kernel_ints(data[at + 7 :].split(b"\n", 1)[0])
    return values[0] if values and 0 <= values[0] < 1 << 40 else None  # a time_t yet


def pid_width(root: str = PROC) -> int:
    """Digits in ``kernel.pid_max``: procps's width for PID-like columns
    (procps's own default when the file holds no pid_max the kernel allows)."""
    text = (read(f"{root}/sys/kernel/pid_max") or b"").decode("ascii", "replace").strip()
    value = decimal(text)
    return len(text) if value is not None and 0 < value <= ID_MAX + 1 else PID_WIDTH


# -- terminals: procps's dev_to_tty ------------------------------------------

# major -> /dev name prefix; the device file must exist and match.
_GUESS = {
    11: "ttyB", 17: "ttyH", 19: "ttyC", 22: "ttyD", 23: "ttyD", 24: "ttyE", 32: "ttyX",
    43: "ttyI", 46: "ttyR", 48: "ttyL", 57: "ttyP", 71: "ttyF", 75: "ttyW", 78: "ttyM",
    105: "ttyV", 112: "ttyM", 148: "ttyT", 154: "ttySR", 164: "ttyCH", 166: "ttyACM",
    172: "ttyMX", 174: "ttySI", 188: "ttyUSB", 208: "ttyU", 216: "ttyUB", 224: "ttyY",
    227: "3270/tty", 229: "iseries/vtty",
}  # fmt: skip


def _is_device(path: str, major: int, minor: int) -> bool:
    try:
        rdev = os.stat(path).st_rdev
    except OSError:
        return False
    return os.major(rdev) == major and os.minor(rdev) == minor


class TtyNames:
    """``tty_nr`` to a name such as ``pts/0``, ``tty1`` or ``ttyS0``.

    As procps: the drivers in ``/proc/tty/drivers`` first, then the task's
    standard error, then names by major number, then fd 255 (bash's tty);
    a name counts only if that device file exists with that number.
    """

    def __init__(self, root: str = PROC) -> None:
        self.root = root
        self._drivers: list[tuple[str, bool, int, int, int]] | None = None
        self._by_driver: dict[int, str | None] = {}
        self._by_guess: dict[int, str | None] = {}

    def name(self, tty_nr: int, tid: int) -> str | None:
        major, minor = os.major(tty_nr), os.minor(tty_nr)
        if tty_nr not in self._by_driver:
            self._by_driver[tty_nr] = self._driver(major, minor)
        found = self._by_driver[tty_nr] or self._link(tid, "fd/2", major, minor)
        if found is None:
            if tty_nr not in self._by_guess:
                self._by_guess[tty_nr] = self._guess(major, minor)
            found = self._by_guess[tty_nr] or self._link(tid, "fd/255", major, minor)
        return found

    def _load(self) -> list[tuple[str, bool, int, int, int]]:
        drivers = []
        data = read_all(f"{self.root}/tty/drivers", limit=TABLE_MAX)
        for line in (data or b"").decode("ascii", "replace").splitlines():
            words = line.split()
            if len(words) < 4 or not words[1].startswith("/dev/"):
                continue
            name = words[1][5:]
            numbered = name.endswith("%d")
            first, _, last = words[3].partition("-")
            major, low, high = decimal(words[2]), decimal(first), decimal(last or first)
            if major is None or low is None or high is None:
                continue
            name = name[:-2] if numbered else name
            drivers.append((name, numbered, major, low, high))
        drivers.reverse()  # procps searches the last-listed driver first
        return drivers

    def _driver(self, major: int, minor: int) -> str | None:
        if self._drivers is None:
            self._drivers = self._load()
        for name, numbered, maj, first, last in self._drivers:
            if maj == major and first <= minor <= last:
                for path in (f"/dev/{name}{minor}", f"/dev/{name}/{minor}"):
                    if _is_device(path, major, minor):
                        return path[5:]
                if not numbered and _is_device(f"/dev/{name}", major, minor):
                    return name
                return None
        return None

    def _link(self, tid: int, fd: str, major: int, minor: int) -> str | None:
        try:
            path = os.readlink(f"{self.root}/{tid}/{fd}")
        except OSError:
            return None
        if not _is_device(path, major, minor):
            return None
        return path[5:] if path.startswith("/dev/") and len(path) > 5 else path

    def _guess(self, major: int, minor: int) -> str | None:
        if major == 4:
            path = f"/dev/tty{minor}" if minor < 64 else f"/dev/ttyS{minor - 64}"
        elif 136 <= major <= 143:
            path = f"/dev/pts/{minor + (major - 136) * 256}"
        elif major == 3 and minor < 256:
            path = "/dev/tty" + "pqrstuvwxyzabcde"[minor >> 4] + "0123456789abcdef"[minor & 15]
        elif major == 156:
            path = f"/dev/ttySR{minor + 256}"
        elif major in _GUESS:
            path = f"/dev/{_GUESS[major]}{minor}"
        else:
            return None
        return path[5:] if _is_device(path, major, minor) else None
