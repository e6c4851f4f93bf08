"""verify-flags killed mid-run: no lab outlives tidscope.

SIGKILL cannot be caught, so tidscope cannot reap: its labs must die with it
(PR_SET_PDEATHSIG), and within a few seconds no task carrying the run's tag
may remain, zombies included.  SIGQUIT is a terminating signal like SIGTERM:
tidscope reaps every lab itself and exits 131.

The test process is the child subreaper meanwhile: what tidscope leaves
comes back to us instead of to pid 1 (which here never reaps), so a lab
that died is reaped by us and one that did not is still ours to see.
A lab left running ends by itself within a second, SIGKILLed tidscope or
not; so the ``stopped`` case first stops tidscope and then every lab
(SIGSTOP): a stopped lab can only be ended by a SIGKILL, which is what its
PR_SET_PDEATHSIG must send when tidscope dies.  It stops them only once a
lab has a raw child of its own, that is, once that lab is in its experiment
and long past the prctl it makes first (a lab stopped before it, which would
check its parent right after, is not what is tested).  --invalid labs make
threads and refused clones only, so they are tested running.

Each run has a TMPDIR of its own, which must be empty afterwards (whatever
a lab would make on the host's /tmp would be there).  Standard error goes to a file: a
pipe would stay open as long as any lab holding it lives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
from helpers import (
    TAG,
    adopting,
    children_by_ppid,
    end_tagged,
    reap_zombie_children,
    tagged,
)

from tidscope.core.reaper import children  # cheap: short windows are caught

RUNS = [[], ["--invalid"]]
IDS = ["experiments", "invalid"]
ATTEMPTS = 20  # --invalid may end before a poll sees one of its short-lived labs
WITHIN = 5.0  # seconds for labs to die once tidscope was SIGKILLed


def _alive(pid: int) -> bool:
    """``pid`` exists, zombie or not."""
    return os.path.exists(f"/proc/{pid}")


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", errors="surrogateescape") as f:
            return f.read().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def _ppid(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", errors="surrogateescape") as f:
            return int(f.read().rpartition(")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


def _stopped_in_experiment(lab: int) -> bool:
    """Stop ``lab``; keep it stopped if it is in its experiment (it has a
    raw child, so it is long past the PR_SET_PDEATHSIG it makes first),
    else let it go on.  (Stopping first and looking then catches windows
    that looking first under load would miss.)"""
    try:
        os.kill(lab, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 30  # a stop lands when the lab next runs, however busy
    while _state(lab) not in ("T", "Z", "") and time.monotonic() < deadline:
        time.sleep(0.0005)
    if _state(lab) == "T" and children(lab):
        return True
    with contextlib.suppress(ProcessLookupError):
        os.kill(lab, signal.SIGCONT)
    return False


def _start_with_a_lab(
    args: list[str], tag: str, err: int, tmp: str, stop: bool = False
) -> tuple[subprocess.Popen[bytes], set[int]]:
    """verify-flags ARGS, once a lab (a tagged task other than tidscope) runs;
    with ``stop``, once a lab has a raw process child, and then tidscope and
    such labs are stopped (their raw children are not: one stopped before its
    own PR_SET_PDEATHSIG op would stay, and what is tested is the lab's)."""
    for _ in range(ATTEMPTS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tidscope", "verify-flags", *args, "--format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, TAG: tag, "TMPDIR": tmp},
            cwd="/",
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            labs = children(proc.pid)
            if stop:
                labs = {lab for lab in labs if _stopped_in_experiment(lab)}
                if labs:
                    os.kill(proc.pid, signal.SIGSTOP)  # no new lab from now on
            if labs and proc.poll() is None:
                return proc, labs
            time.sleep(0.001)
        proc.kill()
        proc.wait(10)
    pytest.fail(f"no lab of verify-flags {' '.join(args)} was seen in {ATTEMPTS} runs")


@pytest.mark.parametrize(
    ("args", "stopped"),
    [([], False), ([], True), (["--invalid"], False)],
    ids=["experiments-running", "experiments-stopped", "invalid-running"],
)
def test_sigkill_mid_run_leaves_no_lab(args: list[str], stopped: bool) -> None:
    tag = uuid.uuid4().hex
    with (
        adopting() as before,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="verify-kill-") as tmp,
    ):
        try:
            proc, labs = _start_with_a_lab(args, tag, err.fileno(), tmp, stopped)
            proc.kill()
            assert proc.wait(15) == -signal.SIGKILL
            deadline = time.monotonic() + WITHIN
            while True:
                adopted = reap_zombie_children(before)  # the dead reaped, the living left
                left = sorted(set(tagged(tag)) | {p for p in labs if _alive(p)} | set(adopted))
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert left == [], f"{WITHIN:g}s after SIGKILL, still there: {left} (labs: {labs})"
            # A raw child dying with its lab may be reparented to us a little
            # later, as a zombie: reaped, it is no more; a live one would be.
            assert reap_zombie_children(before) == []
            assert os.listdir(tmp) == []  # what labs make in TMPDIR dies with them too
        finally:
            end_tagged(tag, before)


@pytest.mark.parametrize("args", RUNS, ids=IDS)
def test_sigquit_mid_run_exits_131_and_reaps_every_lab(args: list[str]) -> None:
    tag = uuid.uuid4().hex
    with (
        adopting() as before,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="verify-kill-") as tmp,
    ):
        try:
            proc, labs = _start_with_a_lab(args, tag, err.fileno(), tmp)
            proc.send_signal(signal.SIGQUIT)
            assert proc.wait(15) == 128 + signal.SIGQUIT
            err.seek(0)
            assert b"Traceback" not in err.read()
            # tidscope reaped everything before it exited: nothing is left
            # alive, and nothing (not even a zombie) came back to us.
            assert tagged(tag) == []
            assert [p for p in labs if _alive(p)] == []
            assert set(children_by_ppid(os.getpid())) <= before
            assert os.listdir(tmp) == []
        finally:
            end_tagged(tag, before)
