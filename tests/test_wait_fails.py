"""A read or a wait that fails leaves nothing behind (issue 21, breaks 9 and 10a).

- ``watch --run`` with read(2) failing (EACCES, a seccomp filter installed
  after Python started: CMD's child inherits it and cannot read its start
  signal either) hung for ever: its child sat in its exit stop, which
  SIGKILL does not end, and the end path found it only through /proc.  It
  must end, naming the failed read.
- wait4(2) failing with ECHILD for a child still there (strace injects the
  fault into the first calls, then the calls work): share, spawn,
  verify-flags and ``watch --run`` left that child a zombie, ``watch --run``
  exited 0 with no events, ``spawn --run`` said a bare ECHILD.  Each child
  must be reaped (the wait is tried again while the kernel's pidfd says the
  child is there), and watch must say that its wait failed.

Each command runs under a subreaper of the test's own, which lists what
came back to it once the command ended: nothing may.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

import pytest
from helpers import TAG, run, tagged

ME = [sys.executable, "-m", "tidscope"]
SECCOMP = os.path.join(os.path.dirname(__file__), "seccomp.py")

# A subreaper that runs its arguments, then prints what they left it: the
# orphans of the run (zombies or live), each killed and reaped after.
LEFT = """
import ctypes, json, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=120)
time.sleep(0.2)
left = []
for tid in os.listdir("/proc/self/task"):
    with open(f"/proc/self/task/{tid}/children") as f:
        left += [int(p) for p in f.read().split()]
seen = []
for pid in left:
    try:
        with open(f"/proc/{pid}/stat") as f:
            seen.append(f.read().rpartition(")")[0] + ")")
    except OSError:
        pass
    try:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except OSError:
        pass
print(json.dumps({"rc": proc.returncode, "out": proc.stdout, "err": proc.stderr, "left": seen}))
"""


def _left_over(*args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = run([sys.executable, "-c", LEFT, *args], timeout=150, env=env)
    assert proc.returncode == 0, proc.stderr
    got: dict[str, Any] = json.loads(proc.stdout)
    return got


def test_watch_run_with_read_failing_ends_and_names_the_read() -> None:
    tag = os.urandom(8).hex()
    got = _left_over(
        sys.executable, SECCOMP, "--deny", "read", "--errno", "EACCES", "--",
        *("watch", "--run", "true"),
        env={TAG: tag},
    )  # fmt: skip
    assert got["rc"] == 1, got
    assert "Traceback" not in got["err"], got["err"]
    line = got["err"].strip()
    assert "\n" not in line and "read: EACCES" in line, got["err"]
    assert "cannot execute" not in line, line  # the exec did not fail: our read did
    assert got["left"] == [], got
    assert tagged(tag) == []


STRACE = shutil.which("strace")
needs_strace = pytest.mark.skipif(STRACE is None, reason="needs strace (to inject a failure)")

# The first two wait4 calls of tidscope's main thread fail with ECHILD.
ECHILD = ["strace", "-qq", "-o", "/dev/null", "-e", "trace=wait4"]
ECHILD += ["-e", "inject=wait4:error=ECHILD:when=1..2"]


@needs_strace
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(("spawn", "-n", "2", "--flags", "process"), id="spawn"),
        pytest.param(("spawn", "-n", "2", "--run", "exit 3"), id="spawn-run"),
        pytest.param(("verify-flags", "VM", "PARENT", "--format", "json"), id="verify-flags"),
        pytest.param(("share", "--all", "1"), id="share"),
    ],
)
def test_a_failing_wait_leaves_no_child_unreaped(args: tuple[str, ...]) -> None:
    got = _left_over(*ECHILD, *ME, *args)
    assert got["left"] == [], got
    assert "Traceback" not in got["err"], got["err"]
    if args[0] == "spawn" and "--run" in args:
        assert got["rc"] == 3, got  # CMD's own status, once the wait worked
    elif args[0] == "verify-flags":
        rows = json.loads(got["out"])
        assert [r["verdict"] for r in rows] == ["pass", "pass"], got
    else:
        assert got["rc"] == 0, got


@needs_strace
def test_watch_run_with_a_failing_wait_says_so_and_reaps() -> None:
    """Old: the first ECHILD was taken for "no tracee left": no event, exit
    0, and CMD left a zombie."""
    got = _left_over(*ECHILD, *ME, "watch", "--run", "true")
    assert got["left"] == [], got
    assert got["rc"] == 1, got
    lines = got["err"].splitlines()
    assert len(lines) == 1 and "Traceback" not in got["err"], got["err"]
    assert "wait4: ECHILD" in lines[0] and "not reaped" in lines[0], lines


# -- wait4 refused (round four): named, with the fix, and nothing left ------------

REFUSED_WAIT = [
    pytest.param(("spawn", "-n", "1", "--run", "true"), id="spawn-run"),
    pytest.param(("spawn", "-n", "2", "--flags", "process"), id="spawn-process"),
    pytest.param(("spawn", "-n", "2", "--flags", "process", "--run", "exit 3"), id="both"),
    pytest.param(("share", "1"), id="share"),
]


def _refused_wait_said(got: dict[str, Any], errno_name: str) -> None:
    assert got["rc"] == 1, got
    lines = got["err"].splitlines()
    assert len(lines) == 1 and "Traceback" not in got["err"], got["err"]
    assert lines[0].startswith(f"tidscope {got['cmd']}: wait4: {errno_name} ("), lines
    assert "allow wait4" in lines[0], lines
    assert got["left"] == [], got


@pytest.mark.parametrize("errno_name", ["EPERM", "EIO"])
@pytest.mark.parametrize("args", REFUSED_WAIT)
def test_a_refused_wait_is_named_and_leaves_nothing(args: tuple[str, ...], errno_name: str) -> None:
    """wait4 denied (a seccomp filter): it was a bare "tidscope spawn: EPERM
    (...)" with CMD's sh left a zombie, and share exited 0 with its
    reference zombie unreaped.  One line naming wait4 and the fix, exit 1,
    every child reaped (through waitid(2))."""
    deny = [sys.executable, SECCOMP, "--deny", "wait4", "--errno", errno_name, "--"]
    got = _left_over(*deny, *args)
    _refused_wait_said({**got, "cmd": args[0]}, errno_name)


@needs_strace
def test_an_injected_wait_fault_is_named_and_leaves_nothing() -> None:
    """strace's inject=wait4:error=EFAULT on every call: likewise."""
    fault = ["strace", "-qq", "-f", "-o", "/dev/null", "-e", "trace=wait4"]
    fault += ["-e", "inject=wait4:error=EFAULT"]
    got = _left_over(*fault, *ME, "spawn", "-n", "1", "--flags", "process", "--run", "true")
    _refused_wait_said({**got, "cmd": "spawn"}, "EFAULT")
