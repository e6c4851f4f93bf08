"""``tidscope spawn`` leaves nothing behind, however it ends.

Killed by SIGKILL, its process-like children die with it (PR_SET_PDEATHSIG);
ended by a terminating signal (SIGQUIT included), at any moment of
``--run``, everything is released, ended and reaped; a child exit signal
that would kill or stop tidscope is handled or refused.  Every run carries a
random tag in its environment (see helpers.tagged); every wait has a
timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import uuid

import pytest
from helpers import (
    TAG,
    one_error_line,
    own_children,
    python,
    reap_zombie_children,
    run,
    set_subreaper,
    tagged,
    tidscope,
)

# Runs tidscope under a child subreaper, kills it with SIGKILL once it holds
# its children, then reaps what comes back: each orphan with its status, and
# (a failed test must not leave them either) SIGKILLs what is still there.
KILL9 = """
import json, os, signal, subprocess, sys, time
from tidscope.core.syscalls import syscall
WALL = 0x40000000
syscall('prctl', 36, 1)  # PR_SET_CHILD_SUBREAPER
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


# -- --run: the signal that comes while CMD is being started ----------------------

# tidscope's main with shell.start wrapped: SIGTERM comes just before the
# shell is started, or just after it was and before tidscope could note its
# pid.  The pid goes to the file named by PIDFILE.
RACE = """
import os, signal, sys
from tidscope.core import shell
real, when = shell.start, sys.argv[1]
def spawn(*args, **kw):
    if when == 'during':
        os.kill(os.getpid(), signal.SIGTERM)
    pid = real(*args, **kw)
    with open(os.environ['PIDFILE'], 'a') as f:
        f.write(f'{pid}\\n')
    if when == 'after':
        os.kill(os.getpid(), signal.SIGTERM)
    return pid
shell.start = spawn
from tidscope.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _gone(pids: list[int], timeout: float = 10.0) -> bool:
    """Every pid has left /proc (zombies included) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while any(os.path.exists(f"/proc/{p}") for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.mark.parametrize("flag_set", ["thread", "process"])
@pytest.mark.parametrize("when", ["during", "after"])
def test_sigterm_while_the_shell_starts_ends_it(
    when: str, flag_set: str, tmp_path: pathlib.Path
) -> None:
    tag, pidfile = uuid.uuid4().hex, tmp_path / "pid"
    before = own_children()
    args = ["spawn", "-n", "3", "--flags", flag_set, "--run", "sleep 30 & sleep 30; wait"]
    proc = run([sys.executable, "-c", RACE, when, *args], env={TAG: tag, "PIDFILE": str(pidfile)})
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr == ""
    assert len(proc.stdout.splitlines()) == 4  # the classic lines
    (shell,) = [int(p) for p in pidfile.read_text().split()]
    assert not os.path.exists(f"/proc/{shell}")  # ended and reaped before tidscope exited
    assert tagged(tag) == [] and own_children() == before


@pytest.mark.parametrize("flag_set", ["thread", "process"])
def test_sigterm_from_the_command_at_its_start_ends_everything(flag_set: str) -> None:
    tag = uuid.uuid4().hex
    before = own_children()
    cmd = "kill -TERM $TIDSCOPE_PID; sleep 30 & sleep 30"
    proc = tidscope("spawn", "-n", "3", "--flags", flag_set, "--run", cmd, env={TAG: tag})
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert proc.stderr == ""
    assert tagged(tag) == [] and own_children() == before


# -- --run: what CMD leaves in the background ------------------------------------


@pytest.mark.parametrize("flag_set", ["thread", "process"])
def test_what_the_command_leaves_running_is_ended_with_it(flag_set: str) -> None:
    tag = uuid.uuid4().hex
    before = own_children()
    cmd = "sleep 30 & echo $!; (sleep 30 &) ; exit 4"
    proc = tidscope("spawn", "-n", "2", "--flags", flag_set, "--run", cmd, env={TAG: tag})
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr == ""
    left = int(proc.stdout.splitlines()[-1])
    assert not os.path.exists(f"/proc/{left}")  # ended and reaped, not even a zombie
    assert tagged(tag) == [] and own_children() == before


def test_keep_background_leaves_it_running() -> None:
    tag = uuid.uuid4().hex
    proc = tidscope(
        "spawn",
        "-n",
        "2",
        "--run",
        "sleep 30 >/dev/null 2>&1 & echo $!",
        "--keep-background",
        env={TAG: tag},
    )
    kept = int(proc.stdout.splitlines()[-1])
    try:
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == ""
        assert tagged(tag) == [kept]
        with open(f"/proc/{kept}/stat") as f:
            assert f.read().rpartition(")")[2].split()[0] in "RS"  # alive, not a zombie
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(kept, signal.SIGKILL)
    assert _gone([kept])  # its new parent reaps it


def test_keep_background_needs_run() -> None:
    proc = tidscope("spawn", "--keep-background")
    assert proc.returncode == 2
    assert "give --run" in one_error_line(proc)


# -- children's exit signals ----------------------------------------------------------

EXIT_SIGNALS = [
    ("SIGUSR1", 0),  # default: terminate
    ("VM,SIGSEGV", 0),  # a fault signal: ignored while the children live
    ("FS,SIGTSTP", 0),  # default: stop
    ("SIGRTMIN+1", 0),  # realtime: terminate
    ("VFORK,VM,SIGALRM", 0),  # sent while clone has not yet returned
    ("SIGKILL", 2),
    ("SIGSTOP", 2),
    ("SIGTERM", 2),
    ("SIGQUIT", 2),
    ("32", 2),  # glibc's own
]


@pytest.mark.parametrize(("flag_set", "status"), EXIT_SIGNALS)
def test_an_exit_signal_neither_kills_nor_stops_tidscope(flag_set: str, status: int) -> None:
    tag = uuid.uuid4().hex
    before = own_children()
    proc = tidscope("spawn", "-n", "5", "--flags", flag_set, env={TAG: tag}, timeout=30)
    assert proc.returncode == status, proc.stderr
    if status == 0:
        assert proc.stderr == ""
        lines = proc.stdout.splitlines()
        assert len(lines) == 6 and all(" process, pid: " in line for line in lines[1:])
        pids = [int(line.rpartition(" ")[2]) for line in lines[1:]]
        assert [p for p in pids if os.path.exists(f"/proc/{p}")] == []  # reaped, no zombie
    else:
        assert "give another" in one_error_line(proc)
        assert proc.stdout == ""
    assert tagged(tag) == [] and own_children() == before


def test_an_exit_signal_while_the_command_runs() -> None:
    """A raw child killed while CMD runs sends its exit signal at once."""
    tag = uuid.uuid4().hex
    before = own_children()
    cmd = "kill -KILL ${TIDSCOPE_TIDS%% *}; echo killed"
    proc = tidscope("spawn", "-n", "3", "--flags", "SIGUSR1", "--run", cmd, env={TAG: tag})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "" and proc.stdout.endswith("killed\n")
    assert tagged(tag) == [] and own_children() == before


def _ignored(proc: subprocess.CompletedProcess[str]) -> int:
    assert proc.returncode == 0, proc.stderr
    return int(proc.stdout.splitlines()[-1].split()[1], 16)


def test_the_command_inherits_no_signal_tidscope_ignores() -> None:
    """--run's shell ignores what tidscope's caller ignored, nothing else:
    not the fault signal tidscope ignores as its children's exit signal,
    nor SIGPIPE (Python), nor glibc's internal signals."""
    look = "grep SigIgn /proc/$$/status"
    plain = _ignored(tidscope("spawn", "-n", "1", "--run", look))
    faulty = _ignored(tidscope("spawn", "-n", "1", "--flags", "VM,SIGSEGV", "--run", look))
    caller = _ignored(
        run(
            [
                "sh",
                "-c",
                f"trap '' USR2; exec {sys.executable} -m tidscope spawn -n 1 --run '{look}'",
            ]
        )
    )
    assert plain == faulty == 0
    assert caller == 1 << (signal.SIGUSR2 - 1)


def test_the_dispositions_are_restored_once_the_children_are_reaped() -> None:
    out = python(
        """
        import contextlib, io, json, signal
        from tidscope.cli import main
        seen = {}
        for flag_set, signo in (("SIGUSR1", signal.SIGUSR1), ("VM,SIGSEGV", signal.SIGSEGV)):
            with contextlib.redirect_stdout(io.StringIO()):
                status = main(["spawn", "-n", "2", "--flags", flag_set])
            seen[flag_set] = [status, signal.getsignal(signo) == signal.SIG_DFL]
        print(json.dumps(seen))
        """
    )
    assert out == {"SIGUSR1": [0, True], "VM,SIGSEGV": [0, True]}


def test_the_shell_of_run_dies_with_a_killed_tidscope() -> None:
    """kill -9 of ``spawn --run``: its shell has PR_SET_PDEATHSIG, so a
    command it ``exec``s goes too.  (What the shell forks is beyond reach
    once tidscope is gone: documented.)  We are the subreaper meanwhile,
    so what dies comes back to us to be reaped, not to a pid 1 that may
    never reap it."""
    tag = uuid.uuid4().hex
    before = {p for p, _ in own_children()}
    set_subreaper(True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "spawn", "-n", "1", "--run", "exec sleep 30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, TAG: tag},
    )
    try:
        deadline = time.monotonic() + 30
        while not (shell := [p for p in tagged(tag) if p != proc.pid]):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.005)
        proc.kill()
        assert proc.wait(10) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while [p for p in shell if os.path.exists(f"/proc/{p}")]:
            reap_zombie_children(before)
            assert time.monotonic() < deadline, f"still there: {shell}"
            time.sleep(0.01)
    finally:
        for pid in tagged(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        set_subreaper(False)
        reap_zombie_children(before)
