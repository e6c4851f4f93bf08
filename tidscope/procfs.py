"""Reading the kernel's task tables under /proc (the procfs backend).

Races are ordinary control flow here: a task can vanish between listing and
reading, which yields None, never an exception.  So does a file we may not
read (``hidepid``, another user's task): callers show what they could read.

Files are read as bytes with one ``os.open`` and as few ``os.read`` calls as
the file needs; the procfs root is a parameter so that tests, and users with
a second proc mount, can point it elsewhere.  The numbers the tables hold
that need a lookup to mean something (a terminal's device number) are
resolved here too, as procps resolves them.
"""

from __future__ import annotations

import os

PROC = "/proc"
READ = os.O_RDONLY | os.O_CLOEXEC
DIRECTORY = READ | os.O_DIRECTORY
CHUNK = 4096  # one read holds any stat line; longer files are read to EOF
PID_WIDTH = 5  # procps's column width when pid_max cannot be read
ID_MAX = 0x7FFFFFFF  # the largest pid_t: no task id is larger

# What a vanished or hidden task raises: ENOENT, ESRCH, EACCES/EPERM, ENOTDIR.
GONE = (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError)


class Status:
    """What only ``status`` knows; read when a caller asks for it."""

    __slots__ = ("nspid", "nstgid", "tgid", "threads", "tracer_pid", "uids")

    def __init__(
        self,
        tgid: int,
        nspid: tuple[int, ...],  # the task's id in each PID namespace, outermost first
        nstgid: tuple[int, ...],
        tracer_pid: int,
        threads: int,
        uids: tuple[int, ...],  # real, effective, saved, filesystem
    ) -> None:
        self.tgid = tgid
        self.nspid = nspid
        self.nstgid = nstgid
        self.tracer_pid = tracer_pid
        self.threads = threads
        self.uids = uids


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
        "name",
        "nlwp",
        "ppid",
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

    def __repr__(self) -> str:
        return f"Task(tid={self.tid}, tgid={self.tgid}, name={self.name!r}, state={self.state!r})"


def read(path: str, dir_fd: int | None = None) -> bytes | None:
    """One read of a small file (``stat``), or None if it is gone or hidden."""
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except GONE:
        return None
    try:
        return os.read(fd, CHUNK)
    except GONE:
        return None
    finally:
        os.close(fd)


def read_all(path: str, dir_fd: int | None = None) -> bytes | None:
    """A whole file of any length (``status``, ``cmdline``), or None."""
    try:
        fd = os.open(path, READ, dir_fd=dir_fd)
    except GONE:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, CHUNK * 4):
            chunks.append(chunk)
        return b"".join(chunks)
    except GONE:
        return None
    finally:
        os.close(fd)


def parse_stat(data: bytes, tid: int, tgid: int) -> Task | None:
    """A ``stat`` line as a :class:`Task`, or None if it is not one.

    The name is everything between the first ``(`` and the *last* ``)``:
    comm may itself hold parentheses, spaces and digits (``a) b (c``).
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
        return Task(
            tid,
            tgid,
            int(f[1]),
            data[start + 1 : end].decode("utf-8", "surrogateescape"),
            chr(f[0][0]),
            int(f[4]),
            int(f[11]) + int(f[12]),
            int(f[19]),
            int(f[17]),
        )
    except (IndexError, ValueError):
        return None


def parse_status(data: bytes) -> Status | None:
    """The fields of a ``status`` file that :class:`Status` holds."""
    fields: dict[bytes, bytes] = {}
    for line in data.split(b"\n"):
        key, sep, value = line.partition(b":")
        if sep:
            fields[key] = value.strip()
    try:
        tgid = int(fields[b"Tgid"])
        nspid = _ints(fields.get(b"NSpid") or fields[b"Pid"])
        nstgid = _ints(fields.get(b"NStgid") or fields[b"Tgid"])
        return Status(
            tgid=tgid,
            nspid=nspid,
            nstgid=nstgid,
            tracer_pid=int(fields.get(b"TracerPid", b"0")),
            threads=int(fields.get(b"Threads", b"1")),
            uids=_ints(fields.get(b"Uid", b"")),
        )
    except (KeyError, ValueError):
        return None


def _ints(field: bytes) -> tuple[int, ...]:
    return tuple(int(x) for x in field.split())


def parse_cmdline(data: bytes) -> tuple[str, ...]:
    """NUL-separated arguments; a kernel thread's (or zombie's) is empty."""
    args = data.split(b"\0")
    while args and not args[-1]:
        args.pop()
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
    try:
        return int(data[at + 6 :].split(b"\n", 1)[0]) if at >= 0 else None
    except ValueError:
        return None


def hidepid(root: str = PROC) -> str | None:
    """The ``hidepid`` option ``root`` is mounted with, if it hides anything
    from us: what a listing there cannot show, to say so."""
    if os.geteuid() == 0:
        return None  # root may look at every process
    where = os.path.realpath(root)
    data = read_all(f"{root}/self/mountinfo") or b""
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(" - ", 1)
        left, right = fields[0].split(), (fields[1].split() if len(fields) > 1 else [])
        if len(left) > 4 and left[4] == where and right[:1] == ["proc"]:
            for option in right[-1].split(","):
                name, _, value = option.partition("=")
                if name == "hidepid" and value not in ("0", "off"):
                    return value
    return None


def clock_ticks() -> int:
    """USER_HZ: the unit of every time in ``stat``."""
    return os.sysconf("SC_CLK_TCK")


def boot_time(root: str = PROC) -> int | None:
    """Seconds since the epoch at boot (``btime`` in ``/proc/stat``)."""
    data = read_all(f"{root}/stat") or b""
    at = data.find(b"\nbtime ")
    try:
        return int(data[at + 7 :].split(b"\n", 1)[0]) if at >= 0 else None
    except ValueError:
        return None


def pid_width(root: str = PROC) -> int:
    """Digits in ``kernel.pid_max``: procps's width for PID-like columns."""
    data = read(f"{root}/sys/kernel/pid_max")
    text = (data or b"").strip()
    return len(text) if text else PID_WIDTH


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
        text = (read(f"{self.root}/tty/drivers") or b"").decode("ascii", "replace")
        for line in text.splitlines():
            words = line.split()
            if len(words) < 4 or not words[1].startswith("/dev/"):
                continue
            name = words[1][5:]
            numbered = name.endswith("%d")
            first, _, last = words[3].partition("-")
            if not (words[2].isdigit() and first.isdigit() and (last or first).isdigit()):
                continue
            name = name[:-2] if numbered else name
            drivers.append((name, numbered, int(words[2]), int(first), int(last or first)))
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
