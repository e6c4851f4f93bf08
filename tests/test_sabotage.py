"""verify-flags and verify-threads under sabotage: one syscall at a time
made to fail.

tests/seccomp.py makes one syscall (or one family: every stat call, every
open call...) fail with EPERM, unless another errno is named, in tidscope,
its labs, their helpers and their raw children alike.  On this kernel every
experiment and every thread fact passes when nothing is sabotaged, so a
``fail`` under sabotage is a false verdict: an observation that was never
made was taken as evidence.  Each run asks for every flag (or every fact)
at once; it must exit 0 or 1 without a traceback, print one JSON row per
flag (fact), and leave nothing behind.  Where the denied syscall is one an
experiment's observation needs (NEEDS, FACT_NEEDS below), its row must be
``error`` or ``skip`` (a false ``pass`` otherwise) and its reason must name
that syscall and the errno.

Each run has its own environment tag (helpers.tagged), its own TMPDIR (the
temporary directories tidscope makes go there), its own IPC namespace (held
open by a sleeping process, so that a leaked SysV semaphore or message queue
stays visible and is ours alone to count) and its own cgroup, under which
INTO_CGROUP makes its tidscope-* cgroup: other test runs on this machine can
neither hide a leftover nor fake one.  This module is the child subreaper
while it runs, so that a lab orphaned by a sabotaged tidscope comes back to
us (pid 1 here never reaps) and its zombie can be counted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import seccomp
from helpers import (
    TAG,
    cgroups_named,
    own_cgroup,
    reap_zombie_children,
    remove_cgroup,
    set_subreaper,
    tagged,
    tidscope,
)

from tidscope.lab.experiments import EXPERIMENTS
from tidscope.lab.facts import FACTS

SECCOMP = str(Path(__file__).with_name("seccomp.py"))
ALL = [e.flag for e in EXPERIMENTS]
ALL_FACTS = [f.name for f in FACTS]
RUNNABLE = [e.flag for e in EXPERIMENTS if not e.skip]
LINGER = 5.0  # seconds a lab orphaned by a sabotaged tidscope may take to die

# Every experiment needs these: the lab is forked (clone), answers through a
# pipe (pipe2, read) that tidscope polls (poll), is reaped (wait4), and
# terminating signals are blocked around the fork (rt_sigprocmask).
WHOLE_RUN = ("clone", "pipe", "read", "poll", "wait4", "rt_sigprocmask")
# What each experiment's observations need, from tidscope/lab/experiments/*.py:
# the child's program, the parent's side, and the lab's set-up (isolated
# labs unshare UTS, mount and IPC namespaces and remount / private).
LAB = ("unshare", "mount")
NEW_NS = ("stat", *LAB)  # /proc/<pid>/ns/<type> inodes, stat(2) by the parent
# A lab's helper process (lab/helper.py: the tracer, a fact's holder): our
# pidfd for it, and its check that its parent is the lab.
HELPER = ("pidfd_open", "getppid")
NEEDS: dict[str, tuple[str, ...]] = {
    "VM": ("getcwd", "kcmp"),  # child getcwd() into private memory; our getcwd()
    "FS": ("chdir", "umask", "getcwd", "kcmp"),  # child chdir(/proc), umask(); ours
    "FILES": ("open", "close", "stat", "kcmp"),  # open /dev/null; child close(); our fstat()
    "SIGHAND": ("rt_sigaction", "open", "kcmp"),  # child rt_sigaction(); our /proc status
    "PIDFD": ("open",),  # /proc/self/fdinfo/<pidfd>
    # The lab traced by a helper: its PTRACE_SEIZE, the child's TracerPid
    # (/proc status) and getppid(), the tracer's waitpid (wait4: WHOLE_RUN).
    "PTRACE": ("ptrace", "open", *HELPER),
    "UNTRACED": ("ptrace", "open", *HELPER),
    # The child's getppid(), /proc stat and status, the SIGCHLD we take.
    "DETACHED": ("getppid", "open", "rt_sigtimedwait"),
    "VFORK": ("nanosleep", "clock_gettime"),  # the child's sleep and clock reading
    "PARENT": ("getppid", "open"),  # child getppid(); /proc/<child>/status PPid
    "THREAD": ("getpid", "open"),  # child getpid(); /proc/<child>/status Tgid
    "NEWNS": ("mkdir", "mount", *NEW_NS),  # the mount point; child mount(); our stat()
    "SYSVSEM": ("semget", "semctl", "semop", "kcmp", *LAB),  # ours and the child's semop()
    "SETTLS": ("arch_prctl",),  # ours and the child's ARCH_GET_FS
    "PARENT_SETTID": (),  # only clone's own words
    "CHILD_CLEARTID": (),  # a raw thread of ours sleeps on the word: futex (see below)
    "CHILD_SETTID": (),
    "NEWCGROUP": ("open", *NEW_NS),  # child openat/read of /proc/self/cgroup; ours
    "NEWUTS": ("sethostname", "uname", *NEW_NS),  # child sethostname(); our uname()
    "NEWIPC": ("msgget", "msgctl", *NEW_NS),  # child msgget(); our msgctl(IPC_STAT)
    "NEWUSER": ("getuid", *NEW_NS),  # child getuid()
    "NEWPID": ("getpid", *NEW_NS),  # child getpid()
    "NEWNET": ("socket", "bind", *NEW_NS),  # ours and the child's abstract bind()
    "IO": ("ioprio_set", "ioprio_get", "kcmp"),  # ours and the child's ioprio_set()
    "NEWTIME": ("clone3", *NEW_NS),
    "CLEAR_SIGHAND": ("clone3", "rt_sigaction", "open"),  # our handler; child's; SigCgt
    "INTO_CGROUP": ("clone3", "mkdir", "open"),  # mkdir the cgroup; open it and /proc
}
NOT_NEEDED: dict[tuple[str, str], set[str]] = {}
# What each thread fact's looks need (tidscope/lab/facts/*.py), beyond WHOLE_RUN.
FACT_NEEDS: dict[str, tuple[str, ...]] = {
    # a raw thread's setresuid() and geteuid(), every Uid: line, libc's
    # setresuid (which signals every pthread with tgkill)
    "credentials": ("setresuid", "geteuid", "tgkill", "open"),
    # raw threads in rt_sigtimedwait (seen in /proc syscall), our kill()s
    "process-signal": ("rt_sigtimedwait", "kill", "open"),
    "thread-signal": ("tgkill", "kill", "open"),  # SigPnd and ShdPnd in /proc status
    # a holder stopped through its pidfd and by tgkill; states in /proc;
    # the stop as waitid tells it
    "sigstop": ("pidfd_send_signal", "tgkill", "waitid", "open", "stat", *HELPER),
    # tgkill to two raw threads of a holder; its SigPnd; waitid; the tasks left
    "fatal-signal": ("tgkill", "waitid", "open", "stat", *HELPER),
    # the exec'ing pthread's nice mark, its execve; /proc before and after
    "exec": ("getpriority", "setpriority", "execve", "waitid", "open", "stat", *HELPER),
    # raw threads waiting in rt_sigtimedwait, let go by tgkill; the leader's
    # state, ps (execve), waitid and the pidfd
    "leader-exit": (
        "rt_sigtimedwait",
        "tgkill",
        "waitid",
        "open",
        "stat",
        *HELPER,
        *(("execve",) if shutil.which("ps") else ()),
    ),
    # the lab's PID namespace (unshare: an isolated lab's), its init (a
    # helper) and clone3 with set_tid there; NSpid in /proc status
    "pid-namespaces": ("clone3", "getpid", "open", *HELPER, *LAB),
    "pidfds": ("pidfd_open", "pidfd_send_signal", "waitid", "open"),
}
# pthread_create falls back to clone(2) when clone3 says ENOSYS: the facts
# that start pthreads do not need clone3 then.
FACT_NOT_NEEDED: dict[tuple[str, str], set[str]] = {("clone3", "ENOSYS"): {"credentials", "exec"}}
# Where the errno cannot be named: Python says only "can't start new
# thread" when pthread_create's clone3 is refused (the row names clone3).
ERRNO_UNTOLD: dict[tuple[str, str], set[str]] = {("clone3", "EPERM"): {"credentials", "exec"}}
# Denied too, with no verdict required: only cleanup needs them (rmdir,
# umount2: whatever they would remove must still not be left), or nothing
# observed does (prctl: PR_SET_PDEATHSIG).  futex is not denied: glibc
# aborts the process when futex fails ("The futex facility returned an
# unexpected error code"), which no program can be asked to survive.
OTHERS = ("rmdir", "umount2", "prctl")
# Leftovers nothing could remove: a cgroup is a directory of the one global
# cgroup2 tree, and only rmdir(2) removes it.  tidscope must then name each
# on stderr.  (A temporary directory need not be made where it would stay,
# nor a semaphore outside an IPC namespace of the lab's own.)
UNREMOVABLE = {("rmdir", "EPERM"): {"cgroup"}}
# How a reason may name a denied family.
SPELLED = {
    "stat": ("stat",),
    "open": ("open",),
    "mkdir": ("mkdir",),
    "rmdir": ("rmdir", "unlink"),
    "pipe": ("pipe",),
    "clone": ("clone", "fork"),
    "poll": ("poll",),
    "execve": ("execve",),
}


def _denials() -> list[tuple[str, str]]:
    needed = [n for table in (NEEDS, FACT_NEEDS) for v in table.values() for n in v]
    names = dict.fromkeys([*WHOLE_RUN, *needed, *OTHERS])
    out = [(n, "EPERM") for n in names]
    out += [("kcmp", "ENOSYS"), ("clone3", "ENOSYS")]  # kernels without kcmp or clone3
    # EAGAIN makes Python's buffered reads return None instead of raising
    out += [("read", "EAGAIN")]
    arch = seccomp.machine()
    return [(n, e) for n, e in out if _exists(n, arch)]


def _exists(name: str, arch: str) -> bool:
    try:
        seccomp.numbers([name], arch)
    except ValueError:
        return False
    return True


DENIALS = _denials()
# The default run makes these three; the others are slow (a run of every
# experiment each, about 1.4 s): pytest -m slow makes them all.
QUICK = {("open", "EPERM"), ("read", "EAGAIN"), ("clone3", "ENOSYS")}


def _params(cases: Sequence[tuple[str, ...]]) -> list[Any]:
    """Each case of a denial (its first two items) a param, slow unless QUICK."""
    return [
        pytest.param(*c, id="-".join([_id(c[0], c[1]), *c[2:]]), marks=slow(c[0], c[1]))
        for c in cases
    ]


def slow(deny: str, err: str) -> list[pytest.MarkDecorator]:
    return [] if (deny, err) in QUICK else [pytest.mark.slow]


def _needs(flag: str, deny: str, err: str) -> bool:
    if flag not in RUNNABLE or flag in NOT_NEEDED.get((deny, err), set()):
        return False
    return deny in WHOLE_RUN or deny in NEEDS[flag]


def _fact_needs(fact: str, deny: str, err: str) -> bool:
    if fact in FACT_NOT_NEEDED.get((deny, err), set()):
        return False
    return deny in WHOLE_RUN or deny in FACT_NEEDS[fact]


def _id(deny: str, err: str) -> str:
    return deny if err == "EPERM" else f"{deny}-{err}"


# -- the wrapper itself ----------------------------------------------------------------

PROBE = """
import errno, json, os
from tidscope.core.syscalls import syscall

def raw(name):
    try:
        return syscall(name)
    except OSError as err:
        return errno.errorcode[err.errno]

pid = os.fork()
if pid == 0:  # a forked child is filtered too
    os._exit(0 if raw("getppid") == "EPERM" else 1)
_, status = os.waitpid(pid, 0)
with open("/proc/self/stat") as f:
    real = int(f.read().rpartition(")")[2].split()[1])
print(json.dumps(dict(getppid=raw("getppid"), getpid=raw("getpid"), os_getppid=os.getppid(),
                      real_ppid=real, child=os.waitstatus_to_exitcode(status))))
"""


def _probe(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, SECCOMP, *args, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    value: dict[str, Any] = json.loads(proc.stdout)
    return value


def test_the_denied_syscall_fails_in_the_process_and_its_children() -> None:
    got = _probe("--deny", "getppid")
    assert got["getppid"] == "EPERM"
    assert got["os_getppid"] == -errno.EPERM  # glibc's getppid cannot fail: it returns -1
    assert isinstance(got["getpid"], int) and got["getpid"] > 0
    assert got["child"] == 0


def test_the_errno_is_the_one_asked_for() -> None:
    assert _probe("--deny", "getppid", "--errno", "EIO")["getppid"] == "EIO"


def test_a_syscall_not_denied_is_left_alone() -> None:
    got = _probe("--deny", "getuid,kcmp")
    assert got["getppid"] == got["os_getppid"] == got["real_ppid"] > 0


def test_exit_is_never_denied() -> None:
    for name in ("exit", "exit_group"):
        with pytest.raises(ValueError, match="never denied"):
            seccomp.numbers([name])


def test_the_table_agrees_with_the_core() -> None:
    from tidscope.core.syscalls import SYSCALLS

    table = seccomp.SYSCALLS[seccomp.machine()]
    both = set(table) & set(SYSCALLS)
    assert len(both) > 30
    assert {n: table[n] for n in both} == {n: SYSCALLS[n] for n in both}


# -- one sabotaged run, and what it left ------------------------------------------


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess[str]
    rows: list[dict[str, Any]] | None
    left: dict[str, list[str]] = field(default_factory=dict)

    def where(self) -> str:
        return (
            f"exit {self.proc.returncode}\nstdout: {self.proc.stdout}\nstderr: {self.proc.stderr}"
        )


class Sandbox:
    """An IPC namespace and a cgroup of our own, and every run made in them."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--ipc", "sleep", "3600"])
        ours = os.readlink("/proc/self/ns/ipc")
        deadline = time.monotonic() + 10
        while _ipc_ns(self.holder.pid) in (ours, None):
            assert time.monotonic() < deadline, "unshare --ipc did not start"
            time.sleep(0.005)
        self.cgroup = own_cgroup()
        self.runs: dict[tuple[str, str, str], Outcome] = {}

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait(10)
        if self.cgroup:
            remove_cgroup(self.cgroup)

    def ipc(self) -> set[str]:
        """SysV semaphores and message queues in our IPC namespace."""
        ids: set[str] = set()
        for kind in ("sem", "msg"):
            proc = subprocess.run(
                [
                    "nsenter",
                    f"--ipc=/proc/{self.holder.pid}/ns/ipc",
                    "cat",
                    f"/proc/sysvipc/{kind}",
                ],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            ids.update(f"{kind} {ln.split()[1]}" for ln in proc.stdout.splitlines()[1:])
        return ids

    def run(self, deny: str, err: str, what: str = "verify-flags") -> Outcome:
        """``what`` (verify-flags, or verify-threads) of everything under
        the denial, once per module."""
        if (what, deny, err) not in self.runs:
            self.runs[what, deny, err] = self._run(deny, err, what)
        return self.runs[what, deny, err]

    def _run(self, deny: str, err: str, what: str) -> Outcome:
        tag = uuid.uuid4().hex
        tmp = tempfile.mkdtemp(prefix="sabotage-")
        ipc_before = self.ipc()
        cmd = [
            *("nsenter", f"--ipc=/proc/{self.holder.pid}/ns/ipc", "--"),
            *(sys.executable, SECCOMP, "--deny", deny, "--errno", err),
            *(["--cgroup", self.cgroup] if self.cgroup else []),
            *("--", what, *(ALL if what == "verify-flags" else ALL_FACTS), "--format", "json"),
        ]
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=180,
            env={**os.environ, TAG: tag, "TMPDIR": tmp},
            cwd="/",
            check=False,
        )
        left = {
            "tmp": sorted(os.listdir(tmp)),
            "ipc": sorted(self.ipc() - ipc_before),
            "cgroup": cgroups_named(self.cgroup) if self.cgroup else [],
            "tasks": [str(p) for p in _lingering(tag)],
        }
        _clean(tag, tmp, self.cgroup)
        try:
            rows = json.loads(proc.stdout)
        except ValueError:
            rows = None
        return Outcome(proc, rows, left)


def _ipc_ns(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/ipc")
    except OSError:
        return None


def _lingering(tag: str) -> list[int]:
    """Tagged tasks still there ``LINGER`` seconds after the run, our
    adopted zombies reaped meanwhile (a lab orphaned by a sabotaged tidscope
    dies of its PR_SET_PDEATHSIG; it must not live on)."""
    deadline = time.monotonic() + LINGER
    while True:
        reap_zombie_children(set())
        left = tagged(tag)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.01)


def _clean(tag: str, tmp: str, cgroup: str | None) -> None:
    """Remove what a run left, so that the next run starts clean."""
    for pid in tagged(tag):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while tagged(tag) and time.monotonic() < deadline:
        reap_zombie_children(set())
        time.sleep(0.01)
    reap_zombie_children(set())
    shutil.rmtree(tmp, ignore_errors=True)
    if cgroup:
        for sub in reversed(cgroups_named(cgroup)):
            remove_cgroup(os.path.join(cgroup, sub))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """Only root can make it (unshare --ipc, nsenter, a cgroup): its tests
    are marked root.  Should it fail, we are no subreaper after it: every
    orphan of a later test would be our zombie."""
    set_subreaper(True)
    try:
        box = Sandbox()
        try:
            yield box
        finally:
            box.close()
    finally:
        set_subreaper(False)
        reap_zombie_children(set())


# -- the verdicts -------------------------------------------------------------------


@pytest.mark.root
@pytest.mark.parametrize(("deny", "err"), _params(DENIALS))
def test_rows_are_printed_and_none_is_a_false_fail(sandbox: Sandbox, deny: str, err: str) -> None:
    out = sandbox.run(deny, err)
    assert "Traceback" not in out.proc.stderr, out.where()
    assert out.proc.returncode in (0, 1), out.where()
    assert out.rows is not None, "stdout is not JSON:\n" + out.where()
    assert sorted(r["flag"] for r in out.rows) == sorted(f"CLONE_{f}" for f in ALL), out.where()
    false = [
        f"{r['flag']}: fail, {r['reason']} (with: {r['with_flag']}; without: {r['without_flag']})"
        for r in out.rows
        if r["verdict"] == "fail"
    ]
    assert not false, f"{deny} denied ({err}), yet:\n" + "\n".join(false)


@pytest.mark.root
@pytest.mark.parametrize(("deny", "err"), _params(DENIALS))
def test_nothing_left_behind(sandbox: Sandbox, deny: str, err: str) -> None:
    out = sandbox.run(deny, err)
    unremovable = UNREMOVABLE.get((deny, err), set())
    left = {k: v for k, v in out.left.items() if v and k not in unremovable}
    assert not left, f"{deny} denied ({err}): left behind {left}; stderr: {out.proc.stderr}"
    for kind in unremovable:
        unnamed = [x for x in out.left[kind] if os.path.basename(x) not in out.proc.stderr]
        assert not unnamed, f"{kind} left and not named on stderr: {unnamed}"


FAILED_STEPS = [(d, e, f) for d, e in DENIALS for f in RUNNABLE if _needs(f, d, e)]


@pytest.mark.root
@pytest.mark.parametrize(("deny", "err", "flag"), _params(FAILED_STEPS))
def test_a_failed_observation_is_an_error_naming_it(
    sandbox: Sandbox, deny: str, err: str, flag: str
) -> None:
    out = sandbox.run(deny, err)
    assert out.rows is not None, "stdout is not JSON:\n" + out.where()
    row = next((r for r in out.rows if r["flag"] == f"CLONE_{flag}"), None)
    assert row is not None, out.where()
    assert row["verdict"] in ("error", "skip"), row
    names = SPELLED.get(deny, (deny,))
    assert any(n in row["reason"].lower() for n in names), f"{deny} is not named: {row}"
    assert err in row["reason"], f"{err} is not named: {row}"


# -- the thread facts (verify-threads) ------------------------------------------------


@pytest.mark.root
@pytest.mark.parametrize(("deny", "err"), _params(DENIALS))
def test_fact_rows_are_printed_and_none_is_a_false_fail(
    sandbox: Sandbox, deny: str, err: str
) -> None:
    out = sandbox.run(deny, err, "verify-threads")
    assert "Traceback" not in out.proc.stderr, out.where()
    assert out.proc.returncode in (0, 1), out.where()
    assert out.rows is not None, "stdout is not JSON:\n" + out.where()
    assert [r["fact"] for r in out.rows] == ALL_FACTS, out.where()
    false = [
        f"{r['fact']}: fail, {r['reason']} (shows: {r['shows']}; contrast: {r['contrast']})"
        for r in out.rows
        if r["verdict"] == "fail"
    ]
    assert not false, f"{deny} denied ({err}), yet:\n" + "\n".join(false)


@pytest.mark.root
@pytest.mark.parametrize(("deny", "err"), _params(DENIALS))
def test_facts_leave_nothing_behind(sandbox: Sandbox, deny: str, err: str) -> None:
    out = sandbox.run(deny, err, "verify-threads")
    left = {k: v for k, v in out.left.items() if v}
    assert not left, f"{deny} denied ({err}): left behind {left}; stderr: {out.proc.stderr}"


FACT_FAILED_STEPS = [(d, e, f) for d, e in DENIALS for f in ALL_FACTS if _fact_needs(f, d, e)]


@pytest.mark.root
@pytest.mark.parametrize(("deny", "err", "fact"), _params(FACT_FAILED_STEPS))
def test_a_failed_fact_look_is_an_error_naming_it(
    sandbox: Sandbox, deny: str, err: str, fact: str
) -> None:
    """No false pass: a fact whose look needed the denied syscall is
    ``error`` (or ``skip``: a kernel without clone3), naming it."""
    out = sandbox.run(deny, err, "verify-threads")
    assert out.rows is not None, "stdout is not JSON:\n" + out.where()
    row = next((r for r in out.rows if r["fact"] == fact), None)
    assert row is not None, out.where()
    assert row["verdict"] in ("error", "skip"), row
    names = SPELLED.get(deny, (deny,))
    assert any(n in row["reason"].lower() for n in names), f"{deny} is not named: {row}"
    if fact not in ERRNO_UNTOLD.get((deny, err), set()):
        assert err in row["reason"], f"{err} is not named: {row}"


def test_pidfd_with_five_descriptors_is_never_a_fail() -> None:
    """RLIMIT_NOFILE=5: stdin, stdout, stderr and the lab's pipe leave the
    pidfd the last slot, and opening its fdinfo fails with EMFILE."""
    proc = tidscope(
        "verify-flags", "PIDFD", "--format", "json", prefix=["prlimit", "--nofile=5", "--"]
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["verdict"] != "fail", row
    if row["verdict"] != "pass":
        assert "EMFILE" in row["reason"], row
