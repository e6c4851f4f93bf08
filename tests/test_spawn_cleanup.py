"""``tidscope spawn`` leaves nothing behind, however it ends.

Killed by SIGKILL, its process-like children die with it (PR_SET_PDEATHSIG);
ended by a terminating signal (SIGQUIT included), at any moment of
``--run``, everything is released, ended and reaped; a child exit signal
that would kill or stop tidscope is handled or refused.  Every run carries a
random tag in its environment (see helpers.tagged); every wait has a
timeout.
"""

from __future__ import annotations

import json
import os
import sys
import uuid

import pytest
from helpers import TAG, run, tagged

# Runs tidscope under a child subreaper, kills it with SIGKILL once it holds
# its children, then reaps what comes back: each orphan with its status, and
# (a failed test must not leave them either) SIGKILLs what is still there.
KILL9 = """
import json, os, signal, subprocess, sys, time
from tidscope import _rawclone
from tidscope.clone import SYSCALLS
WALL = 0x40000000
_rawclone.syscall(SYSCALLS['prctl'], 36, 1)  # PR_SET_CHILD_SUBREAPER
def kids_of(parent):
    found = []
    for name in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{name}/stat') as f:
                if int(f.read().rpartition(')')[2].split()[1]) == parent:
                    found.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return sorted(found)
proc = subprocess.Popen([sys.executable, '-m', 'tidscope', *sys.argv[1:]],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
hint = proc.stderr.readline()
kids = kids_of(proc.pid)
os.kill(proc.pid, signal.SIGKILL)
proc.wait(10)
status, deadline = {}, time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        pid, st = os.waitpid(-1, os.WNOHANG | WALL)
    except ChildProcessError:
        break
    if pid:
        status[pid] = os.WTERMSIG(st) if os.WIFSIGNALED(st) else -os.WEXITSTATUS(st)
    else:
        time.sleep(0.005)
left = kids_of(os.getpid())
for pid in left:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, WALL)
print(json.dumps(dict(hint=hint, kids=kids, status=status, left=left)))
"""


@pytest.mark.parametrize(
    ("count", "flag_set"),
    [(3, "process"), (50, "process"), (5, "VM,SIGCHLD"), (5, "VM"), (5, "process,NEWPID")],
)
def test_process_children_die_with_a_killed_tidscope(count: int, flag_set: str) -> None:
    """``kill -9`` tidscope while it holds raw child processes (which block
    every catchable signal): each dies of SIGKILL at once, none is left."""
    if "NEWPID" in flag_set and os.geteuid() != 0:
        pytest.skip("CLONE_NEWPID needs CAP_SYS_ADMIN")
    tag = uuid.uuid4().hex
    args = ["spawn", "-n", str(count), "--flags", flag_set, "--hold"]
    proc = run([sys.executable, "-c", KILL9, *args], env={TAG: tag})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "holding" in out["hint"], out
    assert len(out["kids"]) == count
    assert out["left"] == []  # none was still alive (parked) after 10 s
    assert out["status"] == {str(k): 9 for k in out["kids"]}  # each killed by SIGKILL
    assert tagged(tag) == []
