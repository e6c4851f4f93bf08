"""``tidscope watch --run CMD``: CMD's tree followed with ptrace on the real
kernel.  Each clone's flags are read from the caller's registers; they are
compared with what ``tidscope spawn --explain`` says it put in them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    as_uid,
    one_error_line,
    own_children,
    readline,
    run,
    tidscope,
    unused_uid,
    wait_for,
)

from tidscope.core import flags

SECCOMP = str(Path(__file__).with_name("seccomp.py"))
EXPLAINED = re.compile(r"^\s*(?:rdi|x0)\s*=\s*(0x[0-9a-f]+)\s+flags:", re.MULTILINE)


def _events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _watch_run(cmd: str, *args: str, user: bool = False) -> subprocess.CompletedProcess[str]:
    return tidscope("watch", "--format", "json", *args, "--run", cmd, user=user)


@pytest.mark.parametrize(
    "preset", ["thread", "process", "VM,SIGCHLD", "FS,FILES,SIGCHLD", "VM,FS,FILES,SIGHAND,THREAD"]
)
def test_run_decodes_the_flags_spawn_used(preset: str, tmp_path: Path) -> None:
    explain = tmp_path / "explain"
    spawn = f"{sys.executable} -m tidscope spawn"  # tidscope need not be on PATH
    proc = _watch_run(f"exec {spawn} -n 3 --flags {preset} --explain > {explain}")
    assert proc.returncode == 0, proc.stderr
    used = [int(v, 16) for v in EXPLAINED.findall(explain.read_text())]
    assert len(used) == 3, explain.read_text()
    events = _events(proc.stdout)
    (spawner,) = {e["tgid"] for e in events if e["event"] == "exec"}  # sh exec'd tidscope
    births = [e for e in events if e["event"] == "fork" and e["parent_tid"] == spawner]
    raw = [e for e in births if e["flags"] in used]
    assert [e["flags"] for e in raw] == used, births
    thread = flags.has(used[0], "THREAD")
    for e in raw:
        assert e["call"] == "clone"
        assert e["kind"] == ("thread" if thread else "process")
        assert e["tgid"] == (spawner if thread else e["tid"])
        assert e["flag_names"] == flags.names(e["flags"])
    exits = {e["tid"] for e in events if e["event"] == "exit"}
    assert {e["tid"] for e in raw} <= exits


def test_run_sees_a_thread_that_lives_under_a_millisecond() -> None:
    """The tracer stops the creator inside clone: no birth can be missed,
    however short the life, and each is classed from its flags."""
    code = (
        "from tidscope.core import clone\n"
        "for _ in range(50):\n"
        "    with clone.Children(1, park=False) as kids:\n"
        "        kids.join()"
    )
    proc = _watch_run(f"exec {sys.executable} -c '{code}'", "--threads-only", "--summary")
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stdout)
    summary = events.pop()["summary"]
    born = [e for e in events if e["event"] == "fork"]
    died = [e for e in events if e["event"] == "exit"]
    assert len(born) == len(died) == 50
    assert {e["kind"] for e in events} == {"thread"}
    (group,) = summary
    assert (group["threads_created"], group["threads_exited"]) == (50, 50)
    assert group["lifetimes_measured"] == 50


def test_run_exits_with_the_commands_status() -> None:
    assert tidscope("watch", "--run", "exit 7").returncode == 7
    proc = tidscope("watch", "--format", "json", "--run", "kill -TERM $$")
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    (gone,) = [e for e in _events(proc.stdout) if e["event"] == "exit"]
    assert (gone["signal"], gone["status"]) == (signal.SIGTERM, None)


def test_run_passes_signals_and_keeps_group_stops() -> None:
    """A stopped child stays stopped until SIGCONT, then finishes: the
    tracer neither swallows the stop nor the signals."""
    script = (
        "sleep 0.3 & c=$!; kill -STOP $c; sleep 0.5;"
        " s=$(cut -d' ' -f3 /proc/$c/stat); kill -CONT $c; wait $c; echo $s $?"
    )
    proc = tidscope("watch", "--format", "csv", "--run", script)
    assert proc.returncode == 0, proc.stderr
    # CMD's own line, among the events: stopped (t, as a traced task in a
    # group-stop shows in /proc), then it went on and exited 0
    assert "t 0" in proc.stdout.splitlines()


def test_sigterm_ends_the_watch_and_the_command_leaving_nothing() -> None:
    before = own_children()
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "watch", "--summary", "--run", "sleep 600 & sleep 600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watcher.stdout is not None
        lines: list[str] = []
        while sum(" fork " in line for line in lines) < 2:
            lines.append(readline(watcher.stdout, proc=watcher, seen=lines))
            assert lines[-1], lines
        traced = _tracees(watcher.pid)
        assert len(traced) >= 2
        watcher.send_signal(signal.SIGTERM)
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate(timeout=60)
    assert watcher.returncode == 128 + signal.SIGTERM, err
    assert "THREADS_CREATED" in out
    # killed; reaped by whoever inherited them (at once, or soon under load)
    wait_for("the tracees gone after the watch", lambda: _alive(traced) == [])
    assert own_children() == before


def _alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if os.path.exists(f"/proc/{pid}")]


def _tracees(tracer: int) -> list[int]:
    """The pids whose TracerPid is ``tracer``, once two sleeps are traced."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        found = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/status", errors="surrogateescape") as f:
                    status = f.read()  # another test's task may be named with any byte
            except OSError:
                continue
            if f"\nTracerPid:\t{tracer}\n" in status and status.startswith("Name:\tsleep\n"):
                found.append(int(name))
        if len(found) >= 2:
            return found
        time.sleep(0.01)
    raise AssertionError("the sleeps were never traced")


def test_run_works_unprivileged() -> None:
    """Tracing one's own child needs no privilege (Yama's scope 1 allows it).
    (CMD runs system programs: the uid may not reach this Python.)  Root
    drops to a uid of its own; another user is unprivileged already."""
    prefix = as_uid(unused_uid()) if os.geteuid() == 0 else []
    cmd = [*prefix, sys.executable, "-m", "tidscope", "watch", "--format", "json"]
    proc = run([*cmd, "--run", "sleep 0.1 & sleep 0.1; wait"])
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stdout)
    forks = [e for e in events if e["event"] == "fork"]
    assert len(forks) == 2 and {e["kind"] for e in forks} == {"process"}
    sleeps = {e["tid"] for e in events if e["event"] == "exec" and e["name"] == "sleep"}
    exits = {e["tid"] for e in events if e["event"] == "exit" and e["status"] == 0}
    assert sleeps == {e["tid"] for e in forks} and sleeps < exits


def test_refused_ptrace_is_one_line_and_leaves_nothing() -> None:
    before = own_children()
    cmd = [sys.executable, SECCOMP, "--deny", "ptrace", "--errno", "EPERM", "--"]
    proc = run([*cmd, "watch", "--run", "sleep 600"])
    assert proc.returncode == 1 and proc.stdout == ""
    line = one_error_line(proc)
    assert "PTRACE_SEIZE" in line and "forbids tracing" in line
    assert own_children() == before


def test_a_missing_command_is_the_shells_127() -> None:
    # a PATH directory we may not search would make sh say "Permission denied"
    proc = tidscope("watch", "--run", "no-such-command-here", env={"PATH": os.defpath})
    assert proc.returncode == 127
    assert "not found" in proc.stderr


def test_run_reads_clone3_flags_from_the_callers_struct(tmp_path: Path) -> None:
    """clone3(2) passes its flags in memory: they are read from the
    caller's struct clone_args, for raw children and for pthreads."""
    made = tmp_path / "made"
    code = (
        "import json, threading\n"
        "from tidscope.core import clone, flags\n"
        "with clone.Children(2, flags.bits('VM', 'FS', 'FILES', 'SIGHAND', 'THREAD'),"
        " clone3=True, park=False) as kids:\n"
        "    kids.join()\n"
        "    tids = list(kids.tids)\n"
        "t = threading.Thread(target=int)\n"
        "t.start()\n"
        "t.join()\n"
        f"open('{made}', 'w').write(json.dumps(tids))\n"
    )
    script = tmp_path / "clone3.py"
    script.write_text(code)
    proc = _watch_run(f"exec {sys.executable} {script}", "--threads-only")
    assert proc.returncode == 0, proc.stderr
    tids = json.loads(made.read_text())
    births = [e for e in _events(proc.stdout) if e["event"] == "fork"]
    assert len(births) == 3 and {e["call"] for e in births} == {"clone3"}
    raw = {e["tid"]: e for e in births if e["tid"] in tids}
    assert set(raw) == set(tids)
    for e in raw.values():
        assert e["flags"] == flags.bits("VM", "FS", "FILES", "SIGHAND", "THREAD")
        assert e["flag_names"] == flags.names(e["flags"], clone3=True)
    (pthread,) = [e for e in births if e["tid"] not in tids]
    assert flags.has(pthread["flags"], "THREAD", "VM", "SETTLS", "CHILD_CLEARTID")
