"""Experiments for the clone3-only flags CLEAR_SIGHAND and INTO_CGROUP."""

from __future__ import annotations

import os
import secrets
import signal
import struct

from tidscope.core import flags
from tidscope.core.clone import Op, scratch
from tidscope.errors import describe
from tidscope.lab import runner as lab
from tidscope.lab.experiments.base import Run, Unobservable, child, effect, negate
from tidscope.lab.probes import child_pid, need_file, read_file, signal_bit, spawn_one, status
from tidscope.lab.runner import need

SIGCHLD = int(signal.SIGCHLD)
SIGUSR2 = int(signal.SIGUSR2)


def probe_clear_sighand(value: int) -> Run:
    need("rt_sigaction", signal.signal, SIGUSR2, lambda signo, frame: None)
    try:
        prog = [Op("rt_sigaction", (SIGUSR2, 0, scratch(0), 8))]
        with spawn_one(value, prog, clone3=True, exit_signal=SIGCHLD) as ch:
            rep = ch.report(0)
            caught = signal_bit(status(child_pid(ch, rep)), "SigCgt", SIGUSR2)
    finally:
        need("rt_sigaction", signal.signal, SIGUSR2, signal.SIG_DFL)
    (handler,) = struct.unpack("Q", rep.scratch[:8])
    got = child(rep, 0, "rt_sigaction")
    return Run(
        {"sigcgt": negate(caught), "sigaction": effect(lambda _: handler == 0, got)},
        {"child_SigCgt_has_SIGUSR2": caught, "child_handler": hex(handler)},
    )


def _cgroup_path(data: bytes) -> str:
    """The cgroup2 path in a /proc/<pid>/cgroup file."""
    for line in data.decode(errors="replace").splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    raise Unobservable("no cgroup2 hierarchy is mounted")


def _cgroup2() -> tuple[str, str]:
    """(cgroup2 mount point, our path in it)."""
    mounts = [ln.split() for ln in need_file("/proc/self/mountinfo", 1 << 20).decode().splitlines()]
    point = next((m[4] for m in mounts if "-" in m and m[m.index("-") + 1] == "cgroup2"), None)
    if point is None:
        raise Unobservable("no cgroup2 hierarchy is mounted")
    return point, _cgroup_path(need_file("/proc/self/cgroup"))


def _listed(data: bytes, tid: int) -> bool:
    return str(tid).encode() in data.split()


def probe_into_cgroup(value: int) -> Run:
    point, path = _cgroup2()
    leaf = f"{path.rstrip('/')}/tidscope-lab-{secrets.token_hex(6)}"
    # tidscope removes it once the lab is gone; a janitor does if tidscope
    # is killed first (a cgroup is a directory of the one global tree).
    lab.register("cgroup", point + leaf)
    lab.guard(point + leaf)
    try:
        os.mkdir(point + leaf)
    except OSError as err:
        raise Unobservable(f"cannot create cgroup {leaf}: {describe(err, 'mkdir')}") from None
    try:
        fd = need(f"open {point}{leaf}", os.open, point + leaf, os.O_RDONLY | os.O_DIRECTORY)
        try:
            into = flags.has(value, "INTO_CGROUP")
            with spawn_one(
                value, clone3=True, exit_signal=SIGCHLD, cgroup_fd=fd if into else -1
            ) as ch:
                rep = ch.report(0)
                where = effect(_cgroup_path, read_file(f"/proc/{rep.tid}/cgroup"))
                listed = effect(_listed, read_file(f"{point}{leaf}/cgroup.procs"), rep.tid)
        finally:
            os.close(fd)
    finally:
        lab.remove("cgroup", point + leaf)
    return Run(
        {"cgroup": effect(lambda w: w == leaf, where), "procs": listed},
        {"child_cgroup": where, "target": leaf},
    )
