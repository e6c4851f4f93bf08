"""``tidscope spawn`` end to end, in subprocesses, as root and as nobody."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from helpers import (
    as_uid,
    children_by_ppid,
    one_error_line,
    readline,
    run,
    task_uids,
    tidscope,
    unused_uid,
)

from tidscope.core import flags

CLASSIC = re.compile(r"(parent|child) (thread|process), pid: (\d+), tid: (\d+)")


def _lines(out: str) -> list[tuple[str, str, int, int]]:
    rows = []
    for line in out.splitlines():
        m = CLASSIC.fullmatch(line)
        assert m, line
        rows.append((m.group(1), m.group(2), int(m.group(3)), int(m.group(4))))
    return rows


@pytest.mark.parametrize("user", [False, pytest.param(True, marks=pytest.mark.root)])
def test_classic_demo(user: bool) -> None:
    proc = tidscope("spawn", "--threads", "2", user=user)
    assert proc.returncode == 0, proc.stderr
    (parent, *children) = _lines(proc.stdout)
    assert parent[:2] == ("parent", "thread") and parent[2] == parent[3]
    assert [c[:2] for c in children] == [("child", "thread")] * 2
    assert all(c[2] == parent[2] for c in children)  # same pid...
    assert len({parent[3], *(c[3] for c in children)}) == 3  # ...distinct tids


def test_process_children_say_so_and_show_their_own_pid() -> None:
    proc = tidscope("spawn", "-n", "2", "--flags", "process")
    assert proc.returncode == 0, proc.stderr
    (parent, *children) = _lines(proc.stdout)
    for role, kind, pid, tid in children:
        assert (role, kind) == ("child", "process")
        assert pid == tid != parent[2]


@pytest.mark.parametrize("flag_set", ["thread", "process"])
def test_json_agrees_with_proc(flag_set: str) -> None:
    proc = tidscope("spawn", "-n", "3", "--flags", flag_set, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["role"] for r in rows] == ["parent", "child", "child", "child"]
    for r in rows:
        assert set(r) >= {"role", "kind", "pid", "tid", "ppid", "tgid", "proc_ppid", "name"}
        assert r["agrees"] is True, r
        assert r["tgid"] == r["pid"] and r["proc_ppid"] == r["ppid"]
    assert [r["name"] for r in rows[1:]] == ["tidscope-1", "tidscope-2", "tidscope-3"]


def test_table_and_csv_have_the_same_rows() -> None:
    table = tidscope("spawn", "-n", "2", "--format", "table")
    csv = tidscope("spawn", "-n", "2", "--format", "csv", "--no-headers")
    assert table.returncode == csv.returncode == 0
    head, *body = table.stdout.splitlines()
    assert head.split() == [
        "ROLE",
        "KIND",
        "PID",
        "TID",
        "PPID",
        "TGID",
        "PROC_PPID",
        "NAME",
        "AGREES",
    ]
    assert len(body) == 3 and all(line.split()[-1] == "true" for line in body)
    assert [line.split(",")[0] for line in csv.stdout.splitlines()] == ["parent", "child", "child"]
    # one rule for a bool: true or false in a table, in CSV and in JSON
    assert [line.split(",")[-1] for line in csv.stdout.splitlines()] == ["true"] * 3


def test_new_pid_namespace_child_is_pid_1_and_agrees_with_nspid() -> None:
    proc = tidscope("spawn", "-n", "1", "--flags", "process,NEWPID", "--format", "json")
    if proc.returncode != 0 and os.geteuid() != 0:
        pytest.skip("needs CAP_SYS_ADMIN")
    assert proc.returncode == 0, proc.stderr
    child = json.loads(proc.stdout)[1]
    assert child["pid"] == child["tid"] == 1
    assert child["agrees"] is True


def test_run_reproduces_the_ps_T_demo() -> None:
    proc = tidscope("spawn", "-n", "3", "--run", "ps -T -p $TIDSCOPE_PID -o spid=,comm=")
    assert proc.returncode == 0, proc.stderr
    classic, ps = proc.stdout.splitlines()[:4], proc.stdout.splitlines()[4:]
    tids = [t for _, _, _, t in _lines("\n".join(classic))]
    listed = dict(line.split() for line in ps)
    assert set(listed) == {str(t) for t in tids}
    assert [listed[str(t)] for t in tids[1:]] == ["tidscope-1", "tidscope-2", "tidscope-3"]


def test_run_returns_the_commands_status() -> None:
    assert tidscope("spawn", "-n", "1", "--run", "exit 7").returncode == 7


def test_explain_shows_the_registers() -> None:
    proc = tidscope("spawn", "-n", "1", "--explain")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    tid = _lines(proc.stdout.split("clone #1")[0].strip())[1][3]
    rdi = f"rdi = {flags.THREAD:#x}"
    for reg in ("rax = 56", rdi, "rsi = 0x", "rdx = 0x", "r10 = 0x", "r8  = 0x0"):
        assert reg in text
    assert f"the kernel stored tid {tid} here" in text
    assert f"rax <- {tid}" in text


def _tasks_of(pid: int) -> list[int]:
    try:
        return sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except FileNotFoundError:
        return []


def _wait_hint(proc: subprocess.Popen[str]) -> str:
    assert proc.stderr is not None
    line = readline(proc.stderr, proc=proc, seen="spawn --hold's hint on stderr")
    assert "holding" in line, line
    return line


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
@pytest.mark.parametrize("flag_set", ["thread", "process"])
def test_hold_until_signal_then_clean_up(signo: int, flag_set: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "spawn", "-n", "3", "--flags", flag_set, "--hold"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        hint = _wait_hint(proc)
        assert f"ps -T -p {proc.pid}" in hint or f"--ppid {proc.pid}" in hint
        kids = children_by_ppid(proc.pid)
        if flag_set == "thread":
            assert len(_tasks_of(proc.pid)) == 4
        else:
            assert len(kids) == 3
        proc.send_signal(signo)
        assert proc.wait(10) == 128 + signo
    finally:
        if proc.poll() is None:  # a failed check must not leave the holder behind
            proc.terminate()
            proc.wait(10)
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    assert proc.stdout is not None and len(proc.stdout.read().splitlines()) == 4
    for pid in kids:
        assert not os.path.exists(f"/proc/{pid}")


def test_hold_seconds() -> None:
    start = time.monotonic()
    proc = tidscope("spawn", "-n", "1", "--hold", "0.3")
    assert proc.returncode == 0
    assert time.monotonic() - start >= 0.3
    assert "releasing in 0.3s" in proc.stderr


@pytest.mark.parametrize("flag_set", ["thread", "process"])
def test_growsdown_stacks(flag_set: str) -> None:
    proc = tidscope("spawn", "-n", "2", "--stack-style", "growsdown", "--flags", flag_set)
    assert proc.returncode == 0, proc.stderr
    assert len(_lines(proc.stdout)) == 3


# Bad input (counts, flags, stacks, --hold...): the table in test_bad_input.py.


def test_namespace_flags_unprivileged_name_the_capability() -> None:
    # root drops to nobody; others are unprivileged already
    proc = tidscope("spawn", "-n", "1", "--flags", "process,NEWUTS", user=os.geteuid() == 0)
    assert proc.returncode == 1
    assert "needs CAP_SYS_ADMIN" in one_error_line(proc)
    assert proc.stdout == ""


@pytest.mark.root  # a uid of its own
def test_task_limit_names_rlimit_nproc_and_leaves_nothing_behind() -> None:
    """As a uid no other task has, so that RLIMIT_NPROC counts only ours and
    whatever is left of ours is found by uid."""
    uid = unused_uid()
    # prlimit first: setpriv must exec python itself (its home may be closed to others).
    proc = run(
        [*as_uid(uid), sys.executable, "-m", "tidscope", "spawn", "-n", "50", "--format", "json"],
        prefix=["prlimit", "--nproc=20", "--"],
    )
    assert proc.returncode == 1, proc.stderr
    line = one_error_line(proc)
    assert "EAGAIN" in line and "RLIMIT_NPROC" in line
    assert proc.stdout == ""
    assert [p for p, uids in task_uids().items() if uid in uids] == []


def test_stack_memory_exhaustion_names_enomem() -> None:
    proc = tidscope(
        "spawn", "-n", "4000", "--stack-size", "1M", prefix=["prlimit", "--as=1500000000", "--"]
    )
    assert proc.returncode == 1, proc.stderr
    line = one_error_line(proc)
    assert "ENOMEM" in line and "--stack-size" in line
    assert proc.stdout == ""


def test_hold_on_a_terminal_waits_for_enter() -> None:
    """Under script(1) tidscope owns a terminal; Enter releases the children."""
    cmd = f"{sys.executable} -m tidscope spawn -n 2 --hold"
    proc = subprocess.Popen(
        ["script", "-qec", cmd, "/dev/null"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen = ""
    while "press Enter" not in seen:
        line = readline(proc.stdout, proc=proc, seen=seen)
        assert line, seen
        seen += line
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait(10) == 0


def test_hold_with_standard_input_closed_waits_for_a_signal() -> None:
    """``spawn --hold <&-``: no Enter can come, so a signal releases them."""
    cmd = f"exec {sys.executable} -m tidscope spawn --hold <&-"
    proc = subprocess.Popen(["sh", "-c", cmd], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        hint = readline(proc.stderr, proc=proc, seen="spawn --hold's hint on stderr")
        assert "release with: kill" in hint, hint
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 128 + signal.SIGTERM
        assert "Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(timeout=30)
