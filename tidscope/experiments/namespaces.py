"""Experiments for the namespace flags (and clone3's NEWTIME).

Each compares /proc/<child>/ns/<type> with ours and, where a namespace has a
visible effect, makes the child change something we look for.  Labs run
these in their own namespaces, so no change reaches the host.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct
import tempfile

from tidscope.clone import Op, result, scratch
from tidscope.experiments.base import Run, if_ran
from tidscope.lab import cstr, sys
from tidscope.probes import child_pid, new_ns, spawn_one

SIGCHLD = int(signal.SIGCHLD)
AT_FDCWD = -100
MNT_DETACH = 2
IPC_CREAT, IPC_RMID, IPC_STAT = 0o1000, 0, 2


def probe_newuts(value: int) -> Run:
    name = f"tidscope-{os.getpid()}"
    with spawn_one(
        value, [Op("sethostname", (scratch(0), len(name)))], scratch=name.encode()
    ) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "uts")
        ours = os.uname().nodename
    return Run(
        {"inode": new, "hostname": if_ran(rep.results[0], ours != name)},
        {**inodes, "our_hostname": ours, "child_set": name},
    )


def probe_newpid(value: int) -> Run:
    with spawn_one(value, [Op("getpid")]) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(rep.tid, "pid")
    return Run(
        {"inode": new, "pid1": rep.results[0] == 1},
        {**inodes, "child_getpid": rep.results[0], "pid_here": rep.tid},
    )


MNT_DETACH = 2


def probe_newns(value: int) -> Run:
    where = tempfile.mkdtemp(prefix="tidscope-ns-")
    data = b"none\0\0\0\0tmpfs\0\0\0" + where.encode() + b"\0"
    try:
        with spawn_one(
            value, [Op("mount", (scratch(0), scratch(16), scratch(8), 0, 0))], scratch=data
        ) as ch:
            rep = ch.report(0)
            new, inodes = new_ns(child_pid(ch, rep), "mnt")
            seen = os.path.ismount(where)
    finally:
        if os.path.ismount(where):
            sys("umount2", cstr(where), MNT_DETACH)
        os.rmdir(where)
    return Run(
        {"inode": new, "mount": if_ran(rep.results[0], not seen)},
        {**inodes, "child_mount": rep.results[0], "seen_by_us": seen},
    )


def probe_newipc(value: int) -> Run:
    with spawn_one(value, [Op("msgget", (0, 0o600 | IPC_CREAT))]) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "ipc")
        qid = rep.results[0]
        try:
            sys("msgctl", qid, IPC_STAT, bytearray(256))
            seen = True
            sys("msgctl", qid, IPC_RMID, 0)
        except OSError:
            seen = False
    return Run(
        {"inode": new, "queue": if_ran(qid, not seen)},
        {**inodes, "child_msgget": qid, "seen_by_us": seen},
    )


def probe_newnet(value: int) -> Run:
    name = b"\0tidscope-" + str(os.getpid()).encode()
    addr = struct.pack("H", socket.AF_UNIX) + name
    prog = [
        Op("socket", (socket.AF_UNIX, socket.SOCK_DGRAM, 0)),
        Op("bind", (result(0), scratch(0), len(addr))),
        Op("close", (result(0),)),
    ]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ours:
        ours.bind(name)  # abstract names are per network namespace
        with spawn_one(value, prog, scratch=addr) as ch:
            rep = ch.report(0)
            new, inodes = new_ns(child_pid(ch, rep), "net")
    bound = rep.results[1]
    free = True if bound == 0 else False if bound == -errno.EADDRINUSE else None
    return Run({"inode": new, "socket": free}, {**inodes, "child_bind_same_abstract_name": bound})


def probe_newuser(value: int) -> Run:
    with spawn_one(value, [Op("getuid")]) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "user")
    return Run(
        {"inode": new, "uid": rep.results[0] != os.getuid()},
        {**inodes, "child_getuid": rep.results[0], "our_uid": os.getuid()},
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
    theirs = rep.scratch[32 : 32 + max(rep.results[1], 0)].decode(errors="replace")
    with open("/proc/self/cgroup") as f:
        mine = f.read()[:220]
    at_root = all(line.rpartition(":")[2] == "/" for line in mine.splitlines())
    rooted = None if at_root or rep.results[1] < 0 else theirs != mine
    return Run({"inode": new, "view": rooted}, {**inodes, "child_view": theirs, "our_view": mine})


def probe_newtime(value: int) -> Run:
    with spawn_one(value, clone3=True, exit_signal=SIGCHLD) as ch:
        rep = ch.report(0)
        new, inodes = new_ns(child_pid(ch, rep), "time")
    return Run(
        {"inode": new}, {**inodes, "note": "a new time namespace starts with zero clock offsets"}
    )
