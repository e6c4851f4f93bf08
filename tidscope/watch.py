"""The kernel's process-events connector: every fork, exec, exit, rename,
id change and ptrace attach, as the kernel reports it.

Rules this module keeps:

- Every :class:`Event` holds only what the kernel's message said.  Whether a
  new task is a thread comes from the event's own ids (a task whose tid is
  not its thread group id joined an existing group), never from /proc,
  which by then may describe another task or nothing.  (The fork event's
  parent is the new task's ``real_parent``: for a thread that is the
  parent of its whole process, so ``child_tgid == parent_tgid`` would call
  every thread a process.)
- Lost events are counted, never hidden: the kernel numbers the events of
  each CPU, so a gap in one CPU's numbers is that many events lost, and a
  receive overrun (ENOBUFS) is counted on its own.
- Subscribing needs CAP_NET_ADMIN; without it the one error says so.  The
  subscription is cancelled (PROC_CN_MCAST_IGNORE) on every way out.
"""

from __future__ import annotations

import errno
import select
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from tidscope.errors import TidscopeError

NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # asm-generic (x86_64, arm64)
RCVBUF = 64 << 20  # room for a burst of ~1 million events of 80 bytes

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
PROC_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
HEAD = NLMSGHDR.size + CN_MSG.size + PROC_EVENT.size
IDS4 = struct.Struct("=4I")
EXIT = struct.Struct("=IIIiII")  # pid, tgid, exit_code, exit_signal, parent pid, tgid
COMM = struct.Struct("=II16s")

KINDS = {
    0x1: "fork",
    0x2: "exec",
    0x4: "uid",
    0x40: "gid",
    0x80: "sid",
    0x100: "ptrace",
    0x200: "comm",
    0x40000000: "coredump",
    0x80000000: "exit",
}
NEEDS_ROOT = (
    "the process-events connector refuses us (EPERM: it needs CAP_NET_ADMIN):"
    " run tidscope watch as root, e.g. sudo tidscope watch"
)


@dataclass(frozen=True)
class Event:
    """One kernel event.  ``tid``/``tgid`` name the task it is about; for a
    fork, the new task.  ``thread`` (fork and exit only): the task is not
    its group's leader.  ``parent_*``: the fork's ``real_parent`` or, for
    an exit, the task's parent (0 where the kernel gives none, as for
    threads); ptrace's tracer.  ``time_ns`` is the kernel's CLOCK_MONOTONIC."""

    kind: str
    time_ns: int
    cpu: int
    tid: int
    tgid: int
    parent_tid: int | None = None
    parent_tgid: int | None = None
    thread: bool | None = None
    exit_code: int | None = None  # the wait status (status << 8 | signal)
    exit_signal: int | None = None  # sent to the parent; -1 for a thread
    comm: str | None = None
    ids: tuple[int, int] | None = None  # uid/gid: real, effective
    flags: int | None = None  # fork, traced (--run): the clone flags the call asked for
    call: str | None = None  # fork, traced: the system call (clone, clone3, fork, vfork)


def parse(data: bytes | memoryview, offset: int = 0) -> Event | None:
    """The event in the connector message at ``offset``, None for one that
    is not a process event (the subscription's acknowledgement, a kind
    this kernel added after us)."""
    what, cpu, ts = PROC_EVENT.unpack_from(data, offset + NLMSGHDR.size + CN_MSG.size)
    kind = KINDS.get(what)
    if kind is None:
        return None
    at = offset + HEAD
    if kind == "fork":
        ppid, ptgid, pid, tgid = IDS4.unpack_from(data, at)
        return Event(kind, ts, cpu, pid, tgid, ppid, ptgid, thread=pid != tgid)
    if kind == "exit":
        pid, tgid, code, sig, ppid, ptgid = EXIT.unpack_from(data, at)
        return Event(kind, ts, cpu, pid, tgid, ppid, ptgid, pid != tgid, code, sig)
    if kind == "comm":
        pid, tgid, raw = COMM.unpack_from(data, at)
        name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        return Event(kind, ts, cpu, pid, tgid, comm=name)
    pid, tgid, a, b = IDS4.unpack_from(data, at)
    if kind in ("uid", "gid"):
        return Event(kind, ts, cpu, pid, tgid, ids=(a, b))
    if kind in ("ptrace", "coredump"):
        return Event(kind, ts, cpu, pid, tgid, a, b)
    return Event(kind, ts, cpu, pid, tgid)  # exec, sid


def _control(op: int) -> bytes:
    body = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, 4, 0) + struct.pack("=I", op)
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), NLMSG_DONE, 0, 0, 0) + body


class Connector:
    """A subscription to process events; a context manager that cancels it."""

    def __init__(self) -> None:
        self.overruns = 0  # ENOBUFS from recv: the kernel dropped messages
        self.gaps = 0  # events missing from a CPU's numbering
        self._seq: dict[int, int] = {}
        self._sock: socket.socket | None = None

    def __enter__(self) -> Connector:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_CONNECTOR)
        try:
            try:  # past rmem_max: root's privilege
                sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
            except PermissionError:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            sock.bind((0, CN_IDX_PROC))
            sock.send(_control(PROC_CN_MCAST_LISTEN))
        except PermissionError:
            sock.close()
            raise TidscopeError(NEEDS_ROOT) from None
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.send(_control(PROC_CN_MCAST_IGNORE))
        except OSError:
            pass  # closing unsubscribes as well; IGNORE lowers the kernel's listener count
        finally:
            sock.close()

    @property
    def lost(self) -> int:
        """Events known lost: the numbering gaps (ENOBUFS drops show there too)."""
        return self.gaps

    def events(self, deadline: float | None = None) -> Iterator[Event]:
        """Events as they come, until ``deadline`` (time.monotonic())."""
        sock = self._sock
        assert sock is not None, "use Connector as a context manager"
        buf = bytearray(1 << 16)
        view = memoryview(buf)
        while True:
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                return
            ready, _, _ = select.select([sock], [], [], wait)
            if not ready:
                continue
            try:
                size = sock.recv_into(buf, 0, socket.MSG_DONTWAIT)
            except BlockingIOError:
                continue
            except OSError as err:
                if err.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1
                continue
            yield from self._messages(view[:size])

    def _messages(self, data: memoryview) -> Iterator[Event]:
        at = 0
        while at + HEAD <= len(data):
            length, kind = NLMSGHDR.unpack_from(data, at)[:2]
            if length < NLMSGHDR.size:
                return
            if kind == NLMSG_DONE:
                seq = CN_MSG.unpack_from(data, at + NLMSGHDR.size)[2]
                event = parse(data, at)
                if event is not None:
                    self._count(event.cpu, seq)
                    yield event
            at += (length + 3) & ~3

    def _count(self, cpu: int, seq: int) -> None:
        last = self._seq.get(cpu)
        if last is not None and seq > last + 1:
            self.gaps += seq - last - 1
        self._seq[cpu] = seq


def name_of(tid: int, tgid: int, proc: str = "/proc") -> str | None:
    """The task's name now, or None when it is gone (or not readable)."""
    try:
        with open(f"{proc}/{tgid}/task/{tid}/comm", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return raw.rstrip(b"\n").decode("utf-8", "surrogateescape")


def wall_clock(time_ns: int) -> float:
    """The Unix time of a kernel CLOCK_MONOTONIC timestamp."""
    return time.time() - (time.monotonic_ns() - time_ns) / 1e9


def selected(event: Event, pid: int | None, threads: bool | None) -> bool:
    """--pid: the event's tgid or parent tgid is ``pid``; ``threads`` True
    (False): only thread (process) births and exits, as the event says."""
    if pid is not None and pid not in (event.tgid, event.parent_tgid):
        return False
    return threads is None or event.thread is threads
