"""``tidscope inspect``: a thread's own state, each field from the file that holds it.

A thread is read from its own directory, ``/proc/<tgid>/task/<tid>``, held
open while it is read (taskdir.py: a reused id cannot answer for it):
``stat``, ``status`` and ``sched`` give thread_fields.py's fields,
``wchan``, ``syscall`` and ``smaps`` thread_activity.py's.  Each field
names its source and whether the kernel keeps it per thread or once for
the group: SigPnd and SigBlk are a thread's own, ShdPnd, SigIgn and SigCgt
belong to the signal state every CLONE_SIGHAND task shares.  Credentials
are per thread too: a raw setuid(2) in one thread changes that thread only
(glibc's setuid makes each of its threads repeat the call; a thread it did
not create is not among them).

Every thread shown is compared with its group's leader field by field; the
process-wide facts psutil knows follow (process_facts.py).

Races are ordinary control flow: a thread that exits while it is read gives
None; so does :func:`autopsy` when the thread asked for or its leader does.
Other threads that exit during ``--all-threads`` are left out and listed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidscope.inspector import activity
from tidscope.inspector import fields as tf
from tidscope.inspector.fields import PROCESS, THREAD, Field
from tidscope.numeric import c_integer, entry_id
from tidscope.proc.files import NOTHING, PROC, Unread, listing, read
from tidscope.proc.root import clock_ticks
from tidscope.proc.task import Task, parse_stat, status_fields, tgid_of
from tidscope.proc.taskdir import TaskDir

FILES = ("stat", "status", "wchan", "syscall", "sched")
# what a kernel needs to have the files that are not always there
CONFIG = {"sched": "CONFIG_SCHED_DEBUG", "syscall": "CONFIG_HAVE_ARCH_TRACEHOOK"}


@dataclass
class Machine:
    """What every thread's fields are read against, read once per run."""

    hz: int = field(default_factory=clock_ticks)
    cap_last: int | None = None  # /proc/sys/kernel/cap_last_cap

    @classmethod
    def read(cls, root: str = PROC) -> Machine:
        said = (read(f"{root}/sys/kernel/cap_last_cap") or b"").decode("ascii", "replace")
        return cls(cap_last=c_integer(said.strip(), 10))


@dataclass
class Thread:
    """One thread's fields, in the order they are shown."""

    tgid: int
    tid: int
    fields: list[Field]

    def get(self, key: str) -> Field:
        return next(f for f in self.fields if f.key == key)


@dataclass
class Autopsy:
    """The threads shown (the leader first when it is one of them), the
    leader they are compared with, and the process's facts."""

    tgid: int
    threads: list[Thread]
    leader: Thread
    process: list[Field]
    left_out: list[int]  # threads that exited before they could be read

    @property
    def compared(self) -> bool:
        """Whether any thread is shown next to its leader."""
        return any(t.tid != self.tgid for t in self.threads)


# -- which tasks -----------------------------------------------------------------------


def resolve(number: int, root: str = PROC) -> tuple[int, int] | None:
    """(tgid, tid) of task ``number``, thread or leader; None if there is no
    such task (or it is hidden from us)."""
    tgid = tgid_of(number, root)
    return None if tgid is None else (tgid, number)


def thread_ids(tgid: int, root: str = PROC) -> list[int]:
    """The threads of ``tgid`` now, the leader first; empty if it is gone."""
    names = listing(f"{root}/{tgid}/task", raises=NOTHING)
    if isinstance(names, Unread):
        return []
    return sorted((t for t in map(entry_id, names) if t is not None), key=lambda t: (t != tgid, t))


def autopsy(
    tgid: int, tid: int, all_threads: bool = False, machine: Machine | None = None, root: str = PROC
) -> Autopsy | None:
    """Thread ``tid`` of ``tgid`` (or, ``all_threads``, each thread of
    ``tgid``), its leader, and the process facts; None if the thread or
    its leader exits before it is read."""
    from tidscope.inspector.process import process_fields

    machine = machine or Machine.read(root)
    leader_dir = TaskDir.open(tgid, tgid, root)
    if leader_dir is None:
        return None
    with leader_dir:
        wanted = thread_ids(tgid, root) if all_threads else [tid]
        shown: list[Thread] = []
        left_out: list[int] = []
        for one in wanted:
            if one == tgid:
                continue  # read below, last: the process facts are read with it
            got = _read(tgid, one, machine, root)
            if got is not None:
                shown.append(got)
            elif one == tid:
                return None
            else:
                left_out.append(one)
        leader = read_thread(leader_dir, machine)
        state = leader.get("state").value if leader is not None else None
        process = process_fields(tgid, isinstance(state, str) and state.startswith("Z"))
        # psutil asks by number: the leader still there means it answered for ours
        if leader is None or process is None or leader_dir.gone():
            return None
    if tgid in wanted:
        shown.insert(0, leader)
    return Autopsy(tgid, shown, leader, process, left_out)


def _read(tgid: int, tid: int, machine: Machine, root: str) -> Thread | None:
    d = TaskDir.open(tgid, tid, root)
    if d is None:
        return None
    with d:
        return read_thread(d, machine)


def read_thread(d: TaskDir, machine: Machine) -> Thread | None:
    """Every field of the thread whose directory ``d`` is; None if it
    exited while it was being read."""
    files = {name: d.read(name) for name in FILES}
    if any(isinstance(v, Unread) and v.gone for v in files.values()):
        if d.gone():
            return None
        files = {name: _absent(got) for name, got in files.items()}
    fields = _fields(d, files, machine)
    if d.gone():  # smaps, exe and ns/pid are read after the rest: not after it exited
        return None
    return Thread(d.tgid, d.tid, fields)


def _absent(got: bytes | Unread) -> bytes | Unread:
    """A file that is not there although its task is: this kernel has none."""
    if not isinstance(got, Unread) or not got.gone:
        return got
    need = CONFIG.get(got.where)
    why = f"{got.why}: this kernel has no such file" + (f" (it needs {need})" if need else "")
    return Unread(got.where, why, got.errno)


def _fields(d: TaskDir, files: dict[str, bytes | Unread], machine: Machine) -> list[Field]:
    """The fields in the order they are shown: what the thread is doing,
    scheduling, CPU use, signals, credentials, ids, stack."""
    stat = _stat(files["stat"], d)
    raw = files["status"]
    status = raw if isinstance(raw, Unread) else status_fields(raw)
    call = activity.syscall(files["syscall"], d)
    caps = tf.capabilities(machine.cap_last)
    hz = tf.seconds(machine.hz)
    return [
        tf.stat_field("name", THREAD, stat, tf.NAME, tf.text),
        tf.status_field("state", THREAD, status, "State", tf.text),
        activity.wchan(files["wchan"], d),
        call,
        tf.status_field("ppid", PROCESS, status, "PPid", tf.number),
        tf.status_field("threads", PROCESS, status, "Threads", tf.number),
        tf.stat_field("policy", THREAD, stat, tf.POLICY, tf.policy),
        tf.stat_field("rt_priority", THREAD, stat, tf.RT_PRIORITY, tf.number),
        tf.stat_field("priority", THREAD, stat, tf.PRIORITY, tf.number),
        tf.stat_field("nice", THREAD, stat, tf.NICE, tf.number),
        tf.status_field("cpus_allowed", THREAD, status, "Cpus_allowed_list", tf.text),
        tf.status_field("mems_allowed", THREAD, status, "Mems_allowed_list", tf.text),
        tf.stat_field("last_cpu", THREAD, stat, tf.PROCESSOR, tf.number, compare=False),
        tf.stat_field("user_time", THREAD, stat, tf.UTIME, hz, compare=False),
        tf.stat_field("system_time", THREAD, stat, tf.STIME, hz, compare=False),
        tf.status_field("voluntary_switches", THREAD, status, "voluntary_ctxt_switches",
                        tf.number, compare=False),
        tf.status_field("involuntary_switches", THREAD, status, "nonvoluntary_ctxt_switches",
                        tf.number, compare=False),
        tf.migrations(files["sched"]),
        tf.status_field("sig_pending", THREAD, status, "SigPnd", tf.signals),
        tf.status_field("sig_blocked", THREAD, status, "SigBlk", tf.signals),
        tf.status_field("shared_pending", PROCESS, status, "ShdPnd", tf.signals),
        tf.status_field("sig_ignored", PROCESS, status, "SigIgn", tf.signals),
        tf.status_field("sig_caught", PROCESS, status, "SigCgt", tf.signals),
        tf.status_field("uid", THREAD, status, "Uid", tf.ids),
        tf.status_field("gid", THREAD, status, "Gid", tf.ids),
        tf.status_field("groups", THREAD, status, "Groups", tf.groups),
        tf.status_field("cap_inheritable", THREAD, status, "CapInh", caps),
        tf.status_field("cap_permitted", THREAD, status, "CapPrm", caps),
        tf.status_field("cap_effective", THREAD, status, "CapEff", caps),
        tf.status_field("cap_bounding", THREAD, status, "CapBnd", caps),
        tf.status_field("cap_ambient", THREAD, status, "CapAmb", caps),
        tf.status_field("no_new_privs", THREAD, status, "NoNewPrivs", tf.flag),
        tf.seccomp(status),
        tf.status_field("tracer", THREAD, status, "TracerPid", tf.number),
        tf.status_field("nspid", THREAD, status, "NSpid", tf.chain, compare=False),
        tf.status_field("nstgid", PROCESS, status, "NStgid", tf.chain),
        *activity.stack(d, stat, call),
    ]  # fmt: skip


def _stat(data: bytes | Unread, d: TaskDir) -> Task | Unread:
    if isinstance(data, Unread):
        return data
    task = parse_stat(data, d.tid, d.tgid)
    return task if task is not None else Unread("stat", "not a stat line")


# -- rows ------------------------------------------------------------------------------


def columns(a: Autopsy, typed: bool) -> list[str]:
    """The thread rows' columns: for a table, the texts and whether each
    differs; ``typed`` (JSON, CSV), the values and what was not read."""
    if typed:
        compared = ["leader", "leader_unread", "differs"] if a.compared else []
        return ["tid", "field", "scope", "source", "value", "unread", *compared]
    compared = ["differs", "value", "leader"] if a.compared else ["value"]
    return ["tid", "field", "scope", "source", *compared]


PROCESS_COLUMNS = ["tid", "field", "source", "value"]  # a table's; JSON and CSV: columns()


def thread_rows(a: Autopsy, typed: bool) -> list[dict[str, Any]]:
    """One row per field of each thread shown, with its leader's value and
    whether the two differ (None: not compared, not read, or the leader)."""
    rows = []
    for thread in a.threads:
        for f in thread.fields:
            row = {"tid": thread.tid, "field": f.key, "scope": f.scope, "source": f.source}
            row.update(_value(f, typed))
            if thread.tid != a.tgid:
                theirs = a.leader.get(f.key)
                same = f.same_as(theirs)
                row.update(_value(theirs, typed, "leader"))
                row["differs"] = None if same is None else not same
            rows.append(row)
    return rows


def process_rows(a: Autopsy, typed: bool) -> list[dict[str, Any]]:
    """One row per process fact (``tid`` is the process id)."""
    return [
        {"tid": a.tgid, "field": f.key, "scope": f.scope, "source": f.source, **_value(f, typed)}
        for f in a.process
    ]


def _value(f: Field, typed: bool, key: str = "value") -> dict[str, Any]:
    """``{key: ...}``: the text, for a table; else the value and, beside it
    (``unread``, ``leader_unread``), why it was not read."""
    why = "unread" if key == "value" else f"{key}_unread"
    if not typed:
        return {key: f.text}
    if f.observed:
        return {key: f.value, why: None}
    return {key: None, why: f.value.why}
