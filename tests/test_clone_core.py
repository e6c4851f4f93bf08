"""The raw-clone core on the real kernel: identities, joins, stacks, signals, leaks."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from helpers import python

from tidscope.core import _rawclone, flags

PRELUDE = """
import json, os, signal, threading, time
from tidscope.core import flags
from tidscope.core import _rawclone
from tidscope.core.clone import Children, Op, DEFAULT_STACK, scratch, private, result, stack
def tasks(): return sorted(int(t) for t in os.listdir('/proc/self/task'))
"""


def test_threads_share_our_pid_and_live_only_while_held() -> None:
    out = python(
        PRELUDE
        + """
with Children(3) as ch:
    held = tasks()
    reps = ch.reports()
    comms = [open(f'/proc/self/task/{t}/comm').read().strip() for t in ch.tids]
print(json.dumps(dict(me=os.getpid(), ppid=os.getppid(), held=held, after=tasks(),
    seen=[r.results for r in reps], tids=[r.tid for r in reps], comms=comms)))
"""
    )
    tids = out["tids"]
    assert len(set(tids)) == 3
    assert out["me"] not in tids
    for (pid, tid, ppid, named), want in zip(out["seen"], tids, strict=True):
        assert (pid, tid, ppid, named) == (out["me"], want, out["ppid"], 0)
    assert set(tids) <= set(out["held"])
    assert out["after"] == [out["me"]]
    assert out["comms"] == ["tidscope-1", "tidscope-2", "tidscope-3"]


def test_processes_have_own_pids_our_ppid_and_are_reaped() -> None:
    out = python(
        PRELUDE
        + """
with Children(2, flags.PROCESS) as ch:
    reps = ch.reports()
    alive = [os.path.exists(f'/proc/{t}') for t in ch.tids]
print(json.dumps(dict(me=os.getpid(), seen=[r.results for r in reps], tids=[r.tid for r in reps],
    alive=alive, after=[os.path.exists(f'/proc/{r.tid}') for r in reps],
    status=[r.wstatus for r in reps])))
"""
    )
    assert out["alive"] == [True, True]
    assert out["after"] == [False, False]  # reaped: not even a zombie
    for (pid, tid, ppid, _), want in zip(out["seen"], out["tids"], strict=True):
        assert pid == tid == want != out["me"]
        assert ppid == out["me"]
    assert out["status"] == [0, 0]


@pytest.mark.parametrize(
    "flag_set",
    [
        "VM",  # a process sharing our memory, exit signal 0: reaped with __WALL
        "VM,SIGCHLD",
        "VM,FS,FILES,SIGHAND,THREAD",  # a thread without CLEARTID: joined by polling
        "thread,CHILD_SETTID",
        "thread,SETTLS",
        "thread,IO",
        "FS,FILES,SIGCHLD",
        "VFORK,VM,SIGCHLD",  # vfork: the parent resumes after the child exited
        "PIDFD,SIGCHLD",
    ],
)
def test_flag_sets_join_cleanly(flag_set: str) -> None:
    out = python(
        PRELUDE
        + f"""
fds = sorted(os.listdir('/proc/self/fd'))
value = flags.parse({flag_set!r})
with Children(2, value) as ch:
    reps = ch.reports()
print(json.dumps(dict(me=os.getpid(), seen=[r.results for r in reps], tids=[r.tid for r in reps],
    words=[(r.ptid_word, r.ctid_word, r.pidfd) for r in reps], tasks=tasks(),
    fds=sorted(os.listdir('/proc/self/fd')) == fds,
    gone=[not os.path.exists(f'/proc/{{r.tid}}') for r in reps])))
"""
    )
    value = flags.parse(flag_set)
    assert out["tasks"] == [out["me"]]
    assert out["gone"] == [True, True]
    assert out["fds"], "a pidfd or other fd leaked"
    for (pid, tid, _ppid, _), want, (ptid, ctid, pidfd) in zip(
        out["seen"], out["tids"], out["words"], strict=True
    ):
        assert tid == want
        assert pid == (out["me"] if flags.has(value, "THREAD") else want)
        if flags.has(value, "CHILD_SETTID"):
            assert ctid in (want, 0)  # the kernel wrote the tid, then cleared it
        if flags.has(value, "PIDFD"):
            assert pidfd >= 0 or ptid >= 0


@pytest.mark.parametrize("flag_set", ["thread", "process"])
@pytest.mark.parametrize("style", [False, True], ids=["block", "growsdown"])
def test_guard_page_below_each_stack(flag_set: str, style: bool) -> None:
    """uname(2) into the guard page fails with EFAULT; into the stack it works."""
    page = _rawclone.PAGE_SIZE
    out = python(
        PRELUDE
        + f"""
prog = [Op('uname', (stack(-{page}),)), Op('uname', (stack(0),))]
with Children(2, flags.parse({flag_set!r}), program=prog, growsdown={style}) as ch:
    print(json.dumps([r.results for r in ch.reports()]))
"""
    )
    import errno

    assert out == [[-errno.EFAULT, 0]] * 2


def test_children_never_touch_their_stacks() -> None:
    """A thousand held threads add less than a page of memory each: their
    stacks stay unfaulted, only their slots are written."""
    out = python(
        PRELUDE
        + """
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0])
with Children(10, program=()):
    pass
before = rss()
with Children(1000) as ch:
    during = rss()
print(json.dumps((during - before) / 1000))
"""
    )
    assert out < 4.0  # KiB per thread: a touched stack alone would be 4


def test_children_block_every_signal_and_parent_mask_is_restored() -> None:
    out = python(
        PRELUDE
        + """
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
before = sorted(signal.pthread_sigmask(signal.SIG_BLOCK, set()))
with Children(2) as ch:
    blk = [open(f'/proc/self/task/{t}/status').read().split('SigBlk:')[1].split()[0]
           for t in ch.tids]
after = sorted(signal.pthread_sigmask(signal.SIG_BLOCK, set()))
print(json.dumps(dict(blk=blk, same=before == after, before=[int(s) for s in before])))
"""
    )
    assert out["same"] and out["before"] == [signal.SIGUSR2]
    unblockable = (1 << (signal.SIGKILL - 1)) | (1 << (signal.SIGSTOP - 1))
    for mask in out["blk"]:
        assert int(mask, 16) == ((1 << 64) - 1) & ~unblockable


def test_process_signals_never_run_on_raw_threads() -> None:
    """A flood of SIGUSR1 (Python handler) while 8 raw threads live: every
    handler runs on the main thread and nothing crashes."""
    out = python(
        PRELUDE
        + """
ran = []
signal.signal(signal.SIGUSR1, lambda s, f: ran.append(threading.get_native_id()))
with Children(8) as ch:
    for _ in range(300):
        os.kill(os.getpid(), signal.SIGUSR1)
    time.sleep(0.05)
print(json.dumps(dict(ran=sorted(set(ran)), n=len(ran), me=os.getpid())))
"""
    )
    assert out["n"] > 0
    assert out["ran"] == [out["me"]]


def test_every_exit_path_joins() -> None:
    out = python(
        PRELUDE
        + """
results = {}
for exc in (RuntimeError, KeyboardInterrupt):
    try:
        with Children(3) as ch:
            raise exc()
    except BaseException as e:
        results[type(e).__name__] = tasks()
print(json.dumps(dict(me=os.getpid(), results=results)))
"""
    )
    assert out["results"] == {"RuntimeError": [out["me"]], "KeyboardInterrupt": [out["me"]]}


def test_join_releases_the_gil() -> None:
    """A child blocks in read(2) on a pipe; a Python thread joins it while
    the main thread, still running Python, writes the byte that frees it."""
    out = python(
        PRELUDE
        + """
r, w = os.pipe()
ch = Children(1, program=[Op('read', (r, scratch(0), 1))], park=False).__enter__()
joiner = threading.Thread(target=ch.join)
joiner.start()
time.sleep(0.2)
alive_while_joining = joiner.is_alive()
os.write(w, b'x')
joiner.join(10)
print(json.dumps(dict(alive=alive_while_joining, done=not joiner.is_alive(),
    read=ch.report(0).results[0])))
ch.close()
"""
    )
    assert out == {"alive": True, "done": True, "read": 1}


def test_thousand_cycles_leak_nothing() -> None:
    """1000 spawn/join cycles: no fd, task or child left; the stack cache
    keeps at most one mapping per kind of group, and trimming it gives back
    exactly the mappings we started with."""
    out = python(
        PRELUDE
        + """
def snap():
    me = os.getpid()
    return dict(fds=len(os.listdir('/proc/self/fd')),
                maps=open('/proc/self/maps').read().count('\\n'),
                tasks=tasks(),
                kids=open(f'/proc/self/task/{me}/children').read().split())
base = snap()
for i in range(1000):
    with Children(2, flags.THREAD if i % 2 else flags.PROCESS) as ch:
        pass
cached = snap()
_rawclone.trim_stack_cache()
print(json.dumps(dict(base=base, cached=cached, end=snap())))
""",
        timeout=120,
    )
    assert out["end"] == out["base"]
    assert out["cached"]["maps"] - out["base"]["maps"] == 2  # a thread and a process group
    assert {**out["cached"], "maps": 0} == {**out["base"], "maps": 0}


def test_clone_flag_values_match_the_kernel_headers(tmp_path: os.PathLike[str]) -> None:
    import subprocess

    names = [n for n in flags.FLAGS if n not in ("CLEAR_SIGHAND", "INTO_CGROUP")]
    src = "#include <stdio.h>\n#include <linux/sched.h>\nint main(void){\n"
    src += "".join(f'printf("{n} %llu\\n", (unsigned long long)CLONE_{n});\n' for n in names)
    src += 'printf("CLEAR_SIGHAND %llu\\n", CLONE_CLEAR_SIGHAND);\n'
    src += 'printf("INTO_CGROUP %llu\\n", CLONE_INTO_CGROUP);\nreturn 0;}\n'
    c = os.path.join(tmp_path, "f.c")
    exe = os.path.join(tmp_path, "f")
    with open(c, "w") as f:
        f.write(src)
    subprocess.run(["cc", "-o", exe, c], check=True, timeout=120)
    got = dict(
        line.split() for line in subprocess.check_output([exe], text=True, timeout=60).splitlines()
    )
    assert {k: int(v) for k, v in got.items()} == flags.FLAGS


@pytest.mark.parametrize(("flag_set", "shared"), [("thread", True), ("process", False)])
def test_private_area_is_ours_only_with_clone_vm(flag_set: str, shared: bool) -> None:
    """getcwd(2) into the private area lands in our memory iff CLONE_VM."""
    out = python(
        PRELUDE
        + f"""
with Children(1, flags.parse({flag_set!r}), program=[Op('getcwd', (private(0), 128))]) as ch:
    ch.join()
    area = ch._group.private()
print(json.dumps(area.split(b'\\0')[0].decode()))
"""
    )
    assert out == ("/" if shared else "")


def test_ops_chain_results() -> None:
    """openat → read(result 0) → close(result 0): a child reads a file."""
    out = python(
        PRELUDE
        + """
import struct
path = b'/proc/self/comm\\0'
prog = [Op('openat', (-100, scratch(0), os.O_RDONLY)), Op('read', (result(0), scratch(64), 64)),
        Op('close', (result(0),))]
with Children(1, program=prog, scratch=[path]) as ch:
    rep = ch.report(0)
print(json.dumps(dict(rets=rep.results, text=rep.scratch[64:64 + rep.results[1]].decode())))
"""
    )
    assert out["rets"][0] >= 0 and out["rets"][2] == 0
    assert out["text"] == "python3\n" or out["text"].endswith("\n")


def test_clone3_children_report_and_are_reaped() -> None:
    out = python(
        PRELUDE
        + """
from tidscope.core.clone import IDENTITY
with Children(2, flags.THREAD, clone3=True) as th, \\
     Children(2, 0, clone3=True, exit_signal=signal.SIGCHLD) as pr:
    seen = [r.results[:3] for r in th.reports()], [r.results[:3] for r in pr.reports()]
    tids = th.tids, pr.tids
print(json.dumps(dict(me=os.getpid(), ppid=os.getppid(), seen=seen, tids=tids, tasks=tasks(),
    kids=open(f'/proc/self/task/{os.getpid()}/children').read().split())))
"""
    )
    (threads, procs), (ttids, ptids) = out["seen"], out["tids"]
    assert [t[:2] for t in threads] == [[out["me"], t] for t in ttids]
    assert [p[:3] for p in procs] == [[p, p, out["me"]] for p in ptids]
    assert out["tasks"] == [out["me"]] and out["kids"] == []


@pytest.mark.parametrize(
    ("set_tid", "clone3", "message"),
    [
        ([5], False, "only with clone3"),
        (list(range(1, 34)), True, "at most 32 tids"),
        ([1, 0], True, "0 is no tid"),
        ([-3], True, "-3 is no tid"),
        ("12", True, "cannot be interpreted as an integer"),  # a str holds no tids
    ],
)
def test_set_tid_is_checked_before_any_clone(set_tid: Any, clone3: bool, message: str) -> None:
    """clone3's set_tid (the pid-namespaces fact): what the kernel would
    refuse, or misread from our fixed-size array, is a ValueError first."""
    with pytest.raises((ValueError, TypeError), match=message):
        _rawclone.Group(
            0 if clone3 else int(signal.SIGCHLD), 1, 1 << 16, [], [b""],
            clone3=clone3, exit_signal=int(signal.SIGCHLD), set_tid=set_tid,
        )  # fmt: skip


def test_vfork_parent_resumes_after_the_child() -> None:
    """The child sleeps 200 ms, then reads the clock: with CLONE_VFORK clone
    returns to us after that reading, without it before."""
    out = python(
        PRELUDE
        + """
import struct
ts = struct.pack('qq', 0, 200_000_000)
prog = [Op('nanosleep', (scratch(0), 0)), Op('clock_gettime', (time.CLOCK_MONOTONIC, scratch(16)))]
res = {}
for name in ('VFORK,VM,SIGCHLD', 'VM,SIGCHLD'):
    with Children(1, flags.parse(name), program=prog, scratch=[ts]) as ch:
        ch.join()
        rep = ch.report(0)
        sec, nsec = struct.unpack('qq', rep.scratch[16:32])
        res[name] = rep.resumed_ns - (sec * 10**9 + nsec)
print(json.dumps(res))
"""
    )
    assert out["VFORK,VM,SIGCHLD"] > 0
    assert out["VM,SIGCHLD"] < 0


@pytest.mark.parametrize("flag_set", ["process", "thread"])
def test_guard_passes_and_parks_or_fails_and_exits_at_once(flag_set: str) -> None:
    """A guarded getppid: the child whose guard holds parks until released;
    the one whose guard fails skips the rest of its program and exits
    while still held (a zombie, or gone from our task list, before any
    release), and is reaped or joined all the same."""
    out = python(
        PRELUDE
        + f"""
def state(tid):
    where = f'/proc/{{tid}}' if {flag_set!r} == 'process' else f'/proc/self/task/{{tid}}'
    try:
        return open(f'{{where}}/stat').read().rpartition(')')[2].split()[0]
    except FileNotFoundError:
        return 'gone'
def settle(tid, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while state(tid) not in want and time.monotonic() < deadline:
        time.sleep(0.002)
    return state(tid)
me, value = os.getpid(), flags.parse({flag_set!r})
ppid = me if {flag_set!r} == 'process' else os.getppid()
fds, kids = sorted(os.listdir('/proc/self/fd')), open(f'/proc/self/task/{{me}}/children').read()
res = {{}}
for name, expect in (('pass', ppid), ('fail', ppid + 100000)):
    prog = [Op('getppid', expect=expect), Op('getpid')]
    with Children(1, value, program=prog) as ch:
        tid = ch.tids[0]
        word = ch._group.child(0)['state']  # 1: ran, parked or parking; 2: exiting
        held = state(tid) if name == 'pass' else settle(tid, ('Z', 'gone'))
        rep = ch.report(0)
    res[name] = dict(word=word, held=held, ran=rep.ran, stopped_at=rep.stopped_at,
        guard_failed=rep.guard_failed, results=rep.results, wstatus=rep.wstatus,
        after=os.path.exists(f'/proc/{{tid}}'))
res['tasks'] = tasks() == [me]
res['kids'] = open(f'/proc/self/task/{{me}}/children').read() == kids
res['fds'] = sorted(os.listdir('/proc/self/fd')) == fds
res['ppid'] = ppid
print(json.dumps(res))
"""
    )
    passed, failed = out["pass"], out["fail"]
    gone_while_held = "Z" if flag_set == "process" else "gone"
    assert passed["word"] == 1 and passed["held"] in ("S", "R")  # parked until released
    assert passed["ran"] and passed["stopped_at"] is None and not passed["guard_failed"]
    assert passed["results"][0] == out["ppid"] and passed["results"][1] > 0
    assert failed["word"] == 2 and failed["held"] == gone_while_held  # nobody released it
    assert not failed["ran"] and failed["stopped_at"] == 0 and failed["guard_failed"]
    assert failed["results"] == [out["ppid"], 0]  # the op after the guard never ran
    for case in (passed, failed):
        assert case["wstatus"] == 0 and case["after"] is False
    assert out["tasks"] and out["kids"] and out["fds"]
