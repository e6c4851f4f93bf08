"""Experiments for the clone3-only flags CLEAR_SIGHAND and INTO_CGROUP."""

from __future__ import annotations

import os
import secrets
import signal
import struct

from tidscope import flags, lab
from tidscope.clone import Op, scratch
from tidscope.experiments.base import Run, Unobservable, child, effect, need, negate, ours
from tidscope.probes import child_pid, signal_bit, spawn_one, status

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


def _cgroup2() -> tuple[str, str]:
    """(cgroup2 mount point, our path in it)."""
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split() for ln in f]
    point = next((m[4] for m in mounts if m[m.index("-") + 1] == "cgroup2"), None)
    if point is None:
        raise Unobservable("no cgroup2 hierarchy is mounted")
    with open("/proc/self/cgroup") as f:
        path = next(ln.strip().partition("::")[2] for ln in f if ln.startswith("0::"))
    return point, path


def _cgroup_of(tid: int) -> str:
    with open(f"/proc/{tid}/cgroup") as f:
        return next(ln.strip().partition("::")[2] for ln in f if ln.startswith("0::"))


def _listed(procs: str, tid: int) -> bool:
    with open(procs) as f:
        return str(tid) in f.read().split()


def probe_into_cgroup(value: int) -> Run:
    point, path = need("read /proc/self/mountinfo", _cgroup2)
    leaf = f"{path.rstrip('/')}/tidscope-{secrets.token_hex(6)}"
    lab.register("cgroup", point + leaf)
    try:
        os.mkdir(point + leaf)
    except OSError as err:
        raise Unobservable(f"cannot create cgroup {leaf}: {os.strerror(err.errno or 0)}") from None
    try:
        fd = need(f"open {point}{leaf}", os.open, point + leaf, os.O_RDONLY | os.O_DIRECTORY)
        try:
            into = flags.has(value, "INTO_CGROUP")
            with spawn_one(
                value, clone3=True, exit_signal=SIGCHLD, cgroup_fd=fd if into else -1
            ) as ch:
                rep = ch.report(0)
                where = ours(f"read /proc/{rep.tid}/cgroup", _cgroup_of, rep.tid)
                procs = f"{point}{leaf}/cgroup.procs"
                listed = ours(f"read {procs}", _listed, procs, rep.tid)
        finally:
            os.close(fd)
    finally:
        lab.remove("cgroup", point + leaf)
    return Run(
        {"cgroup": effect(lambda w: w == leaf, where), "procs": listed},
        {"child_cgroup": where, "target": leaf},
    )
