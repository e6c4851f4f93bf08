"""The -o columns from ``stat`` and system files against procps ``ps``.

Most columns of an idle task never move, and must match procps byte for
byte.  The others move with the clock (%CPU, ELAPSED...): those are
compared between two runs of procps, where a value both runs agree on is
the one tidscope, run between them, must print; the columns only ever move
one way, so that holds.  On the whole machine a task whose thread group ran
between the runs (its ``schedstat`` moved), or whose row procps printed
differently in its two runs, may differ; every other row must not.

The values no live task shows (a start days ago, a policy past
SCHED_DEADLINE, a task younger than the uptime read) come from ``stat``,
``/proc/stat`` and ``/proc/uptime`` files bind-mounted over the kernel's in a
private mount namespace, where procps and tidscope both read them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import holding, one_error_line, readline, run, tidscope

from tidscope.proc import snapshot

# the columns of one idle task that do not move with the clock
STILL = (
    "pmem,%mem,rss,rssize,rsz,sgi_rss,vsz,vsize,sz,m_size,drs,m_drs,dsiz,trs,m_trs,trss,"
    "tsiz,lim,stackp,start_stack,esp,eip,stat,lstart,start,bsdstart,bsdtime,cputimes,atime,"
    "ni,nice,pri,priority,opri,intpri,pri_api,pri_bar,pri_baz,pri_foo,rtprio,cls,class,"
    "policy,sched,psr,cpuid,lastcpu,sgi_p,numa,pgid,pgrp,sid,sess,session,tpgid,f,flag,"
    "flags,min_flt,minflt,maj_flt,majflt,pagein,tty4,longtname,tty8,fname,"
    "addr,addr_1,alarm,nwchan,mwchan,utime,vm_lock,environ,luser,tsess,~,cutime"
)
# the columns that move with the clock
MOVING = "pcpu,%cpu,c,util,cp,cuu,cuc,etime,etimes"
MOVING_HEADERS = {"%CPU", "C", "CP", "%CUU", "%CUC", "ELAPSED"}
EVERY = f"{STILL},{MOVING}"

HOLDER = """
import ctypes, hashlib, json, os, sys, threading, time

libc = ctypes.CDLL(None, use_errno=True)
locked = ctypes.create_string_buffer(65536)
assert libc.mlock(locked, 65536) == 0, ctypes.get_errno()
with open("/proc/meminfo") as f:
    total_kb = int(f.readline().split()[1])
resident = b"x" * (total_kb * 1024 // 400)  # 0.25% of memory: a %MEM to show
zombie = os.fork()
if zombie == 0:
    os._exit(0)

def spin(seconds):
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass

def digest(seconds):  # hashing lets go of the GIL: two of these run at once
    data = bytes(1 << 20)
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        hashlib.sha256(data).digest()

def role(name):
    tid = threading.get_native_id()
    if name == "spin":
        spin(0.3)
    elif name.startswith("hash"):
        digest(0.4)
    elif name == "nice":
        os.setpriority(os.PRIO_PROCESS, tid, 7)
    elif name == "unnice":
        os.setpriority(os.PRIO_PROCESS, tid, -6)
    elif name in ("batch", "idle"):
        policy = os.SCHED_BATCH if name == "batch" else os.SCHED_IDLE
        os.sched_setscheduler(tid, policy, os.sched_param(0))
    elif name in ("fifo", "rr"):
        policy = os.SCHED_FIFO if name == "fifo" else os.SCHED_RR
        os.sched_setscheduler(tid, policy, os.sched_param(10 if name == "fifo" else 42))

ROLES = ["spin", "hash1", "hash2", "nice", "unnice", "batch", "idle", "fifo", "rr", "plain"]
tids, done, stop = {}, threading.Semaphore(0), threading.Event()

def body(name):
    tids[name] = threading.get_native_id()
    libc.prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME: comm is the role
    role(name)
    done.release()
    stop.wait()

threads = [threading.Thread(target=body, args=(n,), name=n) for n in ROLES]
for t in threads:
    t.start()
for _ in threads:
    done.acquire()
print(json.dumps({"pid": os.getpid(), "tids": tids, "zombie": zombie}), flush=True)
sys.stdin.read()
stop.set()
for t in threads:
    t.join()
os.waitpid(zombie, 0)
"""


@pytest.fixture(scope="module")
def holder() -> Iterator[dict[str, Any]]:
    """A session leader with threads in every role above, idle once it prints.
    Real-time policies, a negative nice and mlock need root: the tests that
    use it are marked root."""
    with holding(HOLDER, start_new_session=True, timeout=60) as info:
        yield info


def both(*args: str, user: bool = False, env: dict[str, str] | None = None) -> tuple[str, str]:
    ours = tidscope("ps", *args, user=user, env=env)
    theirs = run(["ps", *args], user=user, env=env)
    assert ours.returncode == theirs.returncode, ours.stderr
    return ours.stdout, theirs.stdout


def same(*args: str, user: bool = False) -> str:
    ours, theirs = both(*args, user=user)
    assert ours == theirs, f"\n{ours}---\n{theirs}"
    return ours


def _amount(cell: str) -> float:
    """A moving cell as a number: ``12.5``, ELAPSED's ``[[DD-]HH:]MM:SS``."""
    if ":" not in cell:
        return float(cell)
    days, _, clock = cell.rpartition("-")
    seconds = 0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part)
    return float(seconds + int(days or 0) * 86400)


def bracketed(*args: str, user: bool = False, tries: int = 3) -> str:
    """procps, tidscope, procps, ``tries`` times, cell by cell (cells hold no
    blanks): a value both procps runs agree on is the one tidscope must
    print; any other lies between theirs (an idle task's %CPU only falls,
    its ELAPSED only grows).  Every column must be compared exactly once at
    least; the exact values of a busy task, which move with every tick, are
    test_values_no_live_task_shows's, where the uptime stands still.
    procps is given ``-q`` for ``-p`` (the same rows, read without walking
    every process first), so that its two runs are milliseconds apart."""
    quick = ["-q" if arg == "-p" else arg for arg in args]
    for i, arg in enumerate(args[:-1]):
        if arg == "-p":  # -q lists in the order given, -p in /proc's (pids ascending)
            quick[i + 1] = ",".join(sorted(args[i + 1].split(","), key=int))
    exact: set[int] = set()
    for _ in range(tries):
        before = run(["ps", *quick], user=user).stdout.splitlines()
        ours = tidscope("ps", *args, user=user)
        after = run(["ps", *quick], user=user).stdout.splitlines()
        assert ours.returncode == 0, ours.stderr
        mine = ours.stdout.splitlines()
        assert len(mine) == len(before) == len(after) and mine[0] == before[0], ours.stdout
        head = before[0].split()
        moving = {j for j, name in enumerate(head) if name in MOVING_HEADERS}
        for first, cells, last in zip(before[1:], mine[1:], after[1:], strict=True):
            row = list(zip(first.split(), cells.split(), last.split(), strict=True))
            assert len(row) == len(head), f"\n{cells}\n{first}"
            for j, (a, b, c) in enumerate(row):
                if a == c:
                    assert b == a, f"{head[j]}:\n{cells}\n{first}"
                    exact.add(j)
                else:
                    assert j in moving, f"{head[j]}:\n{cells}\n{first}"
                    low, high = sorted((_amount(a), _amount(c)))
                    assert low <= _amount(b) <= high, f"{head[j]}:\n{cells}\n{first}\n{last}"
    assert exact == set(range(len(head))), [h for j, h in enumerate(head) if j not in exact]
    return "\n".join(before) + "\n"


@pytest.mark.root
@pytest.mark.procps
def test_held_threads_match_procps(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    out = same("-T", "-p", pid, "-o", f"pid,tid,{STILL}")
    assert len(out.splitlines()) == 2 + len(holder["tids"])
    out = same("-T", "-p", pid, "-o", "comm,stat,pmem")
    stats = {r.split()[0]: r.split()[1:] for r in out.splitlines()[1:]}
    assert stats["nice"][0] == "SNLsl" and stats["unnice"][0] == "S<Lsl"
    assert stats["plain"][0] == "SLsl" and float(stats["plain"][1]) >= 0.2
    same("-p", pid, "-o", f"pid,{STILL}")
    same("-o", f"pid,{STILL}", "-p", f"{pid},{holder['zombie']}")


@pytest.mark.root
@pytest.mark.procps
def test_cells_keep_procps_padding_in_narrow_columns(holder: dict[str, Any]) -> None:
    """procps pads some cells itself (C's ``%2u``, CP's ``%3u``, LIM's
    ``%5lu``...): that padding stays when -o makes the column narrower."""
    narrow = "c,util,cp,pmem,lim,bsdtime,start,lstart,bsdstart,stackp,etime,cuu,tid"
    cols = ",".join(f"{name}:1" for name in narrow.split(","))
    args = ["-T", "-p", f"{holder['pid']},{holder['zombie']}", "-o", f"{cols},comm"]
    ours, theirs = _forged(_boot_files(0, 0), args, {})  # the uptime stands still
    assert ours == theirs, f"\n{ours}---\n{theirs}"


NAMED = """
import ctypes, sys
ctypes.CDLL(None).prctl(15, sys.argv[1].encode(), 0, 0, 0)  # PR_SET_NAME
print(flush=True)
sys.stdin.read()
"""


@pytest.mark.procps
@pytest.mark.parametrize("locale", ["C", "C.UTF-8"])
@pytest.mark.parametrize("name", ["日本語テスト", "a\u0301bcdefghij", "\x01tab\tx", "twelve chars"])
def test_fname_cuts_the_name_to_8_cells(locale: str, name: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", NAMED, name], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        readline(proc.stdout, proc=proc, seen="the named holder's ready line")
        ours, theirs = both("-o", "fname,comm,pid", "-p", str(proc.pid), env={"LC_ALL": locale})
        assert ours == theirs, f"\n{ours}---\n{theirs}"
    finally:
        proc.stdin.close()
        proc.wait(60)


@pytest.mark.root
@pytest.mark.procps
def test_classes_and_priorities_match_procps(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    cols = "tid,cls,class,policy,sched,rtprio,ni,pri,priority,opri,pri_api,pri_foo,stat,comm"
    out = same("-T", "-p", pid, "-o", cols)
    shown = {r.split()[-1]: r.split()[1:7] for r in out.splitlines()[1:]}
    assert shown["fifo"] == ["FF", "FF", "FF", "1", "10", "-"]
    assert shown["rr"] == ["RR", "RR", "RR", "2", "42", "-"]
    assert shown["batch"] == ["B", "B", "B", "3", "0", "0"]
    assert shown["idle"] == ["IDL", "IDL", "IDL", "5", "0", "-"]


@pytest.mark.root
@pytest.mark.procps
def test_moving_columns_match_procps_between_two_runs(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    # the zombie (no CPU time) holds still where the young holder moves
    zombie = holder["zombie"]
    both = f"{pid},{zombie}"  # the zombie's pid is the lower one once pids wrap round
    out = bracketed("-T", "-p", both, "-o", f"tid,{MOVING},comm")
    spun = [r.split() for r in out.splitlines()[1:] if r.split()[-1] in ("spin", "hash1")]
    assert all(float(r[1]) > 0 for r in spun), out  # they used the CPU: nonzero %CPU
    # the process row: its whole group's time; a zombie's
    bracketed("-o", f"pid,{MOVING}", "-p", both)


def _run_times() -> dict[str, int]:
    """Each thread group's nanoseconds on a CPU so far (its threads' schedstat)."""
    times: dict[str, int] = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    times[pid] = times.get(pid, 0) + int(f.read().split()[0])
    return times


def _rows(out: str) -> dict[tuple[str, str], str]:
    return {(r.split()[0], r.split()[1]): r for r in out.splitlines()[1:]}


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize("threads", [True, False], ids=["-AT", "-A"])
def test_every_task_of_the_machine_matches_procps(holder: dict[str, Any], threads: bool) -> None:
    """Every task that stood still through procps, tidscope, procps (ran no
    instruction, printed the same twice) prints as procps printed it; the
    held process must be among them, so the comparison is made again while
    it is not (a holder just started may still be on its way to sleep, and
    on a busy machine that takes a while)."""
    args = ["-AT" if threads else "-A", "-o", f"pid,tid,{STILL}"]
    held = str(holder["pid"])
    want = 1 + len(holder["tids"]) if threads else 1
    deadline = time.monotonic() + 60
    while True:
        compared, first, why = _compare_the_machine(args, held)
        if sum(k[0] == held for k in compared) == want:
            break
        assert time.monotonic() < deadline, f"the held process never stood still: {why}"
    assert len(compared) > len(first) // 2


def _compare_the_machine(
    args: list[str], held: str
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], str], str]:
    """procps, tidscope, procps: the rows compared, procps's first rows, and
    why the held process's rows were not compared."""
    ran_before = _run_times()
    before = run(["ps", *args])
    ours = tidscope("ps", *args)
    after = run(["ps", *args])
    ran_after = _run_times()
    assert ours.returncode == before.returncode == 0, ours.stderr
    assert ours.stdout.splitlines()[0] == before.stdout.splitlines()[0]
    first, mine, last = _rows(before.stdout), _rows(ours.stdout), _rows(after.stdout)
    idle = {p for p, ns in ran_after.items() if ran_before.get(p) == ns}
    compared = [k for k in first if k[0] in idle and last.get(k) == first[k] and k in mine]
    wrong = [f"{mine[k]}\n{first[k]}" for k in compared if mine[k] != first[k]]
    assert not wrong, "\n".join(wrong[:5])
    why = "\n".join(
        f"{k}: ran {ran_before.get(k[0])} -> {ran_after.get(k[0])} ns,"
        f" {'in ours' if k in mine else 'not in ours'}\n{first[k]}\n{last.get(k)}"
        for k in first
        if k[0] == held and k not in compared
    )
    return compared, first, why


@pytest.mark.root
@pytest.mark.procps
def test_an_unprivileged_user_sees_what_procps_shows(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    tasks = f"{pid},{holder['zombie']}"
    same("-T", "-p", tasks, "-o", f"pid,tid,{STILL}", user=True)
    bracketed("-T", "-p", tasks, "-o", f"pid,tid,{MOVING}", user=True)
    # another user's stack is hidden from nobody, as the kernel hides it
    assert int(same("-p", pid, "-o", "stackp=").strip(), 16) != 0
    assert int(same("-p", pid, "-o", "stackp=", user=True).strip(), 16) == 0


KEYS: dict[str, Any] = {
    "pcpu": float,
    "c": int,
    "cp": int,
    "cuu": float,
    "cuc": float,
    "pmem": float,
    "rss": int,
    "vsz": int,
    "sz": int,
    "m_size": int,
    "drs": int,
    "trs": int,
    "lim": (int, type(None)),
    "stackp": int,
    "esp": int,
    "eip": int,
    "stat": str,
    "elapsed": float,
    "start": int,
    "time": float,
    "times": int,
    "nice": (int, type(None)),
    "pri": int,
    "priority": int,
    "opri": int,
    "rtprio": (int, type(None)),
    "class": (str, type(None)),
    "sched": (int, type(None)),
    "psr": int,
    "sgi_p": (int, type(None)),
    "numa": int,
    "pgid": int,
    "sid": int,
    "tpgid": int,
    "f": int,
    "min_flt": int,
    "maj_flt": int,
    "tty": (str, type(None)),
    "comm": str,
    "addr": type(None),
}
# a column for each key above
NAMES = (
    "pcpu,c,cp,cuu,cuc,pmem,rss,vsz,sz,m_size,drs,trs,lim,stackp,esp,eip,stat,etime,"
    "lstart,bsdtime,cputimes,ni,pri,priority,opri,rtprio,cls,sched,psr,sgi_p,numa,pgid,"
    "sid,tpgid,f,min_flt,maj_flt,tty4,fname,addr"
)


@pytest.mark.root
def test_json_values_are_typed_and_are_what_the_table_shows(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    proc = tidscope("ps", "-T", "-p", pid, "--format", "json", "-o", NAMES)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [list(r) for r in rows] == [list(KEYS)] * (1 + len(holder["tids"]))
    for row in rows:
        for key, kind in KEYS.items():
            assert isinstance(row[key], kind), (key, row[key])
    table = tidscope("ps", "-T", "-p", pid, "-o", "tid,ni,rtprio,cls,sched,stat,pgid,sid,rss,f")
    for row, line in zip(rows, table.stdout.splitlines()[1:], strict=True):
        shown = [row[k] for k in ("nice", "rtprio", "class", "sched", "stat", "pgid", "sid")]
        shown += [row["rss"], row["f"]]
        assert line.split()[1:] == ["-" if v is None else str(v) for v in shown]
        assert row["pgid"] == row["sid"] == holder["pid"] and row["tty"] is None
        assert row["pmem"] >= 0.2 and row["addr"] is None and row["elapsed"] >= 0
    spin = next(r for r in rows if r["comm"] == "spin")
    assert spin["pcpu"] > 0 and spin["time"] > 0 and "L" in spin["stat"]
    csv = tidscope("ps", "-p", pid, "--format", "csv", "-o", "pid,rtprio,addr,cls,stat").stdout
    assert csv.splitlines() == ["pid,rtprio,addr,class,stat", f"{pid},,,TS,SLsl"]


@pytest.mark.parametrize("names", ["etime,etimes", "lstart,start", "bsdtime,time", "ni,nice"])
def test_two_names_of_one_value_are_one_key(names: str) -> None:
    proc = tidscope("ps", "-p", "1", "--format", "json", "-o", names)
    assert proc.returncode == 2
    assert "same column" in one_error_line(proc)


@pytest.mark.procps
def test_a_terminal_shows_in_tty4_tpgid_and_stat() -> None:
    script = subprocess.Popen(
        ["script", "-qfc", "sleep 60", "/dev/null"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    try:
        sleepers: list[int] = []
        for _ in range(300):
            sleepers = [t.tid for t in snapshot.processes() if t.name == "sleep" and t.tty_nr]
            sleepers = [p for p in sleepers if _descends(p, script.pid)]
            if sleepers:
                break
            time.sleep(0.02)
        assert sleepers, "script(1) gave sleep no terminal"
        cols = "pid,tty4,tty8,longtname,tpgid,pgid,sid,stat,comm"
        out = same("-o", cols, "-p", str(sleepers[0]))
        assert out.splitlines()[1].split()[7].endswith("+")  # the terminal's foreground
    finally:
        script.kill()
        script.wait(60)


def _descends(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        task = snapshot.process(pid)
        if task is None:
            return False
        if task.ppid == ancestor:
            return True
        pid = task.ppid
    return False


# -- forged files -------------------------------------------------------------


def _stat_fields(path: str) -> list[str]:
    """A stat line as proc(5) numbers its fields: [1] is the pid, [2] the name."""
    with open(path, "rb") as f:
        data = f.read().decode()
    head, _, rest = data.rpartition(") ")
    pid, _, name = head.partition(" (")
    return ["", pid, f"({name})", *rest.split()]


def _stat_line(fields: list[str]) -> str:
    return " ".join(fields[1:]) + "\n"


def _forged(files: dict[str, str], args: list[str], env: dict[str, str]) -> tuple[str, str]:
    """procps's and tidscope's ``ps ARGS`` with ``files`` bind-mounted over
    the kernel's (path: content) in a private mount namespace."""
    with tempfile.TemporaryDirectory(prefix="tidscope-forged-") as where:
        mounts = []
        for i, (path, content) in enumerate(files.items()):
            source = os.path.join(where, str(i))
            with open(source, "w") as f:
                f.write(content)
            mounts.append(f"mount --bind {source} {shlex.quote(path)}")
        line = shlex.join(args)
        ours = f"{shlex.quote(sys.executable)} -m tidscope ps {line}"
        script = " && ".join(mounts) + f" && ps {line}; echo '--8<--'; {ours}"
        proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], env=env)
    theirs, _, mine = proc.stdout.partition("--8<--\n")
    assert mine, proc.stderr
    return mine, theirs


DAY = 86400


def _hz() -> int:
    return os.sysconf("SC_CLK_TCK")


def _boot_files(days: float, uptime_days: float) -> dict[str, str]:
    """/proc/stat with boot ``days`` earlier, /proc/uptime ``uptime_days`` longer."""
    with open("/proc/stat") as f:
        lines = f.read().splitlines()
    btime = next(int(line.split()[1]) for line in lines if line.startswith("btime "))
    forged = [f"btime {btime - int(days * DAY)}" if x.startswith("btime ") else x for x in lines]
    with open("/proc/uptime") as f:
        up, idle = f.read().split()
    return {
        "/proc/stat": "\n".join(forged) + "\n",
        "/proc/uptime": f"{float(up) + uptime_days * DAY:.2f} {idle}\n",
    }


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize("tz", ["UTC", "America/St_Johns", "Asia/Kolkata"])
@pytest.mark.parametrize("days", [0.5, 3, 400])
def test_dates_as_procps_prints_them(holder: dict[str, Any], tz: str, days: float) -> None:
    pid = str(holder["pid"])
    cols = "pid,tid,etime,etimes,lstart,start,bsdstart,stime,start_time,pcpu,c,cp,cuu,cuc,comm"
    for locale in ("C", "en_US.iso88591"):
        env = {"TZ": tz, "LC_ALL": locale}
        # pid 2 (idle since boot) and the holder hold still: their %CPU is exact
        args = ["-T", "-p", f"2,{pid}", "-o", cols]
        ours, theirs = _forged(_boot_files(days, days), args, env)
        assert ours == theirs, f"\n{ours}---\n{theirs}"
        assert sum(r.split()[0] == pid for r in ours.splitlines()) == 1 + len(holder["tids"])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    age = uptime + days * DAY - int(_stat_fields("/proc/2/stat")[22]) / _hz()
    assert ("-" in ours.splitlines()[1].split()[2]) == (age >= DAY)  # ELAPSED in days


def _thread_stat(pid: int, tid: int) -> tuple[str, list[str]]:
    path = f"/proc/{pid}/task/{tid}/stat"
    return path, _stat_fields(path)


@pytest.mark.root
@pytest.mark.procps
def test_values_no_live_task_shows(holder: dict[str, Any]) -> None:
    """Forged thread stat lines under a forged, still uptime: %CPU over
    99.9, every policy number, a line without the policy fields, odd flags,
    limits and addresses, a task younger than the uptime procps read."""
    pid = holder["pid"]
    tids = list(holder["tids"].values())
    files = _boot_files(0, 0)  # the uptime stands still
    boot = int(float(files["/proc/uptime"].split()[0]) * _hz())
    changes: list[dict[int, str]] = [
        {14: str(boot * 3), 15: "7", 16: str(boot * 5)},  # %CPU 300 and more, C 99
        {41: "6", 40: "0", 39: "1"},  # SCHED_DEADLINE
        {41: "7", 19: "-20", 18: "-100"},
        {41: "9", 19: "19"},
        {41: "10", 39: "1000"},  # an unknown policy; a CPU libnuma does not know
        {22: str(boot + 50 * _hz())},  # started after the uptime was read
        {9: str(0x1C0 | 0x4000), 25: "123456789", 26: "4096", 27: "1024", 28: "140737488"},
        {5: "777", 8: "777", 6: str(pid), 29: "18446744073709551615", 30: "1"},
        {10: "4294967296", 12: "18446744073709551615", 16: "12", 17: "34"},
    ]
    for tid, change in zip(tids, changes, strict=False):
        path, fields = _thread_stat(pid, tid)
        for number, value in change.items():
            fields[number] = value
        files[path] = _stat_line(fields)
    path, fields = _thread_stat(pid, tids[len(changes)])
    files[path] = _stat_line(fields[:39])  # a kernel before 2.5.18: no rtprio, no policy
    cols = f"tid,{MOVING},{STILL}"
    ours, theirs = _forged(files, ["-T", "-p", str(pid), "-o", cols], {"TZ": "UTC"})
    assert ours == theirs, f"\n{ours}---\n{theirs}"
    busiest = next(r.split() for r in ours.splitlines() if r.split()[0] == str(tids[0]))
    assert busiest[1] == busiest[2] and int(busiest[1]) > 99  # past 99.9: no decimal, as procps
    assert busiest[3:6] == ["99", "99", "999"]


@pytest.mark.root
@pytest.mark.procps
def test_sgi_p_shows_the_cpu_of_a_running_task(holder: dict[str, Any]) -> None:
    """A thread forged running on CPU 1, in ``stat`` and in ``status`` (where
    procps, which reads both whatever the columns, takes the state from)."""
    pid = holder["pid"]
    tid = holder["tids"]["plain"]
    path, fields = _thread_stat(pid, tid)
    fields[3], fields[39] = "R", "1"
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        status = f.read().replace("State:\tS (sleeping)", "State:\tR (running)")
    assert "State:\tR" in status
    files = {**_boot_files(0, 0), path: _stat_line(fields), path[:-4] + "status": status}
    ours, theirs = _forged(files, ["-T", "-p", str(pid), "-o", "tid,s,sgi_p,psr,stat"], {})
    assert ours == theirs, f"\n{ours}---\n{theirs}"
    assert f"{tid} R 1   1 RLsl" in ours


def test_every_column_here_is_in_the_man_page() -> None:
    """Each name of stat_columns.py and nop_columns.py (and the aliases
    columns.py adds for them) is in tidscope-ps(1)'s COLUMNS, with its key."""
    from tidscope.ps import nop_columns, stat_columns

    page = os.path.join(os.path.dirname(__file__), "..", "man", "tidscope-ps.1")
    with open(page) as f:
        text = f.read()
    columns = text.split(".Ss COLUMNS", 1)[1].split(".Ss JSON AND CSV", 1)[0]
    documented = {
        word
        for line in columns.splitlines()
        if line.startswith((".It Cm ", ".Cm "))
        for word in line.split(" Ta ")[0].split()[1:]
        if word not in ("Cm", ",", "and")
    }
    names = {*stat_columns.SPECS, *nop_columns.SPECS, "atime", "cputimes", "longtname", "tty8"}
    assert names - documented == set()
    keys = {spec[0] for spec in stat_columns.SPECS.values()}
    json_part = text.split(".Ss JSON AND CSV", 1)[1].split(".Sh ", 1)[0]
    listed = {w for line in json_part.splitlines() if line.startswith(".Cm ") for w in line.split()}
    assert keys - listed == set()


def _forged_each(files: dict[str, str], commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Each command's exit status, stdout and stderr, run with ``files``
    bind-mounted over the kernel's in one private mount namespace (a
    command ``["ps", ...]`` is procps, ``["tidscope", ...]`` this one)."""
    with tempfile.TemporaryDirectory(prefix="tidscope-forged-") as where:
        mounts = []
        for i, (path, content) in enumerate(files.items()):
            source = os.path.join(where, str(i))
            with open(source, "w") as f:
                f.write(content)
            mounts.append(f"mount --bind {source} {shlex.quote(path)}")
        steps = []
        for i, command in enumerate(commands):
            argv = [sys.executable, "-m", *command] if command[0] == "tidscope" else command
            out, err = os.path.join(where, f"out{i}"), os.path.join(where, f"err{i}")
            steps.append(f"{shlex.join(argv)} >{out} 2>{err}; echo $? >{out}.rc")
        script = " && ".join(mounts) + " && { " + "; ".join(steps) + "; }"
        proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
        assert proc.returncode == 0, proc.stderr
        results = []
        for i in range(len(commands)):
            out, err = os.path.join(where, f"out{i}"), os.path.join(where, f"err{i}")
            with open(f"{out}.rc") as f, open(out) as o, open(err) as e:
                results.append((int(f.read()), o.read(), e.read()))
    return results


def _stat_with_btime(line: str | None) -> str:
    """The kernel's /proc/stat with its btime line replaced (None: left out)."""
    with open("/proc/stat") as f:
        lines = [x for x in f.read().splitlines() if not x.startswith("btime ")]
    return "\n".join(lines + ([line] if line is not None else [])) + "\n"


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize(
    "btime", [None, "btime abc", "btime -5", "btime 99999999999999999999", "btime", ""]
)
def test_no_boot_time_no_start_date(btime: str | None) -> None:
    """A /proc/stat without a boot time a clock can hold: the start columns
    are an error naming /proc/stat (procps 4.0.2 prints 1970 or 2106 for a
    missing or odd btime, and refuses only a /proc/stat it cannot parse:
    no invented date here); columns that need no boot time print as procps's."""
    stat = _stat_with_btime(btime) if btime != "" else ""
    dated = ["-p", "1", "-o", "pid,lstart,start,stime"]
    undated = ["-p", "1,2", "-o", "pid,ppid,ni,tty,comm"]  # none moves with the clock
    results = _forged_each(
        {"/proc/stat": stat},
        [
            ["tidscope", "ps", *dated],
            ["tidscope", "ps", "aux"],
            ["tidscope", "ps", "-p", "1", "-o", "pid,start_time", "--format", "json"],
            ["tidscope", "ps", *undated],
            ["ps", *undated],
            ["ps", *dated],
        ],
    )
    for code, out, err in results[:3]:
        assert code == 1 and out == "", (code, out, err)
        line = one_error_line(subprocess.CompletedProcess([], code, out, err))
        assert "/proc/stat" in line and "btime" in line, line
    (code, ours, err), (_, theirs, _) = results[3], results[4]
    assert code == 0 and ours == theirs, f"{err}\n{ours}---\n{theirs}"
    if btime == "":  # what procps refuses too
        code, _, err = results[5]
        assert code == 1 and "Unable to get system boot time" in err, err


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize("meminfo", ["", "garbage\n", "MemFree: 100 kB\n", "MemTotal: 0 kB\n"])
def test_no_total_memory_no_pmem(meminfo: str) -> None:
    """A /proc/meminfo without a MemTotal: %MEM is an error naming it (procps
    says "Unable to get total memory", or divides by zero), never 0.0;
    columns without it print as procps's."""
    results = _forged_each(
        {"/proc/meminfo": meminfo},
        [
            ["tidscope", "ps", "-p", "1", "-o", "pid,pmem"],
            ["tidscope", "ps", "aux"],
            ["tidscope", "ps", "-p", "1,2", "-o", "pid,rss,comm"],
            ["ps", "-p", "1,2", "-o", "pid,rss,comm"],
            ["ps", "-p", "1", "-o", "pid,pmem"],
        ],
    )
    for code, out, err in results[:2]:
        assert code == 1 and out == "", (code, out, err)
        line = one_error_line(subprocess.CompletedProcess([], code, out, err))
        assert "/proc/meminfo" in line and "MemTotal" in line, line
    (code, ours, err), (_, theirs, _) = results[2], results[3]
    assert code == 0 and ours == theirs, f"{err}\n{ours}---\n{theirs}"
    assert results[4][0] != 0  # procps refuses (or crashes) too


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize("uptime", ["99999999999999999999999.99 5.00\n", "1e30 1\n", ""])
def test_uptime_past_what_ticks_hold(uptime: str) -> None:
    """An uptime whose clock ticks a C unsigned 64-bit number cannot hold:
    procps's conversion gives 0 on x86-64, as an unreadable uptime does;
    ELAPSED, %CPU and the rest match it byte for byte."""
    cols = ["-p", "1,2", "-o", "pid,etime,etimes,pcpu,cp,comm"]
    (code, ours, err), (_, theirs, _) = _forged_each(
        {"/proc/uptime": uptime}, [["tidscope", "ps", *cols], ["ps", *cols]]
    )
    assert code == 0 and ours == theirs, f"{err}\n{ours}---\n{theirs}"


@pytest.mark.root
def test_no_other_command_dates_from_a_missing_boot_time() -> None:
    """top, tree and inspect print no start date at all (their start times
    count from boot, not from btime): without btime they print as ever,
    with no 1970 in them."""
    results = _forged_each(
        {"/proc/stat": _stat_with_btime(None)},
        [
            ["tidscope", "top", "-b", "-n", "1", "-d", "0.1", "--format", "json"],
            ["tidscope", "tree", "1", "--format", "json"],
            ["tidscope", "inspect", "1", "--format", "json"],
        ],
    )
    for code, out, err in results:
        assert code == 0 and err == "", err
        texts = [v for doc in _documents(out) for v in _strings(doc)]
        assert not [v for v in texts if YEAR_1970.search(v)], out  # a date made of nothing
        assert '"start' not in out


# 1970 as a year in a text: not a digit of a number (a whole machine's tids
# and times hold every run of digits: top's JSON lists every thread)
YEAR_1970 = re.compile(r"(?<![\d.])1970(?![\d.])")


def _documents(out: str) -> list[object]:
    """The JSON document a command printed, or each of its JSON Lines."""
    try:
        return [json.loads(out)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def _strings(value: object) -> list[str]:
    """Every text in a JSON value (numbers, and the keys, left out)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
