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
  receive overrun (ENOBUFS) is counted on its own.  A gap shows only at the
  CPU's next event, so the messages the kernel dropped for our socket are
  also read from the socket itself (SO_MEMINFO's drop count): the losses
  of an overrun at the very end are counted too.
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
from types import TracebackType

from tidscope.errors import TidscopeError
from tidscope.proc.files import PROC, read
from tidscope.watch.event import Event, _event
from tidscope.watch.groups import Groups

NETLINK_CONNECTOR = 11
CN_IDX_PROC = CN_VAL_PROC = 1
PROC_CN_MCAST_LISTEN, PROC_CN_MCAST_IGNORE = 1, 2
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # asm-generic (x86_64, arm64)
SO_MEMINFO = getattr(socket, "SO_MEMINFO", 55)
MEMINFO = struct.Struct("=9I")  # ... SK_MEMINFO_DROPS (Linux 4.10) last
# The kernel doubles it and charges each 76-byte message 832 bytes (SO_MEMINFO's
# rmem on x86_64): room for ~160,000 events, 4 s of 20,000 thread births a second.
RCVBUF = 64 << 20

NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
CN_MSG = struct.Struct("=IIIIHH")  # idx, val, seq, ack, len, flags
PROC_EVENT = struct.Struct("=IIQ")  # what, cpu, timestamp_ns
HEAD = NLMSGHDR.size + CN_MSG.size + PROC_EVENT.size
# A whole message in one unpack: nlmsghdr's len and type, cn_msg's seq, the
# event's what, cpu and timestamp, then its union read as six u32 (fork's
# four ids, exit's pid, tgid, status, signal (signed), parent pid and tgid).
HEADER = struct.Struct("=IH10x8xI8xIIQ")
MESSAGE = struct.Struct(HEADER.format + "6I")
PROC_EVENT_NONE, PROC_EVENT_FORK, PROC_EVENT_EXIT = 0, 0x1, 0x80000000
NO_CPU = 0xFFFFFFFF  # an acknowledgement's CPU in kernels that do not number it
IDS4 = struct.Struct("=4I")
EXIT = struct.Struct("=IIIiII")  # pid, tgid, exit_code, exit_signal, parent pid, tgid
COMM = struct.Struct("=II16s")
COMM_READ = 64  # bytes read of /proc/.../comm: a name is at most 15 and a newline

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


def parse(data: bytes | bytearray | memoryview, offset: int = 0) -> Event | None:
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
        return _event(kind, ts, cpu, pid, tgid, ppid, ptgid, pid != tgid)
    if kind == "exit":
        pid, tgid, code, sig, ppid, ptgid = EXIT.unpack_from(data, at)
        return _event(kind, ts, cpu, pid, tgid, ppid, ptgid, pid != tgid, code, sig)
    if kind == "comm":
        pid, tgid, raw = COMM.unpack_from(data, at)
        name = raw.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        return Event(kind, ts, cpu, pid, tgid, comm=name)
    pid, tgid, a, b = IDS4.unpack_from(data, at)
    if kind in ("uid", "gid"):
        return Event(kind, ts, cpu, pid, tgid, ids=(a, b))
    if kind in ("ptrace", "coredump"):
        return _event(kind, ts, cpu, pid, tgid, a, b)
    return _event(kind, ts, cpu, pid, tgid)  # exec, sid


def _control(op: int) -> bytes:
    body = CN_MSG.pack(CN_IDX_PROC, CN_VAL_PROC, 0, 0, 4, 0) + struct.pack("=I", op)
    return NLMSGHDR.pack(NLMSGHDR.size + len(body), NLMSG_DONE, 0, 0, 0) + body


class Connector:
    """A subscription to process events; a context manager that cancels it."""

    def __init__(self) -> None:
        self.overruns = 0  # ENOBUFS from recv: the kernel dropped messages
        self.gaps = 0  # events missing from a CPU's numbering
        self.drops = 0  # messages the kernel dropped for our socket (receive buffer full)
        self._seq: dict[int, int] = {}
        self._sock: socket.socket | None = None
        self.groups = Groups()  # each group's live threads: what its exits and execs mean

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
        try:  # subscribed: what lives now, and the events since, are every thread
            self.groups.baseline()
        except BaseException as err:
            self.__exit__(type(err), err, err.__traceback__)
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._sock is None:
            return
        self._read_drops()
        sock, self._sock = self._sock, None
        try:
            sock.send(_control(PROC_CN_MCAST_IGNORE))
        except OSError:
            pass  # closing unsubscribes as well; IGNORE lowers the kernel's listener count
        finally:
            sock.close()

    @property
    def lost(self) -> int:
        """Events known lost, at least: the numbering gaps or the messages the
        kernel dropped for our socket, whichever is more.  Both see an
        overrun (its gaps once each CPU sends again); only the gaps see an
        event the kernel could not send at all (its allocation failed)."""
        self._read_drops()
        return max(self.gaps, self.drops)

    def _read_drops(self) -> None:
        """Update ``drops`` from the socket, while it is open (a kernel
        without the count leaves it 0)."""
        if self._sock is None:
            return
        try:
            info = self._sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, MEMINFO.size)
        except OSError:
            return
        if len(info) == MEMINFO.size:
            self.drops = MEMINFO.unpack(info)[-1]

    def events(self, deadline: float | None = None) -> Iterator[Event]:
        """Events as they come, until ``deadline`` (time.monotonic()).

        The socket is drained (non-blocking receives until EAGAIN) before
        poll(2) waits again: under load that is one recv per message and no
        select.  The deadline is checked before every receive, so a watcher
        that never runs dry still stops on time."""
        sock = self._sock
        assert sock is not None, "use Connector as a context manager"
        buf = bytearray(1 << 16)
        recv, dontwait, clock = sock.recv_into, socket.MSG_DONTWAIT, time.monotonic
        waiter = select.poll()  # not select(2): our descriptor may be past 1023
        waiter.register(sock, select.POLLIN)
        while deadline is None or clock() < deadline:
            try:
                size = recv(buf, 0, dontwait)
            except BlockingIOError:
                wait = None if deadline is None else max(0.0, deadline - clock()) * 1000
                waiter.poll(wait)
                continue
            except OSError as err:
                if err.errno != errno.ENOBUFS:
                    raise
                self.overruns += 1
                self._read_drops()
                continue
            yield from self._messages(buf, size)

    def _messages(self, data: bytes | bytearray | memoryview, end: int) -> list[Event]:
        """The process events in the first ``end`` bytes of a datagram, each
        CPU's numbering counted.

        Forks and exits, nearly every message under load, are unpacked whole
        in one call; the rest go through :func:`parse`.  Every message is
        counted in its CPU's numbering, a kind unknown to us included: the
        kernel numbered it among the others.  So is the acknowledgement of
        a listener's subscribing or leaving (PROC_EVENT_NONE, sent to every
        listener, ours among them: no event), which current kernels number
        from the CPU's count (another watcher starting and ending was two
        events "lost"); older ones send it with CPU -1 and the request's own
        number, outside any CPU's count."""
        events: list[Event] = []
        seqs = self._seq
        groups = self.groups
        at = 0
        while at + HEAD <= end:
            if at + MESSAGE.size <= end:
                length, kind, seq, what, cpu, ts, a, b, c, d, e, f = MESSAGE.unpack_from(data, at)
                whole = length >= MESSAGE.size
            else:
                length, kind, seq, what, cpu, ts = HEADER.unpack_from(data, at)
                whole = False
            if length < NLMSGHDR.size:
                break
            here, at = at, at + ((length + 3) & ~3)
            if kind != NLMSG_DONE or (what == PROC_EVENT_NONE and cpu == NO_CPU):
                continue
            last = seqs.get(cpu)  # a gap in this CPU's numbering: events lost
            if last is not None and seq > last + 1:
                self.gaps += seq - last - 1
            seqs[cpu] = seq
            if what == PROC_EVENT_NONE:  # an acknowledgement: numbered, no event
                continue
            if whole and what == PROC_EVENT_FORK:  # a, b: the real parent; c, d: the new task
                event = _event("fork", ts, cpu, c, d, a, b, c != d)
            elif whole and what == PROC_EVENT_EXIT:  # a, b: the task; c, d: status, signal
                sig = d - (d >> 31 << 32)  # signed
                event = _event("exit", ts, cpu, a, b, e, f, a != b, c, sig)
            else:
                parsed = parse(data, here)
                if parsed is None:
                    continue
                event = parsed
            kind = event.kind
            if kind == "fork":
                groups.fork(event)
                events.append(event)
            elif kind == "exit":
                events += groups.exit(event)
            elif kind == "exec":
                events.append(groups.exec(event))
            else:
                events.append(event)
        return events


def name_of(tid: int, tgid: int, proc: str = PROC) -> str | None:
    """The task's name now, or None when it is gone (or not readable); as
    every read of /proc, running out of descriptors or memory is raised.

    Called for most events, of tasks mostly gone by then: files.read is one
    os.open and one os.read (a name is at most 15 bytes and a newline), half
    what a file object costs for a live task, and less for a gone one."""
    raw = read(f"{proc}/{tgid}/task/{tid}/comm", None, False, COMM_READ)
    return None if raw is None else raw.rstrip(b"\n").decode("utf-8", "surrogateescape")


def wall_clock(time_ns: int) -> float:
    """The Unix time of a kernel CLOCK_MONOTONIC timestamp."""
    return time.time() - (time.monotonic_ns() - time_ns) / 1e9
