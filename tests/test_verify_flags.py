"""``tidscope verify-flags`` on the running kernel, as root and as nobody."""

from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    as_uid,
    cgroups_named,
    children_by_ppid,
    into_cgroup,
    one_error_line,
    own_cgroup,
    remove_cgroup,
    run,
    tidscope,
    unused_uid,
)

from tidscope.lab.experiments import EXPERIMENTS

TRACED = {"PTRACE", "UNTRACED"}  # their lab is traced by a tracer of ours
SECCOMP = str(Path(__file__).with_name("seccomp.py"))
FIELDS = {"flag", "effect", "method", "with_flag", "without_flag", "verdict", "reason"}


def _ptrace_scope() -> int:
    """Yama's ptrace_scope (0 without Yama): 2 and 3 refuse a tracer of ours
    (1 lets the lab name it with PR_SET_PTRACER)."""
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except FileNotFoundError:
        return 0


def _userns_for_nobody() -> bool:
    return run(["unshare", "--user", "true"], user=True).returncode == 0


def _rows(*args: str, user: bool = False, **kw: Any) -> tuple[int, list[dict[str, Any]]]:
    proc = tidscope("verify-flags", *args, "--format", "json", user=user, **kw)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _flag_cases() -> list[Any]:
    """Each flag as the running user ("root") and as nobody: setpriv to
    nobody needs root, and so does INTO_CGROUP's pass (it makes a cgroup)."""
    return [
        pytest.param(
            flag,
            user,
            id=f"{flag}-{'nobody' if user else 'root'}",
            marks=[pytest.mark.root] if user or flag == "INTO_CGROUP" else [],
        )
        for flag in (e.flag for e in EXPERIMENTS)
        for user in (False, True)
    ]


@pytest.mark.parametrize(("flag", "user"), _flag_cases())
def test_each_flag_experiment(flag: str, user: bool) -> None:
    code, rows = _rows(flag, user=user)
    (row,) = rows
    assert set(row) == FIELDS
    assert row["flag"] == f"CLONE_{flag}"
    if flag == "DETACHED":
        assert (row["verdict"], code) == ("ignored", 0), row
        assert row["reason"].startswith("clone(2): all 6 properties the same with and without it")
        assert row["with_flag"] == row["without_flag"] != "-"
        return
    if flag in TRACED and _ptrace_scope() >= 2:
        assert row["verdict"] == "error" and "ptrace_scope" in row["reason"], row
        return
    if user and flag == "INTO_CGROUP":
        assert row["verdict"] == "skip" and "cannot create cgroup" in row["reason"]
        return
    isolated = next(e for e in EXPERIMENTS if e.flag == flag).isolated
    if user and isolated and not _userns_for_nobody():
        assert row["verdict"] == "skip"
        return
    assert (row["verdict"], code) == ("pass", 0), row
    assert "=yes" in row["with_flag"] and "=yes" not in row["without_flag"]


def test_all_flags_at_once_and_nothing_left_behind() -> None:
    """In a TMPDIR and a cgroup of its own, so that another run on this
    machine can neither fake a leftover nor hide one."""
    cgroup = own_cgroup()
    try:
        with tempfile.TemporaryDirectory(prefix="verify-flags-") as tmp:
            proc = tidscope(
                "verify-flags", "--explain", env={"TMPDIR": tmp}, prefix=into_cgroup(cgroup)
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "kcmp_vm_same = True" in proc.stdout
            assert os.listdir(tmp) == []
        assert cgroups_named(cgroup) == []
    finally:
        remove_cgroup(cgroup)


@pytest.mark.parametrize(
    "user", [False, pytest.param(True, marks=pytest.mark.root)], ids=["root", "unused-uid"]
)
def test_27_flags_27_rows_none_skipped_for_want_of_an_experiment(user: bool) -> None:
    """Every flag has an experiment: as root all 27 are proven (pass, and
    DETACHED ignored), and --strict agrees; as a uid of its own, only
    INTO_CGROUP (no cgroup of its own to make) and, without unprivileged
    user namespaces, the namespace flags may skip, each saying why."""
    prefix = as_uid(unused_uid()) if user else None
    proc = tidscope("verify-flags", "--format", "json", "--strict", prefix=prefix)
    assert "Traceback" not in proc.stderr, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["flag"] for r in rows] == [f"CLONE_{e.flag}" for e in EXPERIMENTS]
    assert len(rows) == 27
    may_skip = {"CLONE_INTO_CGROUP"} if user else set()
    if user and not _userns_for_nobody():
        may_skip |= {f"CLONE_{e.flag}" for e in EXPERIMENTS if e.isolated}
    for row in rows:
        if row["flag"] in may_skip and row["verdict"] == "skip":
            assert row["reason"], row
            continue
        if row["flag"] in {f"CLONE_{f}" for f in TRACED} and _ptrace_scope() >= 2:
            continue
        assert row["verdict"] in ("pass", "ignored"), row
    assert [r["flag"] for r in rows if r["verdict"] == "ignored"] == ["CLONE_DETACHED"]
    if not user:
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _traced_rows(prefix: list[str], user: bool = False) -> list[dict[str, Any]]:
    args = ("-m", "tidscope", "verify-flags", "PTRACE", "UNTRACED", "--format", "json")
    proc = run([*prefix, sys.executable, *args], user=user, timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows: list[dict[str, Any]] = json.loads(proc.stdout)
    assert [r["flag"] for r in rows] == ["CLONE_PTRACE", "CLONE_UNTRACED"]
    return rows


@pytest.mark.parametrize(
    "user", [False, pytest.param(True, marks=pytest.mark.root)], ids=["root", "nobody"]
)
def test_ptrace_refused_by_seccomp_is_an_error_naming_it(user: bool) -> None:
    """tests/seccomp.py makes ptrace(2) fail with EPERM: the tracer cannot
    seize the lab, and neither row is a verdict."""
    cmd = [sys.executable, SECCOMP, "--deny", "ptrace", "--", "verify-flags", "PTRACE", "UNTRACED"]
    prefix = as_uid(unused_uid()) if user else []
    proc = run([*prefix, *cmd, "--format", "json"], timeout=120)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for row in json.loads(proc.stdout):
        assert row["verdict"] == "error", row
        assert "ptrace PTRACE_SEIZE of the lab" in row["reason"], row
        assert "EPERM" in row["reason"] and "a seccomp filter is installed" in row["reason"], row


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_a_lab_strace_already_traces_is_an_error_naming_the_tracer() -> None:
    """Under ``strace -f`` the lab has a tracer already, and a task has one:
    the rows name it.  Without -f strace traces tidscope alone, and the
    lab's own tracer works."""
    for row in _traced_rows(["strace", "-f", "-o", os.devnull]):
        assert row["verdict"] == "error", row
        assert "the lab is already traced by" in row["reason"], row
        assert "(strace)" in row["reason"] and "EPERM" in row["reason"], row
    proc = run(["strace", "-o", os.devnull, sys.executable, "-m", "tidscope", "verify-flags",
                "PTRACE", "UNTRACED", "--format", "json"], timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["verdict"] for r in json.loads(proc.stdout)] == ["pass", "pass"]


def test_the_traced_rows_show_the_tracer_and_its_wait() -> None:
    code, rows = _rows("PTRACE", "UNTRACED", "--explain")
    assert code == 0
    ptrace, untraced = rows
    with_, without = (
        ptrace["evidence"]["with"]["evidence"],
        ptrace["evidence"]["without"]["evidence"],
    )
    assert with_["child_TracerPid"] == with_["tracer"] and without["child_TracerPid"] == 0
    assert with_["tracer_first_stop"] == "stopped: PTRACE_EVENT_STOP (SIGTRAP)"
    assert without["tracer_first_stop"] is None
    with_, without = (untraced["evidence"][k]["evidence"] for k in ("with", "without"))
    assert with_["clone_event"] is None and with_["child_TracerPid"] == 0
    assert without["clone_event"] == "PTRACE_EVENT_FORK"
    assert without["child_TracerPid"] == without["tracer"]


def _own_uid(nproc: int) -> list[str]:
    """Run as a uid no other task has, under RLIMIT_NPROC=``nproc``: the
    limit then counts only what this run starts (prlimit goes first, as
    root, and setpriv execs python as that uid)."""
    return ["prlimit", f"--nproc={nproc}", "--", *as_uid(unused_uid())]


@pytest.mark.root  # a uid of its own
def test_impossible_experiments_never_pass() -> None:
    """RLIMIT_NPROC leaves room for the lab but not for its child: every
    experiment that needs a clone must end in error, none in pass."""
    proc = tidscope("verify-flags", "VM", "FILES", "THREAD", "--format", "json", prefix=_own_uid(2))
    assert "Traceback" not in proc.stderr, proc.stderr
    rows = json.loads(proc.stdout)
    assert proc.returncode == 1
    assert [r["verdict"] for r in rows] == ["error"] * 3, rows
    assert all("EAGAIN" in r["reason"] for r in rows), rows
    # The lab ran (its fork is the one the limit leaves room for): what
    # failed is the child's clone, not the lab's fork.
    assert all("clone" in r["reason"] for r in rows), rows


def _table_rows(text: str, fmt: str) -> list[dict[str, str]]:
    if fmt == "json":
        return list(json.loads(text))
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    header, *lines = text.splitlines()  # the reason is the last column
    assert header.split()[:5] == ["FLAG", "EFFECT", "WITH_FLAG", "WITHOUT_FLAG", "VERDICT"]
    rows = []
    for line in lines:
        flag = line.split()[0]
        verdict = next(w for w in ("error", "skip", "pass", "fail") if f" {w} " in line)
        rows.append({"flag": flag, "verdict": verdict, "reason": line.partition(f" {verdict} ")[2]})
    return rows


@pytest.mark.root  # a uid of its own
@pytest.mark.parametrize("fmt", ["json", "csv", "table"])
def test_a_lab_that_cannot_be_forked_is_an_error_row_per_flag(fmt: str) -> None:
    """RLIMIT_NPROC=1 leaves no room for the lab itself: every row is still
    printed, in the format asked for, as an error naming the limit and the fix."""
    flags = ["VM", "FILES", "NEWUTS"]
    proc = tidscope("verify-flags", *flags, "--format", fmt, prefix=_own_uid(1))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = _table_rows(proc.stdout, fmt)
    assert [r["flag"] for r in rows] == [f"CLONE_{f}" for f in flags], proc.stdout
    for r in rows:
        assert r["verdict"] == "error", r
        assert "RLIMIT_NPROC" in r["reason"] and "prlimit --nproc" in r["reason"], r


def test_user_namespace_limit_makes_newuser_a_skip() -> None:
    """In a user namespace whose max_user_namespaces is 0, NEWUSER cannot be
    observed: the row must say so instead of passing."""
    script = (
        "echo 0 > /proc/sys/user/max_user_namespaces && "
        f"exec {sys.executable} -m tidscope verify-flags NEWUSER NEWUTS --format json"
    )
    proc = run(["unshare", "--user", "--map-root-user", "sh", "-c", script])
    if "Permission denied" in proc.stderr or "Operation not permitted" in proc.stderr:
        pytest.skip("cannot lower max_user_namespaces here")
    rows = {r["flag"]: r for r in json.loads(proc.stdout)}
    assert rows["CLONE_NEWUSER"]["verdict"] == "skip"
    assert "ENOSPC" in rows["CLONE_NEWUSER"]["reason"]
    assert rows["CLONE_NEWUTS"]["verdict"] == "pass"


@pytest.mark.parametrize(
    "user", [False, pytest.param(True, marks=pytest.mark.root)], ids=["root", "nobody"]
)
def test_invalid_combinations_table(user: bool) -> None:
    code, rows = _rows("--invalid", user=user)
    assert code == 0
    by = {r["combination"]: r for r in rows}
    for r in by.values():
        assert set(r) == {"combination", "flags", "documented", "kernel", "agrees"}
        assert r["agrees"] == (r["documented"].split()[0] == r["kernel"]), r
    for name in (
        "THREAD without SIGHAND",
        "SIGHAND without VM",
        "FS|NEWNS",
        "FS|NEWUSER",
        "NEWIPC|SYSVSEM",
        "THREAD|NEWPID",
        "THREAD|NEWUSER",
        "SIGHAND|CLEAR_SIGHAND",
        "PIDFD|PARENT_SETTID",
        "PIDFD|DETACHED",
        "DETACHED (clone3)",
        "THREAD with an exit signal (clone3)",
        "PARENT with an exit signal (clone3)",
    ):
        assert by[name]["kernel"] == "EINVAL", by[name]
    assert by["VM|SIGHAND|THREAD (valid)"]["kernel"] == "accepted"
    major, minor = (int(x) for x in platform.release().split(".")[:2])
    if (major, minor) >= (6, 9):  # pidfds for threads (PIDFD_THREAD) arrived in 6.9
        assert by["PIDFD|THREAD"] == {**by["PIDFD|THREAD"], "kernel": "accepted", "agrees": False}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["VMM"], "no experiment for flag 'VMM'"),
        (["VM", "clone_vm"], "given twice"),
        (["--invalid", "VM"], "give no FLAG with it"),
        (["--format", "xml"], "'xml' is not one of"),
    ],
)
def test_bad_input(args: list[str], needle: str) -> None:
    proc = tidscope("verify-flags", *args)
    assert proc.returncode == 2
    assert needle in one_error_line(proc)
    assert proc.stdout == ""


@pytest.mark.parametrize("signo", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_reaps_everything(signo: int) -> None:
    """Signalled once a lab runs (tidscope handles the signal by then, which
    a fixed delay does not ensure on a loaded machine)."""
    cgroup = own_cgroup()
    try:
        with tempfile.TemporaryDirectory(prefix="verify-flags-") as tmp:
            proc = subprocess.Popen(
                [*into_cgroup(cgroup), sys.executable, "-m", "tidscope", "verify-flags"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "TMPDIR": tmp},
            )
            try:
                deadline = time.monotonic() + 60
                while not (kids := children_by_ppid(proc.pid)):
                    assert proc.poll() is None and time.monotonic() < deadline, "no lab ran"
                    time.sleep(0.002)
                proc.send_signal(signo)
                assert proc.wait(15) == 128 + signo
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
            assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
            for pid in kids:
                assert not os.path.exists(f"/proc/{pid}"), f"lab {pid} left behind"
            assert children_by_ppid(proc.pid) == []
            assert os.listdir(tmp) == []
        assert cgroups_named(cgroup) == []
    finally:
        remove_cgroup(cgroup)
