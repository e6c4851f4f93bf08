"""Verdicts come only from observations that were made; labs leave nothing.

The judge is tested on outcomes as a lab reports them; labs are tested in
fresh interpreters, with what they create checked on the real machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import into_cgroup, own_cgroup, remove_cgroup, run, tidscope, wait_for

from tidscope.lab.experiments import BY_FLAG
from tidscope.lab.facts import BY_NAME as FACTS_BY_NAME
from tidscope.lab.threads import judge as judge_fact
from tidscope.lab.verify import judge

VM = BY_FLAG["VM"]


def _run(**checks: Any) -> dict[str, Any]:
    return {"checks": checks, "evidence": {}}


def _failed(step: str, err: int = 1) -> dict[str, Any]:
    return {"failed": f"{step}: EPERM", "errno": err}


# -- the judge -------------------------------------------------------------------


def test_all_made_and_agreeing_is_pass() -> None:
    row = judge(VM, {"with": _run(kcmp=True, write=True), "without": _run(kcmp=False, write=False)})
    assert row.verdict == "pass"


def test_a_made_contradiction_is_fail() -> None:
    row = judge(
        VM, {"with": _run(kcmp=True, write=False), "without": _run(kcmp=False, write=False)}
    )
    assert (row.verdict, row.reason) == ("fail", "absent with the flag: write")


@pytest.mark.parametrize(
    "with_, without",
    [
        # a failed look beside agreeing ones: no pass
        (_run(kcmp=True, write=_failed("child getcwd")), _run(kcmp=False, write=False)),
        # a failed look that would read as "absent with the flag": no fail
        (_run(kcmp=_failed("kcmp KCMP_VM"), write=True), _run(kcmp=False, write=False)),
        # ... or as "present without it"
        (_run(kcmp=True, write=True), _run(kcmp=_failed("kcmp KCMP_VM"), write=False)),
        # a made contradiction does not outweigh a look that was not made
        (_run(kcmp=False, write=_failed("child getcwd")), _run(kcmp=False, write=False)),
    ],
)
def test_an_observation_not_made_makes_the_row_an_error(
    with_: dict[str, Any], without: dict[str, Any]
) -> None:
    row = judge(VM, {"with": with_, "without": without})
    assert row.verdict == "error", row
    assert row.reason.startswith("not observed: ")
    assert "EPERM" in row.reason
    assert "=error" in row.with_flag + row.without_flag


def test_the_same_failure_both_ways_is_named_once() -> None:
    failed = _failed("child getuid")
    row = judge(VM, {"with": _run(uid=failed), "without": _run(uid=failed)})
    assert row.reason == "not observed: child getuid: EPERM (with and without the flag)"


def test_a_refused_flag_is_skip_only_when_the_clone_without_it_worked() -> None:
    refused = {"errno": 1, "error": "clone(...): EPERM", "spawn": True}
    row = judge(VM, {"with": refused, "without": _run(kcmp=False)})
    assert row.verdict == "skip"
    row = judge(VM, {"with": refused, "without": refused})
    assert row.verdict == "error"
    # a failing step of ours is no refusal of the flag
    ours = {"errno": 1, "error": "semctl: EPERM"}
    assert judge(VM, {"with": ours, "without": _run(kcmp=False)}).verdict == "error"


# -- a flag documented as ignored (DETACHED) ----------------------------------------

DETACHED = BY_FLAG["DETACHED"]
PROPERTIES = {"exit_signal": "SIGCHLD", "ppid": "lab", "sigchld": "yes", "reaped": "0"}


def _props(evidence: dict[str, Any] | None = None, **changed: Any) -> dict[str, Any]:
    return {
        "checks": {},
        "properties": {**PROPERTIES, **changed},
        "evidence": evidence or {"clone3": "accepted"},
    }


def test_ignored_only_when_every_property_is_the_same_both_ways() -> None:
    refused = _props({"clone3": "EINVAL"})
    row = judge(DETACHED, {"with": refused, "without": _props()})
    assert row.verdict == "ignored", row
    assert row.reason.startswith("clone(2): all 4 properties the same with and without it")
    assert "clone3 refuses it: EINVAL (accepted without it)" in row.reason
    assert row.with_flag == "exit_signal=SIGCHLD ppid=lab sigchld=yes reaped=0"


def test_a_property_that_differs_is_a_fail_naming_it() -> None:
    row = judge(DETACHED, {"with": _props(sigchld="no"), "without": _props()})
    assert row.verdict == "fail", row
    assert "not ignored by clone(2): sigchld no with it, yes without" in row.reason


def test_a_property_not_observed_is_an_error_never_ignored() -> None:
    row = judge(DETACHED, {"with": _props(sigchld=_failed("rt_sigtimedwait")), "without": _props()})
    assert row.verdict == "error", row
    assert row.reason == "not observed: rt_sigtimedwait: EPERM (with the flag)"
    assert "sigchld=error" in row.with_flag


# -- the thread facts' judge -----------------------------------------------------------

FACT = FACTS_BY_NAME["thread-signal"]


def _seen(shows: dict[str, Any], contrast: dict[str, Any]) -> dict[str, Any]:
    return {"shows": shows, "contrast": contrast, "evidence": {}}


@pytest.mark.parametrize(
    ("shows", "contrast", "verdict"),
    [
        ({"a": True}, {"b": True}, "pass"),
        ({"a": True}, {"b": False}, "fail"),
        ({"a": False}, {"b": True}, "fail"),
        ({"a": True}, {"b": _failed("tgkill")}, "error"),
        ({"a": False}, {"b": _failed("tgkill")}, "error"),  # an Unread outweighs a contradiction
        ({"a": True}, {"b": None}, "skip"),  # nothing seen where it says it does not happen
        ({"a": None}, {"b": True}, "skip"),
    ],
)
def test_a_fact_passes_only_on_looks_made_on_both_sides(
    shows: dict[str, Any], contrast: dict[str, Any], verdict: str
) -> None:
    row = judge_fact(FACT, _seen(shows, contrast))
    assert row.verdict == verdict, row
    if verdict == "error":
        assert row.reason == "not observed: tgkill: EPERM"


def test_a_fact_the_machine_cannot_show_is_a_skip_with_its_reason() -> None:
    row = judge_fact(FACT, {"unobservable": "this kernel has no clone3 (ENOSYS)"})
    assert (row.verdict, row.reason) == ("skip", "this kernel has no clone3 (ENOSYS)")
    row = judge_fact(FACT, {"errno": 1, "error": "tgkill: EPERM (Operation not permitted)"})
    assert row.verdict == "error"


# -- --strict --------------------------------------------------------------------


@pytest.mark.root  # setpriv: as another user INTO_CGROUP cannot make its cgroup
def test_strict_needs_every_row_to_pass() -> None:
    """Every flag has an experiment now: the skip row is INTO_CGROUP's as a
    user who may make no cgroup.  DETACHED's ``ignored`` is proven."""
    assert tidscope("verify-flags", "VM", "INTO_CGROUP", user=True).returncode == 0
    proc = tidscope("verify-flags", "VM", "INTO_CGROUP", "--strict", "--format", "json", user=True)
    assert proc.returncode == 1
    assert [r["verdict"] for r in json.loads(proc.stdout)] == ["pass", "skip"]
    assert tidscope("verify-flags", "VM", "--strict").returncode == 0
    proc = tidscope("verify-flags", "DETACHED", "--strict", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["verdict"] for r in json.loads(proc.stdout)] == ["ignored"]


# -- labs ------------------------------------------------------------------------


def test_a_failing_lab_reports_once_and_never_runs_the_callers_code() -> None:
    """An OSError in a lab is its answer; the lab never returns into the
    code that started it (it used to print the error a second time, from
    the forked copy of the CLI)."""
    proc = run(
        [
            sys.executable,
            "-c",
            "import os; from tidscope.lab import runner as lab\n"
            "print(lab.run(lambda: os.close(987654), isolated=False), flush=True)\n"
            "print('after', flush=True)",
        ]
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 2 and lines[1] == "after", proc.stdout
    assert "EBADF" in lines[0] and "error" in lines[0]
    assert proc.stderr == ""


def _cgroup2_dir() -> str | None:
    """Our own cgroup2 directory, if there is a cgroup2 hierarchy."""
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split() for ln in f]
    point = next((m[4] for m in mounts if "-" in m and m[m.index("-") + 1] == "cgroup2"), None)
    with open("/proc/self/cgroup") as f:
        path = next((ln.strip()[3:] for ln in f if ln.startswith("0::")), None)
    return None if point is None or path is None else point + path.rstrip("/")


LAB_BODY = """
import os, secrets, signal, sys, time
from tidscope.lab import runner as lab

def body():
    d = lab.make_dir("tidscope-test-")
    print(f"made {d}", file=sys.stderr, flush=True)
    if CGROUP:
        g = f"{CGROUP}/tidscope-test-{secrets.token_hex(4)}"
        lab.register("cgroup", g)
        os.mkdir(g)
        print(f"made {g}", file=sys.stderr, flush=True)
    if ENDING == "timeout":
        time.sleep(60)
    elif ENDING == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise RuntimeError("boom")

print(lab.run(body, isolated=False, timeout=2))
"""


@pytest.mark.parametrize(
    "ending", [pytest.param("timeout", marks=pytest.mark.slow), "sigkill", "exception"]
)
def test_what_a_lab_registered_is_removed_however_it_ends(ending: str) -> None:
    """A directory and a cgroup a lab made outside its namespaces are gone
    once the lab is, even when it hangs past its timeout and is killed, is
    killed, or raises."""
    cgroup = _cgroup2_dir() if os.geteuid() == 0 else None
    setup = f"ENDING = {ending!r}\nCGROUP = {cgroup!r}\n"
    proc = run([sys.executable, "-c", setup + LAB_BODY])
    assert proc.returncode == 0, proc.stderr
    assert "error" in proc.stdout
    made = [ln.split()[1] for ln in proc.stderr.splitlines() if ln.startswith("made ")]
    assert len(made) == (2 if cgroup else 1), proc.stderr
    assert [p for p in made if os.path.exists(p)] == []


def test_a_lab_dies_with_its_parent() -> None:
    """SIGKILL of the process that started a lab takes the lab with it."""
    script = (
        "import time\n"
        "from tidscope.lab import runner as lab\n"
        "lab.run(lambda: time.sleep(60), isolated=False, timeout=120)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not (kids := _children(proc.pid)):
            assert time.monotonic() < deadline, "no lab appeared"
            time.sleep(0.005)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    (lab_pid,) = kids
    deadline = time.monotonic() + 10
    while _state(lab_pid) not in ("gone", "Z"):
        assert time.monotonic() < deadline, "the lab outlived its parent"
        time.sleep(0.01)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat", errors="surrogateescape") as f:
            return f.read().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"


@pytest.mark.root  # setpriv to nobody
def test_fs_as_nobody_from_a_directory_nobody_cannot_enter(tmp_path: Path) -> None:
    """Run from /root as uid 65534: the FS experiment works from /, passes,
    and leaves no directory behind (in a TMPDIR of its own, so that other
    runs on the machine neither hide a leftover nor fake one)."""
    if not os.path.isdir("/root") or os.stat("/root").st_mode & 0o001:
        pytest.skip("/root is not closed to others here")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    tmp_path.chmod(0o755)
    proc = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            sys.executable,
            "-m",
            "tidscope",
            "verify-flags",
            "FS",
            "VM",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/root",
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "TMPDIR": str(tmp)},
        check=False,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert [r["verdict"] for r in json.loads(proc.stdout)] == ["pass", "pass"], proc.stdout
    assert os.listdir(tmp) == []


@pytest.mark.root
def test_the_cgroup_of_a_lab_killed_with_tidscope_is_removed_by_no_later_run() -> None:
    """SIGKILL of verify-flags INTO_CGROUP while its lab's cgroup exists:
    the lab's janitor removes it, within seconds, with no later run's help
    (it stayed until one swept it).  A cgroup named as tidscope names its
    own, but not ours, is left alone (a later run used to sweep those whose
    pid was not in its /proc, which another pid namespace's tidscope's are)."""
    where = own_cgroup()
    if where is None:
        pytest.skip("needs a cgroup2 hierarchy where we may make a cgroup")
    foreign = os.path.join(where, "tidscope-1-abc123")
    os.mkdir(foreign)

    def labs() -> list[str]:
        return [n for n in os.listdir(where) if n.startswith("tidscope-lab-")]

    try:
        for _ in range(ATTEMPTS):
            proc = subprocess.Popen(
                [*into_cgroup(where), *TIDSCOPE, "verify-flags", "INTO_CGROUP"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while proc.poll() is None and not labs():
                time.sleep(0.0005)
            caught = proc.poll() is None and bool(labs())
            proc.kill()
            proc.wait(60)
            if caught:
                break
        else:
            pytest.fail(f"no lab cgroup was seen in {ATTEMPTS} runs")
        wait_for("the lab's janitor removing its cgroup", lambda: not labs(), timeout=30)
        assert os.path.isdir(foreign)
    finally:
        remove_cgroup(where)


ATTEMPTS = 40
TIDSCOPE = (sys.executable, "-m", "tidscope")
