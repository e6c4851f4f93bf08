"""``watch --run`` and ``watch --poll`` against hostile commands, signals and
seccomp filters, on the real kernel.  Each test provokes one failure the
watch once had: a fork whose caller is killed inside the call, a signal
while a stop is being handled, an untraced orphan, a denied system call, a
32-bit task, a tracer of our own, scans slower than the interval.
"""

from __future__ import annotations

import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from helpers import TAG, as_uid, one_error_line, own_children, readline, run, tagged, unused_uid

from tidscope.core import flags
from tidscope.watch import poll as watch_poll

SECCOMP = str(Path(__file__).with_name("seccomp.py"))
TIDSCOPE = [sys.executable, "-m", "tidscope"]
# Forkers forking in a loop, each SIGKILLed at a random moment: traced, a
# forker spends most of its life stopped inside fork, so some are killed
# there, before the fork event that names the child is read.
FORK_KILL = """
import os, random, signal, sys, time
end = time.monotonic() + float(sys.argv[1])
kids = set()
while time.monotonic() < end:
    while len(kids) < 4:
        pid = os.fork()
        if pid == 0:
            while True:
                c = os.fork()
                if c == 0:
                    os._exit(0)
                os.waitpid(c, 0)
        kids.add(pid)
    victim = random.choice(sorted(kids))
    time.sleep(random.random() * 0.002)
    os.kill(victim, signal.SIGKILL)
    os.waitpid(victim, 0)
    kids.discard(victim)
for k in kids:
    os.kill(k, signal.SIGKILL)
    os.waitpid(k, 0)
"""
# A tree busy making and ending processes and threads, to be signalled.
BUSY = (
    "for i in 1 2 3; do sleep 60 & done; (while :; do /bin/true; done) &"
    " python3 -c 'import threading, time; [threading.Thread(target=time.sleep, args=(60,))"
    ".start() for _ in range(3)]'; wait"
)
# The tracer, sending itself SIGTERM while it handles the stop of a task
# stopped at birth before its parent's clone event (one it does not know yet).
MID_STOP = """
import os, signal, sys, time
from tidscope.core import signals
from tidscope.watch import tracer
from tidscope.errors import Terminated
handle = tracer.Tracer._stopped
def stopped(self, tid, status):
    if tid not in self._tgid:
        os.kill(os.getpid(), signal.SIGTERM)
    return handle(self, tid, status)
tracer.Tracer._stopped = stopped
with signals.terminating_signals():
    try:
        with tracer.Tracer(["/bin/sh", "-c", sys.argv[1]]) as t:
            for _ in t.events(time.monotonic() + 60):
                pass
        print("not signalled")
    except Terminated as sig:
        print("terminated", sig.signo)
"""
# A fork-like raw clone(2) with CLONE_UNTRACED, whose parent then exits: it
# comes back to tidscope (the subreaper) untraced.
UNTRACED = """
import os, sys
from tidscope.core.syscalls import syscall
pid = syscall("clone", 0x00800000 | 17, 0, 0, 0, 0)
if pid == 0:
    os.execv("/bin/sleep", ["sleep", "600"])
print(pid, flush=True)
"""
# 32-bit x86 (int $0x80, the ia32 numbers): a raw thread, then a raw process.
IA32 = r"""
static char stack[8192] __attribute__((aligned(16)));
static volatile int done;
static long sys(long nr, long a, long b)
{
	long r;
	__asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b) : "memory");
	return r;
}
void _start(void)
{
	long r = sys(120, 0x10f00, (long)(stack + sizeof stack)); /* VM|FS|FILES|SIGHAND|THREAD */
	if (r == 0) {
		done = 1;
		for (;;)
			sys(1, 0, 0);
	}
	while (!done)
		;
	r = sys(120, 17, 0); /* SIGCHLD: a process */
	if (r == 0)
		sys(1, 3, 0);
	sys(7, r, 0); /* waitpid */
	for (;;)
		sys(252, 0, 0);
}
"""


def _events(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def _left(tag: str) -> list[tuple[int, str]]:
    """What a run tagged ``tag`` left: (pid, state) of each process, after a
    generous while for the killed ones to go."""
    end = time.monotonic() + 30
    while True:
        found = []
        for pid in tagged(tag):
            try:
                with open(f"/proc/{pid}/stat", "rb") as f:
                    found.append((pid, f.read().rpartition(b")")[2].split()[0].decode()))
            except OSError:
                continue
        if not found or time.monotonic() > end:
            return found
        time.sleep(0.05)


def _watch(
    tag: str, *args: str, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run(
        [*(prefix or TIDSCOPE), "watch", "--format", "json", *args],
        env={TAG: tag},
        timeout=120,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "user", [False, pytest.param(True, marks=pytest.mark.root)], ids=["root", "unprivileged"]
)
def test_a_fork_whose_caller_is_killed_inside_it_is_reported_and_let_go(user: bool) -> None:
    """The child of a fork killed before its fork event stops at birth and
    no event ever names it: it was held stopped forever and the watch never
    ended (or died of ESRCH reading the dying caller).  Now it is let go and
    reported, with unknown flags and parent; every birth has its exit."""
    tag = f"hostile-forkkill-{os.getpid()}-{user}"
    prefix = [*as_uid(unused_uid()), *TIDSCOPE] if user else None
    before = own_children()
    code = shlex.quote(textwrap.dedent(FORK_KILL))
    proc = _watch(tag, "--run", f"exec python3 -c {code} 3", prefix=prefix)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    events = _events(proc.stdout)
    top = events[0]["tid"]
    forks = [e for e in events if e["event"] == "fork"]
    born = [e["tid"] for e in forks]
    ended = [e["tid"] for e in events if e["event"] == "exit"]
    assert sorted(born) == sorted(t for t in ended if t != top)
    unclaimed = [e for e in forks if "flags" not in e]
    assert unclaimed, "no forker was killed inside fork: the race was not provoked"
    for e in unclaimed:
        assert (e["kind"], e["tgid"], e["parent"]) == ("process", e["tid"], None)
        assert e["parent_tid"] is None
    claimed = [e for e in forks if "flags" in e]
    assert {e["call"] for e in claimed} == {"clone"}
    assert {e["kind"] for e in claimed} == {"process"}
    assert _left(tag) == [] and own_children() == before


def test_a_signal_while_a_stop_is_handled_leaves_nothing_stopped() -> None:
    """A terminating signal raised between taking a stop from the kernel and
    acting on it left that tracee stopped and unknown, and the cleanup
    waited for it forever.  Here the signal is sent (for real, to the
    tracer itself) at that very moment: while a task's stop at birth is
    handled.  It now waits until the stop is handled."""
    tag = f"hostile-midstop-{os.getpid()}"
    before = own_children()
    proc = run([sys.executable, "-c", MID_STOP, BUSY], env={TAG: tag}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["terminated", str(int(signal.SIGTERM))]
    assert _left(tag) == [] and own_children() == before


@pytest.mark.slow
def test_signals_at_random_moments_end_the_watch_with_128_plus_n() -> None:
    before = own_children()
    for i in range(30):
        tag = f"hostile-signal-{os.getpid()}-{i}"
        signo = random.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
        watcher = subprocess.Popen(
            [*TIDSCOPE, "watch", "--format", "json", "--run", BUSY],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, TAG: tag},
        )
        try:
            assert watcher.stdout is not None
            assert readline(watcher.stdout, proc=watcher, seen="the watch's first row").startswith(
                "{"
            )  # CMD's exec: signals are ours
            time.sleep(random.random() * 0.3)
            watcher.send_signal(signo)
            _, err = watcher.communicate(timeout=60)
        finally:
            if watcher.poll() is None:
                watcher.kill()
                watcher.communicate(timeout=60)
        assert watcher.returncode == 128 + signo, err
        assert err == ""
        assert _left(tag) == []
    assert own_children() == before


def test_an_untraced_orphan_is_killed_when_the_watch_ends_early(tmp_path: Path) -> None:
    """A CLONE_UNTRACED child comes back to tidscope untraced: the cleanup
    waited for it to end by itself (here 600 s).  Now every child of ours
    is killed with the tree."""
    script = tmp_path / "untraced.py"
    script.write_text(textwrap.dedent(UNTRACED))
    tag = f"hostile-untraced-{os.getpid()}"
    before = own_children()
    started = time.monotonic()
    proc = _watch(tag, "--duration", "1", "--run", f"{sys.executable} {script} > {tmp_path}/pid")
    assert proc.returncode == 0, proc.stderr
    assert time.monotonic() - started < 60
    orphan = int((tmp_path / "pid").read_text())
    assert not os.path.exists(f"/proc/{orphan}")
    assert _left(tag) == [] and own_children() == before


SLEEPS = "sleep 60 & sleep 60 & python3 -c 'import threading; threading.Thread(target=int).start()'"


@pytest.mark.parametrize(
    ("deny", "names", "args"),
    [
        ("process_vm_readv", "process_vm_readv", ("--run", SLEEPS)),  # clone3's flags
        ("wait4", "wait4", ("--run", SLEEPS)),
        ("pipe", "pipe2", ("--run", SLEEPS)),
        ("rt_sigprocmask", "rt_sigprocmask", ("--run", SLEEPS)),
        ("rt_sigtimedwait", "rt_sigtimedwait", ("--run", SLEEPS)),
        ("kill", "kill", ("--count", "2", "--run", SLEEPS)),
        ("clone", "fork", ("--run", SLEEPS)),
    ],
)
def test_a_denied_call_is_one_line_naming_it_and_leaves_nothing(
    deny: str, names: str, args: tuple[str, ...]
) -> None:
    """Each call --run makes, denied by seccomp: one line naming it (it was
    EPERM alone for most, "None failed" for pipe2, and the tracing hint for
    fork), exit 1, nothing left."""
    tag = f"hostile-deny-{deny}-{os.getpid()}"
    before = own_children()
    prefix = [sys.executable, SECCOMP, "--deny", deny, "--errno", "EPERM", "--"]
    proc = _watch(tag, *args, prefix=prefix)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    line = one_error_line(proc)
    assert line == f"tidscope watch: --run: {names}: EPERM (Operation not permitted)", line
    assert _left(tag) == [] and own_children() == before


def test_a_32bit_tasks_clone_is_read_by_its_own_numbers(tmp_path: Path) -> None:
    """An ia32 task calls clone as 120 with its flags in ebx: it was shown
    as call "120", flags 0, and its thread as a process of its own."""
    src = tmp_path / "ia32.c"
    src.write_text(IA32)
    exe = tmp_path / "ia32"
    build = ["gcc", "-m32", "-nostdlib", "-static", "-O1", "-fno-pie", "-no-pie"]
    made = subprocess.run(
        [*build, "-o", str(exe), str(src)], capture_output=True, check=False, timeout=120
    )
    if made.returncode != 0 or subprocess.run([str(exe)], check=False, timeout=120).returncode != 0:
        pytest.skip("no 32-bit x86 build or no ia32 emulation here")
    proc = _watch(f"hostile-ia32-{os.getpid()}", "--run", f"exec {exe}")
    assert proc.returncode == 0, proc.stderr
    events = _events(proc.stdout)
    top = events[0]["tid"]
    thread, process = [e for e in events if e["event"] == "fork"]
    assert (thread["call"], thread["kind"], thread["tgid"]) == ("clone", "thread", top)
    assert thread["flags"] == flags.bits("VM", "FS", "FILES", "SIGHAND", "THREAD")
    assert (process["call"], process["kind"]) == ("clone", "process")
    assert process["tgid"] == process["tid"]
    assert process["flags"] == signal.SIGCHLD
    exits = {e["tid"]: e for e in events if e["event"] == "exit"}
    assert exits[thread["tid"]]["kind"] == "thread" and exits[process["tid"]]["status"] == 3


def test_a_command_already_traced_is_told_who_traces_it(tmp_path: Path) -> None:
    """Under a tracer that follows children (strace -f, another watch
    --run), CMD is that tracer's from birth: the refusal named yama and
    seccomp.  Now it names the tracer."""
    err = tmp_path / "inner"
    proc = _watch(
        f"hostile-nested-{os.getpid()}",
        "--run",
        f"exec {sys.executable} -m tidscope watch --run true 2> {err}",
    )
    assert proc.returncode == 1, proc.stderr
    inner = err.read_text()
    assert inner.count("\n") == 1 and "Traceback" not in inner
    assert "PTRACE_SEIZE): EPERM (Operation not permitted): CMD was traced from its birth" in inner
    assert re.search(r"by process \d+ \(python[^)]*\), which traces", inner), inner
    assert "kernel.yama" not in inner


def test_scans_slower_than_the_interval_are_said_at_the_end() -> None:
    """--poll 0.000001 scans back to back (a core busy, as asked): the first
    line's "tasks that live less than about 1e-06 s" was not what was kept.
    The gap between scans is now said at the end when it was longer."""
    with watch_poll.Poller(0.000001) as poller:
        end = time.monotonic() + 60
        while poller.scans <= 2 and time.monotonic() < end:  # however slow a scan is
            for _ in poller.events(time.monotonic() + 0.1):
                pass
        assert poller.scans > 2
        line = poller.last_line
        assert line is not None
        gap = poller.longest_gap_ns / 1e9
        assert f"{gap:.3g} s" in line and "1e-06 s" in line
    with watch_poll.Poller(60) as poller:
        for _ in poller.events(time.monotonic() + 0.1):
            pass
        assert poller.last_line is None
    proc = run([*TIDSCOPE, "watch", "--poll", "0.000001", "--duration", "0.5"])
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stderr.splitlines()
    assert "polling /proc every 1e-06 s" in first
    assert last.startswith("tidscope watch: note: scans of /proc were up to ")


# A thread that execs while the leader lives (or after it exited, 5): the
# exec takes the leader's tid; the other thread is killed.
EXECER = """
import ctypes, os, platform, sys, threading, time
started = threading.Event()
def leader_gone():
    with open(f"/proc/self/task/{os.getpid()}/stat") as f:
        return f.read().rpartition(")")[2].split()[0] == "Z"
def later():
    started.wait()  # the other thread exists
    while sys.argv[1] == "zombie" and not leader_gone():
        time.sleep(0.001)
    os.execv("/bin/sh", ["sh", "-c", "exit 3"])  # (writes nothing: its stdout is the watch's)
threading.Thread(target=later).start()
threading.Thread(target=time.sleep, args=(30,)).start()
started.set()
if sys.argv[1] == "zombie":
    ctypes.CDLL(None).syscall({"x86_64": 60, "aarch64": 93}[platform.machine()], 5)
time.sleep(30)
"""


@pytest.mark.parametrize("leader", ["alive", "zombie"])
def test_a_threads_exec_is_reported_once_under_the_leaders_tid(leader: str) -> None:
    """The leader's exit is a leader's, not the process's (killed by the
    exec, status 0; or its own exit, status 5), the other thread's exit, the
    exec by the thread, and the new program's exit, the process's one exit,
    each once; the exec'ing thread's own tid never exits.  (The leader's
    exit was once said to be the process's: two process exits.)"""
    code = shlex.quote(textwrap.dedent(EXECER))
    proc = _watch(f"hostile-exec-{os.getpid()}", "--run", f"exec python3 -c {code} {leader}")
    assert proc.returncode == 3, proc.stderr
    events = _events(proc.stdout)
    top = events[0]["tid"]
    seq: dict[int, list[str]] = {}
    for e in events[2:]:  # after the exec of sh, then of python3
        seq.setdefault(e["tid"], []).append(e["event"])
    execer, sleeper = [e["tid"] for e in events if e["event"] == "fork"]
    assert seq == {execer: ["fork"], sleeper: ["fork", "exit"], top: ["exit", "exec", "exit"]}
    first, last = [e for e in events if e["event"] == "exit" and e["tid"] == top]
    assert (first["kind"], last["kind"]) == ("leader", "process")
    assert first["status"] == (5 if leader == "zombie" else 0) and last["status"] == 3
    assert [e["kind"] for e in events if e["event"] == "exit" and e["tid"] == sleeper] == ["thread"]
    (execed,) = [e for e in events[2:] if e["event"] == "exec"]
    assert (execed["tgid"], execed["parent_tid"], execed["name"]) == (top, execer, "sh")


@pytest.mark.parametrize("end", [("--count", "1"), ("--duration", "0.1")])
def test_run_ended_by_count_or_duration_kills_the_tree_and_exits_0(end: tuple[str, str]) -> None:
    tag = f"hostile-end-{end[0]}-{os.getpid()}"
    before = own_children()
    proc = _watch(tag, *end, "--run", BUSY)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    if end[0] == "--count":
        assert len(_events(proc.stdout)) == 1
    assert _left(tag) == [] and own_children() == before


def test_a_closed_output_ends_the_watch_with_141_and_leaves_nothing() -> None:
    tag = f"hostile-pipe-{os.getpid()}"
    before = own_children()
    watcher = subprocess.Popen(
        [*TIDSCOPE, "watch", "--run", BUSY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, TAG: tag},
    )
    assert watcher.stdout is not None and watcher.stderr is not None
    assert readline(watcher.stdout, proc=watcher, seen="the watch's header").startswith(b"TIME")
    watcher.stdout.close()  # as `| head -1` does
    assert watcher.wait(timeout=60) == 128 + signal.SIGPIPE
    assert watcher.stderr.read() == b""
    watcher.stderr.close()
    assert _left(tag) == [] and own_children() == before


def test_a_killed_watch_leaves_nothing_running_or_stopped() -> None:
    """SIGKILL cannot be caught: PTRACE_O_EXITKILL kills every tracee,
    running or stopped (t), when the tracer dies."""
    for i in range(5):
        tag = f"hostile-sigkill-{os.getpid()}-{i}"
        watcher = subprocess.Popen(
            [*TIDSCOPE, "watch", "--format", "json", "--run", BUSY],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, TAG: tag},
        )
        assert watcher.stdout is not None
        assert readline(watcher.stdout, proc=watcher, seen="the watch's first row").startswith(b"{")
        time.sleep(random.random() * 0.3)
        watcher.kill()
        assert watcher.wait(timeout=60) == -signal.SIGKILL
        watcher.stdout.close()
        assert _left(tag) == []


# 1000 threads and 1000 processes, 25 of each at a time, each ending at
# once; the tids it made, as it saw them.
CHURN = """
import json, os, sys, threading
threads, procs = [], []
lock = threading.Lock()
def body():
    with lock:
        threads.append(threading.get_native_id())
for _ in range(40):
    ts = [threading.Thread(target=body) for _ in range(25)]
    for t in ts:
        t.start()
    pids = []
    for _ in range(25):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        pids.append(pid)
    for t in ts:
        t.join()
    for p in pids:
        os.waitpid(p, 0)
    procs += pids
print(json.dumps({"pid": os.getpid(), "threads": threads, "procs": procs}), file=sys.stderr)
"""


def test_nothing_in_a_churning_tree_is_missed_and_every_event_is_named() -> None:
    """Every one of 2,000 short threads and processes is born and ends once,
    as the command itself saw them, each classed right and named (the
    name read at its stop: handled in batches, a task is often gone when
    its line is printed)."""
    code = shlex.quote(textwrap.dedent(CHURN))
    proc = _watch(f"hostile-churn-{os.getpid()}", "--run", f"exec python3 -c {code}")
    assert proc.returncode == 0, proc.stderr
    made = json.loads(proc.stderr)
    events = _events(proc.stdout)
    forks = [e for e in events if e["event"] == "fork"]
    assert all(e["parent"] == made["pid"] and "flags" in e for e in forks)
    assert sorted(e["tid"] for e in forks if e["kind"] == "thread") == sorted(made["threads"])
    assert sorted(e["tid"] for e in forks if e["kind"] == "process") == sorted(made["procs"])
    exits = sorted(e["tid"] for e in events if e["event"] == "exit")
    assert exits == sorted([made["pid"], *made["threads"], *made["procs"]])
    assert [e for e in events if e["name"] is None] == []


@pytest.mark.root
def test_run_under_the_task_limit_names_the_limit_and_the_fix() -> None:
    """--run whose fork is refused by RLIMIT_NPROC (an unused uid allowed
    one task, tidscope itself): the limit named with its numbers, and a fix
    for watch (spawn's "lower -n" is no option of watch's), as clone_errors
    says it for every command; it was the bare errno."""
    tag = f"hostile-nproc-{os.getpid()}"
    uid = unused_uid()
    prefix = ["prlimit", "--nproc=1", "--", *as_uid(uid), *TIDSCOPE]
    proc = _watch(tag, "--run", "true", prefix=prefix)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    line = one_error_line(proc)
    assert line.startswith("tidscope watch: --run: fork: EAGAIN"), line
    assert f"RLIMIT_NPROC is reached: uid {uid} runs" in line, line
    assert "RLIMIT_NPROC=1" in line and "kernel.threads-max=" in line, line
    assert "prlimit --nproc" in line and "lower -n" not in line, line
    assert _left(tag) == []


def test_a_leaders_stat_unread_in_a_poll_is_named_by_its_path() -> None:
    """A failed read of a leader's own stat (read as ``../stat`` from its
    group's task/ directory, held open) names /proc/PID/stat, not
    /proc/PID/task/../stat.  strace fails every open under the sleeper's
    task/ after the first (the directory itself)."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        inject = ["strace", "-f", "-o", "/dev/null", "-P", f"/proc/{sleeper.pid}/task"]
        inject += ["-e", "trace=openat", "-e", "inject=openat:error=ENOMEM:when=2+"]
        proc = run([*inject, *TIDSCOPE, "watch", "--poll", "--duration", "5"], timeout=60)
    finally:
        sleeper.kill()
        sleeper.wait(30)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    *notes, line = proc.stderr.splitlines()  # after the note that polling is lossy
    assert [n for n in notes if "note: polling" not in n] == [], proc.stderr
    assert f"tidscope watch: /proc/{sleeper.pid}/stat: ENOMEM" in line, line
    assert "/../" not in line, line
