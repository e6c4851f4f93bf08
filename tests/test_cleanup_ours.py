"""Every cleanup kills only what is provably tidscope's (issue 20, part 1).

Each command runs under a preload library whose getpid, getppid and gettid
say the pid of a holder process of the test's own, which has children of
its own (the decoys, ``sleep``): a cleanup that took libc's word for who we
are would signal the holder's children ("the children of the pid I believe
I have").  The decoys must survive every path: the normal end of ``watch
--run`` and ``spawn --run``, Ctrl-C (SIGINT) and SIGTERM while their
command runs, verify-flags' labs (and SIGTERM while a lab runs).  What the
command itself started must still be gone (tagged, see helpers.tagged).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from helpers import TAG, decoys, killed, liar_library, readline, tagged, wait_for

TIMEOUT = 120


@pytest.fixture(scope="module")
def liar(tmp_path_factory: pytest.TempPathFactory) -> str:
    return liar_library(str(tmp_path_factory.mktemp("liar")))


@dataclass
class Decoys:
    holder: int  # the pid the preload library says is ours
    kids: list[int]  # its children: not tidscope's


@pytest.fixture
def decoy() -> Iterator[Decoys]:
    with decoys() as info:
        yield Decoys(info["holder"], info["kids"])


def _env(liar: str, holder: int, tag: str) -> dict[str, str]:
    return {**os.environ, "LD_PRELOAD": liar, "LIAR_PID": str(holder), TAG: tag}


def _lies(liar: str, holder: int) -> None:
    """The library does lie: Python's os.getpid() says the holder's pid."""
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid(), os.getppid())"],
        capture_output=True,
        text=True,
        env=_env(liar, holder, "x"),
        timeout=60,
        check=True,
    ).stdout.split()
    assert out == [str(holder), str(holder)]


def _tidscope(liar: str, decoy: Decoys, tag: str, *args: str) -> subprocess.CompletedProcess[str]:
    """tidscope ARGS run to its end under the lying libc."""
    return subprocess.run(
        [sys.executable, "-m", "tidscope", *args],
        capture_output=True,
        text=True,
        env=_env(liar, decoy.holder, tag),
        cwd="/",
        timeout=TIMEOUT,
        check=False,
    )


def _started(liar: str, decoy: Decoys, tag: str, *args: str) -> subprocess.Popen[str]:
    """tidscope ARGS started under the lying libc, its stderr a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "tidscope", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(liar, decoy.holder, tag),
        cwd="/",
    )


def _signalled(proc: subprocess.Popen[str], signo: int) -> int:
    """``proc`` sent ``signo`` and waited for (killed, and failed, past the
    deadline); its exit status."""
    if proc.poll() is None:
        proc.send_signal(signo)
    try:
        return proc.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        raise AssertionError(f"tidscope did not end within {TIMEOUT} s of signal {signo}") from None


def _gone(tag: str) -> None:
    wait_for(f"what the run tagged {tag} started is gone", lambda: not tagged(tag), 30)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("watch", "--run", "sleep 0.1", "--format", "json"), id="watch-run"),
        pytest.param(("spawn", "-n", "2", "--run", "sleep 0.1 & sleep 0.1"), id="spawn-run"),
        pytest.param(
            ("spawn", "-n", "2", "--flags", "process", "--format", "json", "--run", "true"),
            id="spawn-run-processes",
        ),
    ],
)
def test_a_normal_end_spares_the_children_of_the_pid_libc_names(
    liar: str, decoy: Decoys, args: tuple[str, ...]
) -> None:
    _lies(liar, decoy.holder)
    tag = uuid.uuid4().hex
    proc = _tidscope(liar, decoy, tag, *args)
    assert killed(decoy.kids) == [], f"decoys killed; stderr: {proc.stderr}"
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    if "--flags" in args:  # the PDEATHSIG guard expects the kernel's pid, not libc's
        rows = json.loads(proc.stdout)
        assert all(not r.get("errors") and r["agrees"] for r in rows), rows
    _gone(tag)


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
@pytest.mark.parametrize("command", ["watch", "spawn"])
def test_a_signal_spares_the_children_of_the_pid_libc_names(
    liar: str, decoy: Decoys, command: str, signo: int
) -> None:
    tag = uuid.uuid4().hex
    cmd = "sleep 600 & echo ready >&2; sleep 600"
    args = ["spawn", "-n", "1", "--run", cmd] if command == "spawn" else ["watch", "--run", cmd]
    proc = _started(liar, decoy, tag, *args)
    try:
        assert proc.stderr is not None
        line = readline(proc.stderr, timeout=TIMEOUT, proc=proc, seen="CMD's ready")
        assert line == "ready\n", line
    finally:
        code = _signalled(proc, signo)
    assert killed(decoy.kids) == [], "decoys killed"
    assert code == 128 + signo, proc.stderr.read() if proc.stderr else ""
    _gone(tag)


FLAGS = ("VM", "PARENT", "THREAD", "PIDFD", "NEWPID", "NEWUTS", "INTO_CGROUP")


def test_verify_flags_labs_spare_them_and_judge_alike(liar: str, decoy: Decoys) -> None:
    """The labs' PDEATHSIG guards and reaping use the kernel's pid: every
    experiment passes as it does without the preload."""
    tag = uuid.uuid4().hex
    proc = _tidscope(liar, decoy, tag, "verify-flags", *FLAGS, "--format", "json")
    assert killed(decoy.kids) == [], f"decoys killed; stderr: {proc.stderr}"
    rows = json.loads(proc.stdout)
    verdicts = {r["flag"]: r["verdict"] for r in rows}
    assert verdicts == {f"CLONE_{f}": "pass" for f in FLAGS}, proc.stdout
    _gone(tag)


def test_verify_flags_ended_by_sigterm_spares_them(liar: str, decoy: Decoys) -> None:
    tag = uuid.uuid4().hex
    proc = _started(liar, decoy, tag, "verify-flags", "--format", "json")
    try:
        # a lab (a second tagged process) runs: the signal comes mid-run
        wait_for("a lab", lambda: len(tagged(tag)) > 1 or proc.poll() is not None, TIMEOUT)
    finally:
        code = _signalled(proc, signal.SIGTERM)
    assert killed(decoy.kids) == [], "decoys killed"
    assert code in (0, 128 + signal.SIGTERM), proc.stderr.read() if proc.stderr else ""
    _gone(tag)
