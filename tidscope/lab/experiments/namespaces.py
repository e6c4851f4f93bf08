"""Experiments for the namespace flags (and clone3's NEWTIME).

Each compares /proc/<child>/ns/<type> with ours and, where a namespace has a
visible effect, makes the child change something we look for.  Labs run
these in their own namespaces, so no change reaches the host.
"""

from __future__ import annotations

import errno
import os
import secrets
import signal
import socket
import struct

from tidscope.core.clone import Op, result, scratch
from tidscope.core.syscalls import syscall
from tidscope.lab import runner as lab
from tidscope.lab.experiments.base import Run, Unread, child, effect, failed, ours
from tidscope.lab.probes import child_pid, new_ns, pid, read_file, spawn_one
from tidscope.lab.runner import MNT_DETACH, cstr, need

SIGCHLD = int(signal.SIGCHLD)
AT_FDCWD = -100
IPC_CREAT, IPC_RMID, IPC_STAT = 0o1000, 0, 2


def probe_newuts(value: int) -> Run:
    name = f"tidscope-{pid()}"
    with spawn_one(
        value, [Op("sethostname", (scratch(0), len(name)))], scratch=name.encode()
    ) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "uts")
        host = ours("uname", lambda: os.uname().nodename)
    got = child(rep, 0, "sethostname")
    return Run(
        {"inode": new, "hostname": effect(lambda _, h: h != name, got, host)},
        {**inodes, "our_hostname": host, "child_set": name},
    )


def probe_newpid(value: int) -> Run:
    with spawn_one(value, [Op("getpid")]) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(rep.tid, "pid")
    got = child(rep, 0, "getpid")
    return Run(
        {"inode": new, "pid1": effect(lambda p: p == 1, got)},
        {**inodes, "child_getpid": got, "pid_here": rep.tid},
    )


def _mounted(path: str) -> bool:
    """Is something mounted on ``path`` in our mount namespace?"""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError as err:
        raise OSError(err.errno, err.strerror, f"stat {path}") from None


def probe_newns(value: int) -> Run:
    where = lab.make_dir("tidscope-ns-")
    data = b"none\0\0\0\0tmpfs\0\0\0" + where.encode() + b"\0"
    try:
        with spawn_one(
            value, [Op("mount", (scratch(0), scratch(16), scratch(8), 0, 0))], scratch=data
        ) as ch:
            rep = ch.report(0)
            new, inodes = new_ns(child_pid(ch, rep), "mnt")
            seen = ours(f"stat {where}", _mounted, where)  # names its step itself
    finally:
        if _mounted(where):
            syscall("umount2", cstr(where), MNT_DETACH)
        need("rmdir", os.rmdir, where)
    got = child(rep, 0, "mount")
    return Run(
        {"inode": new, "mount": effect(lambda _, s: not s, got, seen)},
        {**inodes, "child_mount": got, "seen_by_us": seen},
    )


def _queue_here(qid: int) -> bool | Unread:
    """Does message queue ``qid`` exist in our IPC namespace (removing it)?"""
    try:
        syscall("msgctl", qid, IPC_STAT, bytearray(256))
    except OSError as err:
        if err.errno in (errno.EINVAL, errno.EIDRM):
            return False
        return failed("msgctl IPC_STAT", err)
    syscall("msgctl", qid, IPC_RMID, 0)
    return True


def probe_newipc(value: int) -> Run:
    with spawn_one(value, [Op("msgget", (0, 0o600 | IPC_CREAT))]) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "ipc")
        qid = child(rep, 0, "msgget")
        seen = qid if isinstance(qid, Unread) else _queue_here(qid)
    return Run(
        {"inode": new, "queue": effect(lambda s: not s, seen)},
        {**inodes, "child_msgget": qid, "seen_by_us": seen},
    )


def probe_newnet(value: int) -> Run:
    name = b"\0tidscope-" + secrets.token_hex(8).encode()
    addr = struct.pack("H", socket.AF_UNIX) + name
    prog = [
        Op("socket", (socket.AF_UNIX, socket.SOCK_DGRAM, 0)),
        Op("bind", (result(0), scratch(0), len(addr))),
        Op("close", (result(0),)),
    ]
    with need("socket", socket.socket, socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        need("bind", sock.bind, name)  # abstract names are per network namespace
        with spawn_one(value, prog, scratch=addr) as ch:
            rep = ch.report(0)
            new, inodes = new_ns(child_pid(ch, rep), "net")
    made = child(rep, 0, "socket")
    bound = rep.results[1]
    free: bool | Unread = bound == 0
    if not isinstance(made, Unread) and bound < 0 and bound != -errno.EADDRINUSE:
        free = failed("child bind", -bound)
    return Run(
        {"inode": new, "socket": effect(lambda _, f: f, made, free)},
        {**inodes, "child_socket": made, "child_bind_same_abstract_name": bound},
    )


def probe_newuser(value: int) -> Run:
    uid = syscall("getuid")
    with spawn_one(value, [Op("getuid")]) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "user")
    got = child(rep, 0, "getuid")
    return Run(
        {"inode": new, "uid": effect(lambda u: u != uid, got)},
        {**inodes, "child_getuid": got, "our_uid": uid},
    )


def probe_newcgroup(value: int) -> Run:
    prog = [
        Op("openat", (AT_FDCWD, scratch(0), os.O_RDONLY)),
        Op("read", (result(0), scratch(32), 220)),
        Op("close", (result(0),)),
    ]
    with spawn_one(value, prog, scratch=b"/proc/self/cgroup\0") as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "cgroup")
    opened, got = child(rep, 0, "openat"), child(rep, 1, "read")
    theirs = rep.scratch[32 : 32 + max(rep.results[1], 0)].decode(errors="replace")
    mine = effect(lambda d: d.decode(errors="replace")[:220], read_file("/proc/self/cgroup"))

    def rooted(_: int, __: int, m: str) -> bool | None:
        # At the root of the hierarchy a new namespace's view looks the same.
        at_root = all(line.rpartition(":")[2] == "/" for line in m.splitlines())
        return None if at_root else theirs != m

    return Run(
        {"inode": new, "view": effect(rooted, opened, got, mine)},
        {**inodes, "child_view": theirs, "our_view": mine},
    )


def probe_newtime(value: int) -> Run:
    with spawn_one(value, clone3=True, exit_signal=SIGCHLD) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "time")
    return Run(
        {"inode": new}, {**inodes, "note": "a new time namespace starts with zero clock offsets"}
    )
