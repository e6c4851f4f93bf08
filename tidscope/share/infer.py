"""The clone flags each task behaves as if created with, inferred from what
:mod:`tidscope.share.groups` observed, each with its evidence.

Rules:

- A thread (tid != tgid) is compared with the other tasks of its thread
  group, a process with the tasks of its parent process: a flag is inferred
  when the task's group for that resource holds one of them.  CLONE_THREAD
  is the task's place in a thread group, a fact.
- An inference says "behaves as if": the same groups come from unshare(2),
  setns(2), CLONE_PARENT or a parent that changed since; the evidence names
  the groups it rests on.
- No object on both sides (group NONE: no I/O context yet, no SysV undo
  list, a kernel thread's mm) shows nothing either way: that flag is "cannot
  tell", never "not shared".
- A process that shares its parent's address space is "a vfork child or
  CLONE_VM process".  It is a vfork child when a thread of its parent is
  blocked in vfork(2), or in clone(2) or clone3(2) with CLONE_VFORK
  (/proc/TID/syscall; clone3's flags are the first field of its struct
  clone_args, read from the parent's memory with process_vm_readv(2)), and
  it is the one child of that thread (/proc/PID/task/TID/children) that
  shares (or may share: not observed) its memory.  A blocked thread makes
  no other child, but its children include what it made before, and
  /proc does not say which child the blocked call made: with several
  candidates each is "cannot tell", the youngest named; a child of another
  thread is no vfork child of that call.  Evidence that could not be read
  (a refused read of the parent's memory, no children file) is named.
- A zombie (a task that has exited and not been reaped) is a member of its
  group: it holds none of the resources and no namespace, so it is not
  compared; a thread whose other tasks are all zombies (its leader exited
  alone) has nothing left to compare with, and says so.
- A task that could not be compared, or whose parent could not be, gets no
  inference, with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from tidscope.core.flags import FLAGS
from tidscope.core.kcmp import WHAT
from tidscope.proc.task import Task
from tidscope.share import vfork
from tidscope.share.sharing import NONE, RESOURCES, Sharing, spread

NEW = {
    "cgroup": "NEWCGROUP",
    "ipc": "NEWIPC",
    "mnt": "NEWNS",
    "net": "NEWNET",
    "pid": "NEWPID",
    "time": "NEWTIME",
    "user": "NEWUSER",
    "uts": "NEWUTS",
}
# What pthread_create(3) passes, of what kcmp can see (CLONE_SYSVSEM too,
# but a thread without an undo list on either side cannot show it).
THREAD_SHARES = ("VM", "SIGHAND", "FS", "FILES")


@dataclass(frozen=True)
class Finding:
    """One flag: inferred (True), not (False), or cannot tell (None)."""

    flag: str
    shared: bool | None
    evidence: str


@dataclass(frozen=True)
class Inference:
    """What a task behaves as if created with, and why (one object may
    stand for many tasks: the threads of a process that agree)."""

    compared_with: str  # what its groups were held against
    flags: tuple[str, ...]  # inferred, in bit order
    summary: str
    findings: tuple[Finding, ...]
    usual: bool  # a thread as pthread_create makes one, or a fork-like process

    @cached_property
    def evidence(self) -> list[str]:
        return [f"{f.flag}: {f.evidence}" for f in self.findings]


def infer(sharing: Sharing, arch: str) -> dict[int, Inference]:
    """An inference for every row of ``sharing``: O(1) work a task, from
    per-process counts of each group (a process may have 30,000 threads)."""
    return _Infer(sharing, arch).all()


Spread = dict[int, dict[int, int]]  # tgid -> group -> how many of its tasks are in it


class _Infer:
    def __init__(self, sharing: Sharing, arch: str) -> None:
        self.sharing = sharing
        self.arch = arch
        self.by_group: dict[int, list[Task]] = {}
        for task in sharing.tasks:
            self.by_group.setdefault(task.tgid, []).append(task)
        self.spread: dict[str, Spread] = {
            kind: self._live(kind, spread(sharing, kind))
            for kind in [*sharing.groups, *sharing.namespaces]
        }
        self.tasks = {t.tid: t for t in sharing.tasks}
        # per process: how many of its tasks are comparable at all
        self.comparable = {
            tgid: sum(1 for t in tasks if t.tid not in sharing.refused)
            for tgid, tasks in self.by_group.items()
        }

    def _live(self, kind: str, counts: Spread) -> Spread:
        """``counts`` without the zombies: they hold nothing to compare."""
        if not self.sharing.zombies:
            return counts
        groups = self.groups(kind)
        out = {tgid: dict(numbers) for tgid, numbers in counts.items()}
        for task in self.sharing.tasks:
            number = groups.get(task.tid)
            if task.tid not in self.sharing.zombies or number is None:
                continue
            numbers = out[task.tgid]
            numbers[number] -= 1
            if not numbers[number]:
                del numbers[number]
        return out

    def all(self) -> dict[int, Inference]:
        """Threads of one process in the same groups share one inference."""
        tasks = self.sharing.tasks
        refused = self.sharing.refused
        kinds = [*self.sharing.groups.values(), *self.sharing.namespaces.values()]
        tids = [t.tid for t in tasks]
        columns = [[g.get(tid, -1) for tid in tids] for g in kinds]
        keys = zip([t.tgid for t in tasks], *columns, strict=True)
        seen: dict[tuple[int, ...], Inference] = {}
        out = {}
        for task, key in zip(tasks, keys, strict=True):
            if task.tid == task.tgid or task.tid in refused:
                out[task.tid] = self.one(task)
                continue
            found = seen.get(key)
            if found is None:
                found = seen[key] = self.one(task)
            out[task.tid] = found
        return out

    def one(self, task: Task) -> Inference:
        sharing = self.sharing
        why = sharing.refused.get(task.tid)
        if why is not None:
            return Inference("nothing", (), f"not comparable: {why}", (), True)
        if task.tid in sharing.zombies:
            return self.zombie(task)
        if task.tid != task.tgid:
            return self.thread(task)
        if task.ppid == 0:
            return Inference("nothing", (), "no parent process (ppid 0)", (), True)
        parent = self.by_group.get(task.ppid, [])
        if not parent:
            return Inference("nothing", (), f"its parent {task.ppid} was not observed", (), True)
        if not self.comparable[task.ppid]:
            reason = sharing.refused[parent[0].tid]
            return Inference(
                "nothing",
                (),
                f"its parent {task.ppid} is not comparable: {reason}",
                (),
                True,
            )
        return self.process(task, parent)

    def others(self, kind: str, task: Task, tgid: int) -> dict[int, int]:
        """group -> count among the tasks of ``tgid`` other than ``task``."""
        counts = dict(self.spread.get(kind, {}).get(tgid, {}))
        mine = self.groups(kind).get(task.tid)
        if task.tgid == tgid and mine is not None:
            counts[mine] -= 1
            if not counts[mine]:
                del counts[mine]
        return counts

    def groups(self, kind: str) -> dict[int, int]:
        found = self.sharing.groups.get(kind)
        return found if found is not None else self.sharing.namespaces.get(kind, {})

    def zombie(self, task: Task) -> Inference:
        live = [t for t in self.by_group[task.tgid] if t.tid not in self.sharing.zombies]
        what = "exited (a zombie): it holds none of the resources and no namespace"
        if task.tid == task.tgid and live:
            what = (
                f"the leader of thread group {task.tgid}, {what}; it stays a member of its"
                f" group while {len(live)} of its threads live on"
            )
        return Inference("nothing", (), what, (), True)

    def thread(self, task: Task) -> Inference:
        where = f"thread group {task.tgid}"
        findings = [Finding("THREAD", True, f"a task of {where}")]
        group = self.by_group[task.tgid]
        size = sum(1 for t in group if t.tid not in self.sharing.zombies) - 1
        if not size and len(group) > 1:
            gone = [t.tid for t in group if t.tid in self.sharing.zombies]
            return _done(
                "the rest of its thread group",
                findings,
                True,
                f"a thread of {where}, whose other tasks have exited ({_tids(gone)}, zombies"
                " that hold nothing): no live task of its group to compare with",
            )
        if not size:
            return _done("the rest of its thread group", findings, True, "a thread alone")
        for resource in RESOURCES:
            findings.append(self.compare(resource, task, task.tgid, size, where))
        findings += self.namespaces(task, task.tgid, where)
        shared = {f.flag: f.shared for f in findings}
        usual = (
            all(shared.get(r) is True for r in THREAD_SHARES)
            and shared.get("SYSVSEM") is not False
            and shared.get("IO") is not True
            and not any(f.shared for f in findings if f.flag in NEW.values())
        )
        return _done(f"the other tasks of its {where}", findings, usual)

    def process(self, task: Task, parent: list[Task]) -> Inference:
        where = f"its parent {_label(parent)}"
        findings = [
            self.compare(resource, task, task.ppid, len(parent), where) for resource in RESOURCES
        ]
        findings += self.namespaces(task, task.ppid, where)
        if any(f.flag == "VM" and f.shared for f in findings):
            findings.append(self.vfork(task, parent))
        usual = not any(f.shared for f in findings)
        return _done(where, findings, usual)

    def vfork(self, task: Task, parent: list[Task]) -> Finding:
        """Is ``task`` the child a thread of its parent made in a blocked
        vfork(2), or clone(2)/clone3(2) with CLONE_VFORK?"""
        shared, evidence = vfork.made_by_blocked_call(
            task, parent, self.arch, self.groups("VM"), self.tasks
        )
        return Finding("VFORK", shared, evidence)

    def compare(self, resource: str, task: Task, tgid: int, size: int, where: str) -> Finding:
        what = WHAT[resource]
        groups = self.sharing.groups.get(resource)
        if groups is None:
            return Finding(resource, None, "this kernel cannot compare it")
        mine = groups.get(task.tid)
        theirs = self.others(resource, task, tgid)
        if mine is None or not theirs:
            return Finding(resource, None, f"{where} could not be compared")
        if mine == NONE:
            if set(theirs) == {NONE}:
                return Finding(resource, None, f"{what}: neither it nor {where} has one")
            return Finding(resource, False, f"it has no {what}; {where} has")
        if mine in theirs:
            return Finding(
                resource,
                True,
                f"{resource} group {mine} holds it and {theirs[mine]} of the {size} tasks"
                f" of {where}",
            )
        return Finding(resource, False, f"{resource} group {mine} holds none of {where}")

    def namespaces(self, task: Task, tgid: int, where: str) -> list[Finding]:
        """Only the namespaces that differ, or could not be read."""
        found = []
        for t, groups in self.sharing.namespaces.items():
            flag = NEW[t]
            mine = groups.get(task.tid)
            theirs = self.others(t, task, tgid)
            if mine is None or not theirs:
                found.append(Finding(flag, None, f"the {t} namespaces could not be read"))
                continue
            if mine not in theirs:
                inode = self.sharing.inodes.get(t, {})
                ours, other = inode.get(mine), [inode.get(g) for g in sorted(theirs)]
                found.append(
                    Finding(
                        flag,
                        True,
                        f"its {t} namespace (inode {ours[1] if ours else '?'}) is not that of"
                        f" {where} ({', '.join(str(o[1]) if o else '?' for o in other)}):"
                        f" CLONE_{flag}, or unshare(2) or setns(2) since",
                    )
                )
        return found


def _label(tasks: Sequence[Task]) -> str:
    lead = tasks[0]
    return f"{lead.tgid} ({lead.name})"


def _tids(tids: Sequence[int]) -> str:
    return ", ".join(str(t) for t in tids)


def _done(compared_with: str, findings: list[Finding], usual: bool, summary: str = "") -> Inference:
    inferred = {f.flag for f in findings if f.shared}
    flags = tuple(sorted(inferred, key=lambda name: FLAGS[name]))
    text = summary or _summary(findings)
    return Inference(compared_with, flags, text, tuple(findings), usual)


def _summary(findings: list[Finding]) -> str:
    shared = {f.flag: f.shared for f in findings}
    parts = []
    thread = shared.get("THREAD")
    if shared.get("VFORK"):
        parts.append("a vfork child")
    elif not thread and shared.get("VM"):
        parts.append("a vfork child or CLONE_VM process")
    for resource in RESOURCES:  # pthread_create(3) passes all but CLONE_IO
        if thread and resource != "IO" and shared.get(resource) is False:
            parts.append(f"CLONE_{resource} was unshared (or never shared)")
        elif not thread and resource != "VM" and shared.get(resource):
            parts.append(f"shares its {WHAT[resource]} with its parent (CLONE_{resource})")
    for flag in NEW.values():
        if shared.get(flag):
            parts.append(f"in a new {_ns_name(flag)} namespace (CLONE_{flag})")
    if parts:
        return "; ".join(parts)
    if thread:
        if all(shared.get(r) for r in THREAD_SHARES):
            return "a thread that shares what pthread_create(3) shares"
        return "a thread: what it shares with its group could not all be compared"
    if all(shared.get(r) is False for r in THREAD_SHARES):
        return "a fork-like child: shares none of these with its parent"
    return "shares nothing with its parent of what could be compared"


def _ns_name(flag: str) -> str:
    return next(t for t, f in NEW.items() if f == flag)
