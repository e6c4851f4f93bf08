"""Limits and signals: every failure and every ending joins what was spawned.

Each run carries a random tag in its environment, which raw process
children, ``--run`` commands and verify-flags labs inherit: "nothing left
behind" is "no process with the tag", zombies included (a zombie's
``/proc/<pid>/environ`` is empty, so zombies are checked by pid too).
Every wait has a timeout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable

import pytest
from helpers import (
    TAG,
    as_uid,
    children_by_ppid,
    one_error_line,
    own_children,
    python,
    readline,
    tagged,
    tidscope,
    unused_uid,
)


def _nproc(uid: int) -> list[str]:
    """RLIMIT_NPROC=20 for ``uid``, a uid no other task has (so that the limit
    counts only what the test started): prlimit first, setpriv must exec
    python itself."""
    return ["prlimit", "--nproc=20", "--", *as_uid(uid)]


MAX_MAP_COUNT = "/proc/sys/vm/max_map_count"


def _until(what: Callable[[], object], timeout: float = 10.0) -> object:
    """Poll ``what()`` until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := what()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)
    return value


def _alive(pid: int) -> bool:
    """``pid`` exists, zombie or not."""
    return os.path.exists(f"/proc/{pid}")


def _uid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", errors="surrogateescape") as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# -- RLIMIT_NPROC --------------------------------------------------------------


@pytest.mark.root  # a uid of its own
@pytest.mark.parametrize("flag_set", ["thread", "process"])
def test_task_limit_fails_cleanly_and_leaves_no_task_of_nobody(flag_set: str) -> None:
    tag, uid = uuid.uuid4().hex, unused_uid()
    before = own_children()
    proc = tidscope("spawn", "-n", "50", "--flags", flag_set, prefix=_nproc(uid), env={TAG: tag})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "EAGAIN" in line and "RLIMIT_NPROC" in line and "lower -n" in line
    assert proc.stdout == ""
    assert [p for p in tagged(tag) if _uid(p) == uid] == []
    assert own_children() == before


@pytest.mark.root  # a uid of its own
@pytest.mark.parametrize("flag_set", ["THREAD", "PROCESS"])
def test_children_spawned_before_the_limit_are_joined_before_the_error(flag_set: str) -> None:
    """Inside the failing process, when the error arrives: some children
    had been spawned, and none of them is left, not even as a zombie."""
    out = python(
        f"""
        import json, os
        from tidscope.core import flags
        from tidscope.core.clone import Children, SpawnError
        me = os.getpid()
        try:
            with Children(50, flags.{flag_set}):
                raise SystemExit("the limit was not reached")
        except SpawnError as err:
            spawned, message = err.spawned, err.message
        tasks = sorted(int(t) for t in os.listdir("/proc/self/task"))
        with open(f"/proc/self/task/{{me}}/children") as f:
            kids = f.read().split()
        print(json.dumps(dict(spawned=spawned, message=message, tasks=tasks, me=me, kids=kids)))
        """,
        prefix=_nproc(unused_uid()),
    )
    assert 0 < out["spawned"] < 50, out
    assert "RLIMIT_NPROC" in out["message"]
    assert out["tasks"] == [out["me"]] and out["kids"] == []


# -- vm.max_map_count ------------------------------------------------------------

HOLDER = """
import sys
from tidscope.cli import main
import tidscope.cli.spawn, tidscope.core.clone  # loaded (and mapped) before the limit drops
with open("/proc/self/maps") as f:
    print(sum(1 for _ in f), flush=True)
sys.stdin.readline()
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.root  # lowers vm.max_map_count
@pytest.mark.machine_wide  # for every process on the machine: no other test runs meanwhile
def test_map_count_limit_names_vm_max_map_count_and_leaves_nothing() -> None:
    """Growsdown stacks take two mappings per child (the stack and the
    PROT_NONE page below it).  The sysctl is global: it is lowered only
    while this one spawn runs, to 100 mappings above what the process
    already has, and restored at once."""
    if not os.access(MAX_MAP_COUNT, os.W_OK):
        pytest.skip(f"{MAX_MAP_COUNT} cannot be written here")
    tag = uuid.uuid4().hex
    before = own_children()
    args = ["spawn", "-n", "400", "--stack-style", "growsdown"]
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, TAG: tag},
    )
    assert proc.stdin is not None and proc.stdout is not None
    with open(MAX_MAP_COUNT) as f:
        saved = f.read().strip()
    try:
        maps = int(readline(proc.stdout, proc=proc, seen="the holder's count of its mappings"))
        limit = maps + 100
        with open(MAX_MAP_COUNT, "w") as f:
            f.write(str(limit))
        proc.stdin.write("go\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=60)
    finally:
        with open(MAX_MAP_COUNT, "w") as f:
            f.write(saved)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 1, out + err
    (line,) = err.splitlines()
    assert line.startswith("tidscope spawn: cannot map 400 stacks") and "Traceback" not in err
    assert "ENOMEM" in line and f"vm.max_map_count={limit}" in line and "lower -n" in line
    assert out == ""
    assert tagged(tag) == [] and own_children() == before


# -- signals -----------------------------------------------------------------------

SIGNALS = [signal.SIGHUP, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT]


def _start(*args: str, tag: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tidscope", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, TAG: tag},
        cwd="/",
    )


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _sleepers(tag: str) -> list[int]:
    return [p for p in tagged(tag) if _comm(p) == "sleep"]


@pytest.mark.parametrize("flag_set", ["thread", "process"])
@pytest.mark.parametrize(
    "cmd",
    [
        pytest.param("sleep 30", id="exec"),
        pytest.param("sleep 30; exit 0", id="fork"),
        pytest.param("sleep 30 & sleep 30; wait", id="background", marks=pytest.mark.slow),
    ],
)
@pytest.mark.parametrize("signo", SIGNALS, ids=[s.name for s in SIGNALS])
def test_signal_during_run_ends_the_command_too(
    signo: signal.Signals, cmd: str, flag_set: str
) -> None:
    """Only tidscope is signalled (not its process group): CMD, what CMD
    started and the raw children must all be gone when it exits 128+N."""
    tag = uuid.uuid4().hex
    before = own_children()
    proc = _start("spawn", "-n", "3", "--flags", flag_set, "--run", cmd, tag=tag)
    try:
        want = 2 if "&" in cmd else 1
        _until(lambda: len(_sleepers(tag)) == want)
        started = [p for p in tagged(tag) if p != proc.pid]  # sh, sleep(s), raw processes
        sleepers = _sleepers(tag)
        assert len(sleepers) == want and set(sleepers) <= set(started)
        assert len(started) >= len(sleepers) + (3 if flag_set == "process" else 0)
        proc.send_signal(signo)
        assert proc.wait(15) == 128 + signo
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.stderr is not None and proc.stdout is not None
    assert proc.stderr.read() == ""
    assert len(proc.stdout.read().splitlines()) == 4  # the classic lines, then CMD ran
    assert tagged(tag) == []
    assert [p for p in started if _alive(p)] == []  # zombies included
    assert own_children() == before


@pytest.mark.parametrize("signo", [signal.SIGHUP, signal.SIGQUIT], ids=["SIGHUP", "SIGQUIT"])
def test_signal_during_verify_flags_reaps_every_lab(signo: signal.Signals) -> None:
    """SIGHUP or SIGQUIT while a lab is running (SIGINT and SIGTERM:
    test_verify_flags.py)."""
    tag = uuid.uuid4().hex
    before = own_children()
    proc = _start("verify-flags", "--format", "json", tag=tag)
    try:
        labs = _until(lambda: children_by_ppid(proc.pid), timeout=30)
        proc.send_signal(signo)
        assert proc.wait(15) == 128 + signo
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    assert isinstance(labs, list) and [p for p in labs if _alive(p)] == []
    assert tagged(tag) == [] and own_children() == before


@pytest.mark.root  # a uid of its own
def test_nobody_is_not_stopped_by_the_limit_it_does_not_reach() -> None:
    """The control for the limit tests: the same spawn as nobody, under the
    same prlimit, with fewer children than the limit, succeeds."""
    proc = tidscope("spawn", "-n", "5", "--flags", "process", prefix=_nproc(unused_uid()))
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 6
