"""The -o columns read from status and the other per-task files, against
procps ``ps`` byte for byte: on held threads whose credentials, signal
masks, wchan and namespaces differ from their leader's, on the whole
machine, as root and as nobody; their typed JSON and CSV; and which files
each column makes us read."""

from __future__ import annotations

import contextlib
import ctypes
import grp
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import holding, run, tidscope
from test_procfs import FakeProc

from tidscope.proc.taskfiles import NAMESPACES
from tidscope.ps import columns
from tidscope.ps import layout as pslist
from tidscope.ps import run as psrun
from tidscope.ps.context import Context
from tidscope.ps.run import Query, tasks

HOLDER = """
import ctypes, json, os, signal, subprocess, sys
from tidscope.core.clone import IDENTITY, Children, Op
NEWUTS, NEWIPC = 0x04000000, 0x08000000
libc = ctypes.CDLL(None, use_errno=True)
TERM_CAUGHT = []
with Children(2, names=["w1", "w2"]) as workers, Children(
    1, names=["ns"], program=IDENTITY + (Op("unshare", (NEWUTS | NEWIPC,)),)
) as loner:
    sleeper = subprocess.Popen(
        ["sleep", "300"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    # from here on, what the main thread does is its own: glibc knows no
    # other thread to copy credentials or masks to (raw threads keep theirs)
    rt = signal.SIGRTMIN + 3
    signal.pthread_sigmask(signal.SIG_SETMASK, {signal.SIGUSR1, signal.SIGWINCH, rt, 64})
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *a: TERM_CAUGHT.append(1))
    pid = os.getpid()
    os.kill(pid, signal.SIGUSR1)  # blocked everywhere: the process's pending set
    for tid, sig in ((workers.tids[0], signal.SIGUSR2), (pid, signal.SIGWINCH), (pid, rt)):
        assert libc.tgkill(pid, tid, int(sig)) == 0, ctypes.get_errno()
    os.setgroups([4, 27, 123456])
    os.setresgid(1, 2, 4294967294)
    libc.setfsgid(8)
    os.setresuid(0, 0, 4294967294)
    libc.setfsuid(7)
    print(json.dumps({
        "pid": pid, "tids": workers.tids + loner.tids, "w1": workers.tids[0],
        "ns": loner.tids[0], "sleep": sleeper.pid,
    }), flush=True)
    sys.stdin.read()
    sleeper.kill()
    sleeper.wait(60)
"""


@pytest.fixture(scope="module")
def holder() -> Iterator[dict[str, Any]]:
    """setgroups and setresuid to other ids need root: the tests that use it
    are marked root."""
    with holding(HOLDER) as info:
        info["all"] = f"{info['pid']},{info['sleep']}"
        yield info


def both(*args: str, user: bool = False, env: dict[str, str] | None = None) -> tuple[str, str]:
    ours = tidscope("ps", *args, user=user, env=env)
    theirs = run(["ps", *args], user=user, env=env)
    assert ours.returncode == theirs.returncode, ours.stderr + theirs.stderr
    assert "Traceback" not in ours.stderr
    return ours.stdout, theirs.stdout


def same(*args: str, user: bool = False, env: dict[str, str] | None = None) -> list[str]:
    """The rows (header first) both print, which must be the same bytes."""
    ours, theirs = both(*args, user=user, env=env)
    assert ours == theirs, f"\n{ours}---\n{theirs}"
    return ours.splitlines()


def row(lines: list[str], tid: int) -> list[str]:
    """The cells of the row whose TID (else PID) column is ``tid``."""
    heads = lines[0].split()
    key = heads.index("TID") if "TID" in heads else heads.index("PID")
    return next(r.split() for r in lines[1:] if r.split()[key] == str(tid))


def cell(lines: list[str], header: str, tid: int) -> str:
    """The cell under (the first) ``header`` in the row of ``tid``."""
    return row(lines, tid)[lines[0].split().index(header)]


def status(pid: int, tid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        return {k: v.strip() for k, _, v in (ln.partition(":") for ln in f)}


IDS = "pid,tid,ruid,euid,suid,svuid,fuid,fsuid,rgid,egid,gid,sgid,svgid,fgid,fsgid"
NAMES = "pid,tid,ruser,suser,svuser,fuser,fsuser,rgroup,egroup,group,sgroup,svgroup,fgroup,fsgroup"
SIGS = "pid,tid,pending,sig,sig_pend,tsig,blocked,sigmask,sig_block"
SIGS2 = "pid,tid,caught,sigcatch,sig_catch,ignored,sigignore,sig_ignore"
NS = "pid,tid,cgroupns,ipcns,mntns,netns,pidns,timens,userns,utsns"
EVERY = ",".join(
    [IDS, NAMES[8:], SIGS[8:], SIGS2[8:], NS[8:], "wchan,wname,supgid,supgrp,cgname,cgroup"]
)
# each datum once (JSON and CSV refuse two columns of one key)
ONCE = (
    "pid,tid,ruid,euid,suid,fuid,rgid,egid,sgid,fgid,ruser,suser,fuser,rgroup,egroup,sgroup,"
    "fgroup,pending,tsig,blocked,caught,ignored,"
    f"{NS[8:]},wchan,supgid,supgrp,cgname,cgroup,nvcsw,nivcsw"
)


@pytest.mark.root
@pytest.mark.procps
def test_ids_and_names_are_each_threads_own(holder: dict[str, Any]) -> None:
    pid = str(holder["pid"])
    ids = same("-T", "-o", IDS, "-p", holder["all"])
    # the leader changed its own ids alone; C's %d of 4294967294 is -2
    leader = row(ids, holder["pid"])[2:]
    assert leader == ["0", "0", "-2", "-2", "7", "7", "1", "2", "2", "-2", "-2", "8", "8"]
    assert cell(ids, "SUID", holder["w1"]) == "0" and cell(ids, "EGID", holder["w1"]) == "0"
    same("-o", IDS, "-p", holder["all"])
    names = same("-T", "-o", NAMES, "-p", holder["all"])
    assert cell(names, "SUSER", holder["pid"]) == "4294967+"  # a number, cut as a name
    assert cell(names, "RGROUP", holder["pid"]) == grp.getgrgid(1).gr_name
    same("-o", NAMES, "-p", holder["all"])
    same("-o", "egroup:3,pid,ruser:3,group,gid", "-p", pid)  # names cut with a +
    groups = same("-T", "-o", "pid,tid,supgid,supgrp", "-p", holder["all"])
    assert cell(groups, "SUPGID", holder["pid"]) == "4,27,123456"
    assert cell(groups, "SUPGID", holder["w1"]) == "-"
    same("-T", "-o", "supgid:3,tid,supgrp:4,pid", "-p", pid)
    same("-T", "-o", "tid,supgrp,supgid", "-p", pid)


@pytest.mark.root
@pytest.mark.procps
def test_signal_masks_are_process_or_thread_pending_as_procps_has_it(
    holder: dict[str, Any],
) -> None:
    pid = holder["pid"]
    rows = same("-T", "-o", SIGS, "-p", holder["all"])
    # the leader's row is the process's: its pending set is the shared one
    # (SIGUSR1); tsig and the other threads show their own (SIGUSR2 for w1)
    assert cell(rows, "SIGNAL", pid) == f"{1 << 9:016x}"
    assert cell(rows, "SIGNAL", holder["w1"]) == f"{1 << 11:016x}"
    assert row(rows, pid)[5] == status(pid, pid)["SigPnd"] != f"{0:016x}"  # tsig
    same("-o", SIGS, "-p", holder["all"])
    caught = same("-T", "-o", SIGS2, "-p", holder["all"])
    assert int(cell(caught, "CAUGHT", pid), 16) >> 14 & 1  # SIGTERM's handler
    assert int(cell(caught, "IGNORED", holder["w1"]), 16) & 1  # SIGHUP: process-wide
    same("-o", SIGS2, "-p", holder["all"])


MASKED = [
    "pid,tid,pending,blocked,wchan",
    "pending,tid",
    "pending:12,blocked=LONGERHEADERXX,tid",
    "tid,caught",
    "ignored:3,tid,blocked=B,comm",
    "tid,tsig,sig,caught,ignored,blocked,pending",
]


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize("width", ["", "200", "80", "60", "46", "40", "30", "12"])
def test_masks_and_wchan_on_narrow_screens(holder: dict[str, Any], width: str) -> None:
    """A mask is 16 digits right-aligned in 16 when the screen holds every
    column with 7 more for each mask, else its last 8 in 9 (``<`` first
    when higher bits are set); wchan is cut to its room."""
    env = {"COLUMNS": width} if width else None
    for spec in MASKED:
        same("-T", "-o", spec, "-p", str(holder["pid"]), env=env)
    if width == "40":  # the narrow form, with higher bits cut: as tested above
        rows = same("-T", "-o", "pid,tid,pending,blocked,wchan", "-p", str(holder["pid"]), env=env)
        assert cell(rows, "BLOCKED", holder["w1"]).startswith("<")


@pytest.mark.root
@pytest.mark.procps
def test_wchan_as_procps_names_it(holder: dict[str, Any]) -> None:
    rows = same("-T", "-o", "pid,tid,wchan:30,wname:30", "-p", holder["all"])
    for tid in (holder["pid"], holder["w1"], holder["sleep"]):
        assert cell(rows, "WCHAN", tid) not in ("-", "?", "")  # all of them sleep
    assert cell(rows, "WCHAN", holder["sleep"]) != cell(rows, "WCHAN", holder["pid"])
    same("-T", "-o", "pid,tid,wchan", "-p", holder["all"])  # cut to 6 in the middle...
    same("-T", "-o", "pid,wchan,tid", "-p", holder["all"])
    same("-T", "-o", "tid,wchan:2,wname:1,comm", "-p", holder["all"])
    same("-o", "pid,wchan", "-p", holder["all"])  # ... and whole at the end


@pytest.mark.root
@pytest.mark.procps
def test_namespaces_are_each_threads_own(holder: dict[str, Any]) -> None:
    rows = same("-T", "-o", NS, "-p", holder["all"])
    pid, loner = holder["pid"], holder["ns"]
    for name in ("uts", "ipc"):
        mine = os.stat(f"/proc/{pid}/task/{loner}/ns/{name}").st_ino
        assert cell(rows, f"{name.upper()}NS", loner) == str(mine)
        assert cell(rows, f"{name.upper()}NS", pid) != str(mine)
    assert cell(rows, "MNTNS", loner) == cell(rows, "MNTNS", pid)
    same("-o", NS, "-p", holder["all"])
    same("-T", "-o", "utsns,tid,ipcns:3", "-p", str(pid))


@pytest.mark.root
@pytest.mark.procps
def test_context_switches_are_filled_where_procps_prints_a_dash(holder: dict[str, Any]) -> None:
    """procps 4.0.2 prints ``-`` for nvcsw and nivcsw; we print the counts
    of the task's status, in procps's headers and widths."""
    ours, theirs = both("-T", "-o", "tid,nvcsw,nivcsw,tid", "-p", str(holder["pid"]))
    ours_rows, their_rows = ours.splitlines(), theirs.splitlines()
    assert ours_rows[0] == their_rows[0] and ours_rows[0].split() == ["TID", "VCSW", "IVCSW", "TID"]
    assert all(r.split()[1:3] == ["-", "-"] for r in their_rows[1:])
    for tid in holder["tids"]:  # parked raw threads: their counts stay put
        expect = status(holder["pid"], tid)
        line = next(r for r in ours_rows[1:] if r.split()[0] == str(tid))
        counts = [expect["voluntary_ctxt_switches"], expect["nonvoluntary_ctxt_switches"]]
        assert line.split()[1:3] == counts and len(line) == len(ours_rows[0])


@pytest.mark.root
@pytest.mark.procps
def test_cgroups_as_procps_joins_them(holder: dict[str, Any]) -> None:
    """Every line not in a hierarchy's root, joined by commas; cgname is
    what follows the first ``:name=`` (the rest of the lines with it)."""
    made = []
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split() for ln in f]
    for m in mounts:
        kind, options = m[m.index("-") + 1], m[m.index("-") + 3].split(",")
        if (kind == "cgroup" and any(o.startswith("name=") for o in options)) or kind == "cgroup2":
            where = os.path.join(m[4], f"psfilecols-{uuid.uuid4().hex[:8]}")
            try:
                os.mkdir(where)
                Path(where, "cgroup.procs").write_text(str(holder["pid"]))
            except OSError:
                continue
            made.append(where)
    try:
        for spec in ["pid,tid,cgroup", "cgroup,tid", "cgname,tid,cgroup:10", "tid,cgname"]:
            rows = same("-T", "-o", spec, "-p", holder["all"])
            same("-o", spec.replace("tid", "pid"), "-p", holder["all"])
        text = Path(f"/proc/{holder['pid']}/cgroup").read_text()
        shown = [ln for ln in text.splitlines() if not ln.endswith("/")]
        assert cell(rows, "CGNAME", holder["w1"]) == (
            ",".join(shown).partition(":name=")[2] or ",".join(shown) or "-"
        )
        assert made, "no cgroup hierarchy to move the holder into"
    finally:
        for where in made:
            Path(os.path.dirname(where), "cgroup.procs").write_text(str(holder["pid"]))
            with contextlib.suppress(OSError):
                os.rmdir(where)


@pytest.mark.root
@pytest.mark.procps
def test_unprivileged_sees_what_procps_sees(holder: dict[str, Any]) -> None:
    """As nobody, root's wchan reads 0 (``-``) and its ns links cannot be
    followed (``-``); status and cgroup can be read."""
    rows = same("-T", "-o", EVERY, "-p", f"1,{holder['all']}", user=True)
    assert cell(rows, "IPCNS", holder["pid"]) == "-" and cell(rows, "WCHAN", holder["pid"]) == "-"
    assert cell(rows, "SUID", holder["pid"]) == "-2"
    same("-o", EVERY, "-p", f"1,{holder['all']}", user=True)


def switches() -> dict[tuple[str, str], bytes]:
    """Every task's context switch counts, by (pid, tid): a task whose
    counts did not move did not run, so nothing it does itself changed.
    Read as bytes: another test's task may be named with any byte (0xff)."""
    counts = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with (
                    contextlib.suppress(OSError),
                    open(f"/proc/{pid}/task/{tid}/status", "rb") as f,
                ):
                    text = f.read()
                counts[pid, tid] = text[text.find(b"voluntary_ctxt") :]
    return counts


def unchanged(
    first: str, second: str, before: dict[Any, bytes], after: dict[Any, bytes]
) -> dict[Any, str]:
    """Rows (by their first two cells) the same in two runs of procps whose
    tasks did not run in between."""
    a = {tuple(r.split()[:2]): r for r in first.splitlines()[1:]}
    b = {tuple(r.split()[:2]): r for r in second.splitlines()[1:]}
    return {
        key: row
        for key, row in a.items()
        if b.get(key) == row and key in before and before[key] == after.get(key)
    }


@pytest.mark.root
@pytest.mark.procps
@pytest.mark.parametrize("user", [False, True], ids=["root", "nobody"])
@pytest.mark.parametrize("mode", ["-AT", "-A"])
def test_the_whole_machine(holder: dict[str, Any], mode: str, user: bool) -> None:
    """Every row of a task that did not change while we looked is the same,
    and none of them is missing (tasks come, go and run: they are left out)."""
    before = switches()
    first = run(["ps", mode, "-o", EVERY], user=user, errors="surrogateescape")
    ours = tidscope("ps", mode, "-o", EVERY, user=user, errors="surrogateescape")
    second = run(["ps", mode, "-o", EVERY], user=user, errors="surrogateescape")
    after = switches()
    assert ours.returncode == first.returncode == 0, ours.stderr
    assert ours.stdout.splitlines()[0] == first.stdout.splitlines()[0]
    stable = unchanged(first.stdout, second.stdout, before, after)
    mine = {tuple(r.split()[:2]): r for r in ours.stdout.splitlines()[1:]}
    assert len(stable) > 20, first.stdout
    assert (str(holder["pid"]), str(holder["w1"] if mode == "-AT" else holder["pid"])) in stable
    differ = {key: (mine.get(key), row) for key, row in stable.items() if mine.get(key) != row}
    assert not differ, differ


@pytest.mark.root
def test_typed_json_and_csv(holder: dict[str, Any]) -> None:
    pid, w1 = holder["pid"], holder["w1"]
    proc = tidscope("ps", "-T", "-p", str(pid), "--format", "json", "-o", ONCE)
    assert proc.returncode == 0, proc.stderr
    rows = {r["tid"]: r for r in json.loads(proc.stdout)}
    lead, worker = rows[pid], rows[w1]
    keys = "pid tid ruid uid suid fuid rgid gid sgid fgid ruser suser fuser rgroup group sgroup"
    keys += " fgroup pending tsig blocked caught ignored cgroupns ipcns mntns netns pidns timens"
    keys += " userns utsns wchan supgid supgrp cgname cgroup nvcsw nivcsw"
    assert list(lead) == keys.split()
    # ids as the kernel keeps them (unsigned), names as text
    assert [lead[k] for k in ("ruid", "uid", "suid", "fuid")] == [0, 0, 4294967294, 7]
    assert [lead[k] for k in ("rgid", "gid", "sgid", "fgid")] == [1, 2, 4294967294, 8]
    assert lead["suser"] == "4294967294" and lead["rgroup"] == grp.getgrgid(1).gr_name
    assert worker["suid"] == 0 and worker["ruser"] == "root"
    assert lead["supgid"] == [4, 27, 123456] and worker["supgid"] == []
    assert lead["supgrp"] == [grp.getgrgid(4).gr_name, grp.getgrgid(27).gr_name, "123456"]
    # masks: the 16 hex digits of status
    mine = status(pid, pid)
    assert lead["tsig"] == mine["SigPnd"] and lead["blocked"] == mine["SigBlk"]
    assert lead["pending"] == mine["ShdPnd"] == f"{1 << 9:016x}"
    assert worker["pending"] == worker["tsig"] == f"{1 << 11:016x}"
    for row in (lead, worker):
        tid = row["tid"]
        for name in NAMESPACES:
            assert row[f"{name}ns"] == os.stat(f"/proc/{pid}/task/{tid}/ns/{name}").st_ino
        assert isinstance(row["wchan"], str) and row["wchan"]
        assert isinstance(row["nvcsw"], int) and isinstance(row["nivcsw"], int)
        assert all(isinstance(x, str) for x in row["cgroup"])
    as_nobody = tidscope(
        "ps", "-p", str(pid), "--format", "json", "-o", "pid,wchan,ipcns", user=True
    )
    assert json.loads(as_nobody.stdout) == [{"pid": pid, "wchan": None, "ipcns": None}]
    csv = tidscope("ps", "-T", "-p", str(pid), "--format", "csv", "-o", "tid,supgid,pending,ipcns")
    head, first, *_ = csv.stdout.splitlines()
    assert head == "tid,supgid,pending,ipcns"
    inode = os.stat(f"/proc/{pid}/ns/ipc").st_ino
    assert first == f"{pid},4 27 123456,{1 << 9:016x},{inode}"
    both_keys = tidscope("ps", "--format", "json", "-o", "pid,sig,pending", "-p", str(pid))
    assert both_keys.returncode == 2 and "same column" in both_keys.stderr


@pytest.mark.root
def test_signal_names(holder: dict[str, Any]) -> None:
    """``--signames``: procps (4.0.3 on) lists the names in a text column at
    least 27 wide, each next name only while it leaves a column free, ``+``
    for the rest, ``-`` for none; JSON carries the lists."""
    pid, w1 = holder["pid"], holder["w1"]
    query = Query(threads=True, pids=(pid,))
    cols = columns.parse_format(["tid,pending,blocked,caught:30,ignored"], 7)
    want = frozenset().union(*(c.needs for c in cols))

    def table(screen: int) -> list[str]:
        out = io.StringIO()
        ctx = Context(signames=True)
        pslist.write_table(tasks(query, want), cols, ctx, out, True, screen)
        return out.getvalue().splitlines()

    rows = table(pslist.OUTBUF_SIZE)
    assert rows[0] == f"{'TID':>7} {'PENDING':<27} {'BLOCKED':<27} {'CAUGHT':<30} IGNORED"
    mine = status(pid, pid)
    caught, ignored = names_of(mine["SigCgt"]), names_of(mine["SigIgn"])
    assert "TERM" in caught and "HUP" in ignored
    assert row(rows, pid) == [str(pid), "USR1", "USR1,WINCH,RTMIN+03,RTMAX", caught, ignored]
    # a raw thread blocks all it can: 27 columns hold six names and a +
    assert row(rows, w1) == [str(w1), "USR2", "HUP,INT,QUIT,ILL,TRAP,ABRT+", caught, ignored]
    assert row(rows, holder["tids"][1])[1] == "-"
    narrow = table(50)  # two screens: the last column ends at the second's edge
    cut = next(r for r in narrow if r.split()[0] == str(w1))
    assert len(cut) <= 100 and cut.split()[-1] == "HUP+"
    records = list(psrun.records(tasks(query, want), cols, Context(signames=True)))
    first = next(r for r in records if r["tid"] == pid)
    assert first["blocked"] == ["USR1", "WINCH", "RTMIN+03", "RTMAX"]
    assert first["pending"] == ["USR1"] and first["caught"] == caught.split(",")
    assert next(r for r in records if r["tid"] == holder["tids"][1])["pending"] == []


@pytest.mark.root
def test_signames_on_the_command_line(holder: dict[str, Any]) -> None:
    """``tidscope ps --signames``: the same table as above, wherever the
    mask columns stand, and lists in JSON and CSV."""
    pid, w1 = holder["pid"], holder["w1"]
    mine = status(pid, pid)
    caught, ignored = names_of(mine["SigCgt"]), names_of(mine["SigIgn"])
    spec = ("-o", "tid,pending,blocked,caught,ignored,comm")
    proc = tidscope("ps", "--signames", "-T", "-p", str(pid), *spec)
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.splitlines()
    assert rows[0].split() == ["TID", "PENDING", "BLOCKED", "CAUGHT", "IGNORED", "COMMAND"]
    assert row(rows, pid) == [
        str(pid),
        "USR1",
        "USR1,WINCH,RTMIN+03,RTMAX",
        caught,
        ignored,
        "python",
    ]
    assert row(rows, w1)[1:3] == ["USR2", "HUP,INT,QUIT,ILL,TRAP,ABRT+"]
    last = tidscope("ps", "--signames", "-T", "-p", str(pid), "-o", "tid,blocked")
    assert row(last.stdout.splitlines(), w1)[1] == names_of("fffffffffffbfeff")  # room enough
    js = tidscope(
        "ps", "--signames", "-p", str(pid), "--format", "json", "-o", "pid,blocked,pending"
    )
    assert json.loads(js.stdout) == [
        {"pid": pid, "blocked": ["USR1", "WINCH", "RTMIN+03", "RTMAX"], "pending": ["USR1"]}
    ]
    csv = tidscope("ps", "--signames", "-p", str(pid), "--format", "csv", "-o", "pid,blocked")
    assert csv.stdout.splitlines()[1] == f"{pid},USR1 WINCH RTMIN+03 RTMAX"


def names_of(mask: str) -> str:
    """A mask's signal names by glibc (and procps's rule past 31)."""
    bits = int(mask, 16)
    names = [sigabbrev(n) if n < 32 else _realtime(n) for n in range(1, 65) if bits >> (n - 1) & 1]
    return ",".join(names) or "-"


def _realtime(number: int) -> str:
    """procps's names past glibc's: its two own, then RTMIN+nn to RTMAX."""
    if number < 34:
        return f"LIBC+{number - 32:02}"
    return {34: "RTMIN", 64: "RTMAX"}.get(number, f"RTMIN+{number - 34:02}")


def sigabbrev(number: int) -> str:
    """glibc's own abbreviation, the oracle for our table."""
    libc = ctypes.CDLL(None)
    libc.sigabbrev_np.restype = ctypes.c_char_p
    name: bytes = libc.sigabbrev_np(number)
    return name.decode()


def test_our_signal_names_are_glibcs() -> None:
    from tidscope.proc.masks import PROCPS_SIGNALS as SIGNALS
    from tidscope.ps.signal_columns import signal_names

    assert [SIGNALS[n] for n in range(1, 32)] == [sigabbrev(n) for n in range(1, 32)]
    assert (int(signal.SIGRTMIN), int(signal.SIGRTMAX)) == (34, 64)  # glibc keeps 32, 33
    assert signal_names("0000000000000000") == []
    assert signal_names("8000000180000000") == ["LIBC+00", "LIBC+01", "RTMAX"]
    assert signal_names("0000001400000000") == ["RTMIN+01", "RTMIN+03"]
    assert pslist.fit_names("HUP,INT,QUIT,ILL,TRAP,ABRT,BUS", 27) == "HUP,INT,QUIT,ILL,TRAP,ABRT+"
    assert pslist.fit_names("HUP,INT", 8) == "HUP,INT" and pslist.fit_names("HUP,INT", 7) == "HUP+"
    assert pslist.fit_names("-", 1) == "-"


# -- what is read ----------------------------------------------------------------

TRACED = re.compile(r'^\d+ +\w+\((?:(?:AT_FDCWD|\d+), )?"([^"]*)"')
TASK_FILE = re.compile(r"^(?:/proc/\d+/(?:task/\d+/)?|\d+/|\.\./)(?P<file>[a-z_/]+)$")


def files_read(pid: int, *columns: str) -> set[str]:
    """The per-task files ``ps -T -o COLUMNS -p pid`` opens or stats."""
    log = tempfile.mktemp(prefix="tidscope-strace-")
    try:
        trace = ["strace", "-f", "-qq", "-o", log, "-e", "trace=openat,newfstatat,statx,stat"]
        proc = run([*trace, sys.executable, "-m", "tidscope", "ps", "-T", "-p", str(pid), "-o",
                    ",".join(["tid", *columns])])  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        with open(log) as f:
            paths = [m.group(1) for line in f if (m := TRACED.match(line))]
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log)
    found = set()
    for path in paths:
        m = TASK_FILE.match(path)
        if m:
            found.add(m.group("file"))
        elif re.fullmatch(r"\d+|\.\.", path):
            found.add("<dir>")
    # -p's own check reads the status of the pid; the walk opens task/
    return found - {"status", "task"} | ({"status"} if _status_per_task(paths) else set())


def _status_per_task(paths: list[str]) -> bool:
    """Whether status was read per task (not just once for -p's own check)."""
    return any(re.fullmatch(r"(\d+|\.\.)/status", p) for p in paths)


@pytest.mark.root
@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
@pytest.mark.parametrize(
    "cols, files",
    [
        ((), {"stat"}),
        (("comm", "time"), {"stat"}),
        (("wchan",), {"stat", "wchan"}),
        (("cgroup", "cgname"), {"stat", "cgroup"}),
        (("ipcns",), {"stat", "ns/ipc"}),
        (("utsns", "netns"), {"stat", "ns/uts", "ns/net"}),
        (("egid", "group"), {"stat", "<dir>"}),
        (("ruid", "pending", "supgrp", "nvcsw"), {"stat", "status"}),
        (("wchan", "suid", "mntns"), {"stat", "status", "wchan", "ns/mnt"}),
    ],
)
def test_each_column_reads_only_the_files_it_needs(
    holder: dict[str, Any], cols: tuple[str, ...], files: set[str]
) -> None:
    assert files_read(holder["pid"], *cols) == files


# -- what cannot be read -----------------------------------------------------------


def test_a_fake_root_shows_unreadable_files_as_procps_would(tmp_path: Path) -> None:
    """Missing files, FIFOs where files should be, and garbage: one row per
    task, never a hang or a traceback."""
    root = tmp_path / "proc"
    fake = FakeProc(root)
    fake.process(10, "plain", 1)
    fake.process(20, "odd", 1)
    good = root / "10"
    (good / "status").write_text(
        "Name:\tplain\nTgid:\t10\nPid:\t10\nUid:\t1\t2\t3\t4\nGid:\t5\t6\t7\t8\n"
        "Groups:\t9 10 \nShdPnd:\t0000000000000001\nSigPnd:\t0000000000000000\n"
        "SigBlk:\t0000000000000002\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n"
        "voluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n"
    )
    (good / "wchan").write_text("__x64_sys_pause")
    (good / "cgroup").write_text("1:name=a:/\n2:cpu:/b\n0::/c d\n")
    (good / "ns").mkdir()
    (good / "ns" / "ipc").write_text("")
    odd = root / "20"
    (odd / "status").write_text("Name:\todd\nTgid:\t20\nPid:\t20\nUid:\tx\nSigBlk:\tzz\n")
    os.mkfifo(odd / "wchan")
    os.mkfifo(odd / "cgroup")
    spec = "pid,ruid,suid,rgid,fgid,supgid,pending,blocked,nvcsw,wchan,ipcns,utsns,cgname,cgroup"
    proc = tidscope("ps", "--proc-root", str(root), "-o", spec, timeout=30)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    _, plain, garbled = proc.stdout.splitlines()
    inode = (good / "ns" / "ipc").stat().st_ino
    cgroups = ["2:cpu:/b,0::/c", "d"]  # a blank splits the cell here
    masks = [f"{1:016x}", f"{2:016x}"]
    expect = ["10", "1", "3", "5", "8", "9,10", *masks, "12", "x64_sy", str(inode), "-"]
    assert plain.split() == expect + cgroups + cgroups
    # unreadable ids are ?, masks 8 zeros (procps's empty mask), files -/?
    ids = ["?"] * 5
    assert garbled.split() == ["20", *ids, "00000000", "00000000", "-", "?", "-", "-", "-", "-"]


# -- names procps cuts ----------------------------------------------------------


@pytest.mark.root  # bind mounts over /etc/passwd, setpriv to other uids
@pytest.mark.procps
def test_long_and_empty_names_as_procps_prints_them(tmp_path: Path) -> None:
    """A name of 33 bytes or more prints as its number (procps's pwcache),
    as does an id with no name; an empty group name prints as nothing."""
    etc = tmp_path / "etc"
    etc.mkdir()
    a32, a33 = "u" * 32, "v" * 33
    users = f"{a32}:x:3001:3001::/:/bin/false\n{a33}:x:3002:3002::/:/bin/false\n"
    groups = f"{a32}:x:3001:\n{a33}:x:3002:\n:x:3003:\n"
    (etc / "passwd").write_text(Path("/etc/passwd").read_text() + users)
    (etc / "group").write_text(Path("/etc/group").read_text() + groups)
    os.chmod(tmp_path, 0o755)
    specs = ["pid,user,ruser,fuser,group,rgroup,sgroup,supgrp,uid", "user:4,supgrp:9,group:3,pid"]
    me = f"{sys.executable} -m tidscope"
    lines = [
        f"mount --bind {etc}/passwd /etc/passwd && mount --bind {etc}/group /etc/group || exit 9",
        "P=1",
        *(
            f'setpriv --reuid {u} --regid {u} --groups 3001,3002,3003 sleep 30 & P="$P,$!"'
            for u in (3001, 3002, 3003)
        ),
        "sleep 0.5",
        *(f"ps -o {spec} -p $P; echo ---; {me} ps -o {spec} -p $P; echo ---" for spec in specs),
        'kill $(echo "$P" | tr , " " | cut -d " " -f 2-)',
    ]
    proc = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)])
    parts = proc.stdout.split("---\n")
    assert proc.returncode == 0 and len(parts) == 5, proc.stdout + proc.stderr
    assert parts[0] == parts[1] and parts[2] == parts[3], proc.stdout
    assert a32 in parts[0] and a33 not in parts[0] and "3002" in parts[0]


def test_every_column_here_is_in_the_man_page() -> None:
    """Each name of file_columns.py (signal_columns.py's with them) is in
    tidscope-ps(1)'s COLUMNS, and each key in its JSON AND CSV."""
    from tidscope.ps import file_columns

    page = Path(__file__).parent.parent / "man" / "tidscope-ps.1"
    text = page.read_text()
    part = text.split(".Ss COLUMNS", 1)[1].split(".Ss JSON AND CSV", 1)[0]
    documented = {
        word
        for line in part.splitlines()
        if line.startswith(".It Cm ")
        for word in line.split(" Ta ")[0].split()[2:]
        if word != ","
    }
    assert set(file_columns.SPECS) - documented == set()
    keys = {spec[0] for spec in file_columns.SPECS.values()}
    json_part = text.split(".Ss JSON AND CSV", 1)[1].split(".Sh ", 1)[0]
    listed = {w for line in json_part.splitlines() if line.startswith(".Cm ") for w in line.split()}
    assert keys - listed == set()
