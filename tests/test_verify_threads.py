"""``tidscope verify-threads`` on the running kernel, as root and as a uid of
its own: every fact shown, both sides of each statement looked at, nothing
left behind however the run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import pytest
from helpers import (
    TAG,
    adopting,
    as_uid,
    cgroups_named,
    end_tagged,
    into_cgroup,
    one_error_line,
    own_cgroup,
    reap_zombie_children,
    remove_cgroup,
    run,
    tagged,
    tidscope,
    unused_uid,
)

from tidscope.core.reaper import children
from tidscope.lab.facts import FACTS

NAMES = [f.name for f in FACTS]
FIELDS = {"fact", "statement", "method", "shows", "contrast", "verdict", "reason"}
WITHIN = 5.0  # seconds for labs and their helpers to die once tidscope was SIGKILLed


def _userns_for(prefix: list[str]) -> bool:
    return run([*prefix, "unshare", "--user", "true"]).returncode == 0


def _rows(*args: str, prefix: list[str] | None = None) -> tuple[int, list[dict[str, Any]]]:
    proc = tidscope("verify-threads", *args, "--format", "json", prefix=prefix)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr == "", proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _cases() -> list[Any]:
    return [
        pytest.param(name, user, id=f"{name}-{'unused-uid' if user else 'root'}",
                     marks=[pytest.mark.root] if user else [])
        for name in NAMES
        for user in (False, True)
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "user"), _cases())
def test_each_fact(name: str, user: bool) -> None:
    """As root every fact passes here; as a uid of its own every one but
    credentials (no second uid to change to) does, pid-namespaces in a user
    namespace of its own where the machine allows one."""
    prefix = as_uid(unused_uid()) if user else None
    code, rows = _rows(name, prefix=prefix)
    (row,) = rows
    assert set(row) == FIELDS and row["fact"] == name
    if user and name == "credentials":
        assert (row["verdict"], code) == ("skip", 0), row
        assert "needs CAP_SETUID" in row["reason"] and "run as root" in row["reason"]
        return
    if user and name == "pid-namespaces" and not _userns_for(prefix or []):
        assert row["verdict"] == "skip" and "user namespace" in row["reason"], row
        return
    assert (row["verdict"], code) == ("pass", 0), row
    # both sides of the statement were looked at, and came out as stated
    assert "=yes" in row["shows"] and "=yes" in row["contrast"], row
    assert "=no" not in row["shows"] + row["contrast"], row
    assert "=error" not in row["shows"] + row["contrast"], row


def test_all_facts_at_once_with_their_evidence_and_nothing_left_behind() -> None:
    """In a TMPDIR and a cgroup of its own, with a tag in its environment:
    every lab, helper, raw thread and exec'd program is gone at the end."""
    cgroup, tag = own_cgroup(), uuid.uuid4().hex
    try:
        with tempfile.TemporaryDirectory(prefix="verify-threads-") as tmp:
            proc = tidscope(
                "verify-threads",
                "--explain",
                "--strict",
                env={"TMPDIR": tmp, TAG: tag},
                prefix=into_cgroup(cgroup),
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            lines = proc.stdout.splitlines()
            assert lines[0].split() == ["FACT", "VERDICT", "STATEMENT", "REASON"]
            assert [ln.split()[:2] for ln in lines[1 : 1 + len(NAMES)]] == [
                [n, "pass"] for n in NAMES
            ]
            for name in NAMES:
                assert f"\n{name}: pass, " in proc.stdout
            assert "NSpid (outermost first) = [" in proc.stdout
            assert "ps (stat, nlwp, args) = " in proc.stdout
            assert tagged(tag) == []
            assert os.listdir(tmp) == []
        assert cgroups_named(cgroup) == []
    finally:
        remove_cgroup(cgroup)


def test_the_evidence_in_json_says_what_was_seen() -> None:
    code, rows = _rows("exec", "leader-exit", "pid-namespaces", "--explain")
    assert code == 0
    exec_, leader, pidns = (r["evidence"] for r in rows)
    assert exec_["tasks_after"] == [exec_["leader"]]
    assert exec_["nice_after"] == exec_["nice_before (leader, exec'ing thread)"][1]
    assert exec_["start_time_after"] == exec_["start_time_before (leader, exec'ing thread)"][0]
    assert set(leader["their_states_after_the_leader_exit"].values()) <= {"S", "R"}
    if leader["ps (stat, nlwp, args)"] is not None:
        stat, nlwp, args = leader["ps (stat, nlwp, args)"]
        assert stat.startswith("Z") and nlwp == "3" and args.endswith("<defunct>")
    asked = pidns["set_tid"][1]
    assert pidns["NSpid (outermost first)"][-2:] == [asked, 1]
    assert pidns["NSpid_without_set_tid"][-1] == 1
    assert pidns["NSpid_without_set_tid"][-2] != asked


def test_csv_has_one_row_per_fact() -> None:
    proc = tidscope("verify-threads", "thread-signal", "pidfds", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    head, *lines = proc.stdout.splitlines()
    assert head == "fact,statement,method,shows,contrast,verdict,reason"
    assert len(lines) == 2 and lines[0].startswith("thread-signal,")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["execs"], "no fact 'execs': choose from credentials"),
        (["exec", "EXEC"], "given twice"),
        (["--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_input(args: list[str], needle: str) -> None:
    proc = tidscope("verify-threads", *args)
    assert proc.returncode == 2
    assert needle in one_error_line(proc)
    assert proc.stdout == ""


@pytest.mark.root  # a uid of its own, under a task limit
def test_a_lab_that_cannot_be_forked_is_an_error_row_per_fact() -> None:
    """RLIMIT_NPROC=1 leaves no room for a lab: every row is still printed,
    an error naming the limit and the fix."""
    prefix = ["prlimit", "--nproc=1", "--", *as_uid(unused_uid())]
    proc = tidscope("verify-threads", "exec", "pidfds", "--format", "json", prefix=prefix)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1
    rows = json.loads(proc.stdout)
    assert [r["fact"] for r in rows] == ["exec", "pidfds"]
    for r in rows:
        assert r["verdict"] == "error" and "RLIMIT_NPROC" in r["reason"], r


# -- ended mid-run ------------------------------------------------------------------

HELPED = ["sigstop", "fatal-signal", "exec", "leader-exit", "pid-namespaces"]


def _start_with_a_helper(tag: str, err: int, tmp: str) -> tuple[subprocess.Popen[bytes], int]:
    """verify-threads of the facts with helpers, once a lab has a child
    (a helper, or a raw process) of its own."""
    for _ in range(20):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tidscope", "verify-threads", *HELPED, "--format", "json"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, TAG: tag, "TMPDIR": tmp},
            cwd="/",
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            for lab in children(proc.pid):
                if children(lab):
                    return proc, lab
            time.sleep(0.001)
        proc.kill()
        proc.wait(10)
    pytest.fail("no lab with a helper of verify-threads was seen in 20 runs")


def test_sigkill_mid_run_leaves_no_lab_and_no_helper() -> None:
    """SIGKILL cannot be caught: labs die with tidscope, and helpers (and
    what they hold: raw threads, a zombie leader's threads, an exec'd
    program, a PID namespace's init) with their lab."""
    tag = uuid.uuid4().hex
    with (
        adopting() as before,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="verify-threads-") as tmp,
    ):
        try:
            proc, lab = _start_with_a_helper(tag, err.fileno(), tmp)
            proc.kill()
            assert proc.wait(15) == -signal.SIGKILL
            deadline = time.monotonic() + WITHIN
            while True:
                adopted = reap_zombie_children(before)
                left = sorted(set(tagged(tag)) | set(adopted))
                if not left or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            assert left == [], f"{WITHIN:g}s after SIGKILL, still there: {left} (lab: {lab})"
            assert reap_zombie_children(before) == []
            assert os.listdir(tmp) == []
        finally:
            end_tagged(tag, before)


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_reaps_everything(signo: int) -> None:
    tag = uuid.uuid4().hex
    with (
        adopting() as before,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory(prefix="verify-threads-") as tmp,
    ):
        try:
            proc, _ = _start_with_a_helper(tag, err.fileno(), tmp)
            proc.send_signal(signo)
            assert proc.wait(30) == 128 + signo
            err.seek(0)
            assert b"Traceback" not in err.read()
            deadline = time.monotonic() + WITHIN  # a helper dies of its lab's death
            while (left := tagged(tag)) and time.monotonic() < deadline:
                reap_zombie_children(before)
                time.sleep(0.01)
            assert left == []
            assert os.listdir(tmp) == []
        finally:
            end_tagged(tag, before)
