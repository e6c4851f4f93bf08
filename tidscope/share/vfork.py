"""Whether a process is a vfork child: the call its parent's thread is
blocked in (vfork(2), clone(2) or clone3(2) with CLONE_VFORK, from
/proc/TID/syscall and, for clone3, the first field of its struct clone_args
read from the parent's memory), and which of that thread's children the
call made (see infer.py's rules)."""

from __future__ import annotations

from collections.abc import Sequence

from tidscope.core.flags import FLAGS
from tidscope.core.syscalls import read_memory
from tidscope.errors import describe
from tidscope.proc import files
from tidscope.proc.files import PROC
from tidscope.proc.task import Task

VFORK_CALLS = {
    "x86_64": {58: "vfork", 56: "clone", 435: "clone3"},
    "aarch64": {220: "clone", 435: "clone3"},
}
CLONE_VFORK = FLAGS["VFORK"]


def made_by_blocked_call(
    task: Task, parent: Sequence[Task], arch: str, vm: dict[int, int], tasks: dict[int, Task]
) -> tuple[bool | None, str]:
    """(whether ``task`` is the child a blocked vfork-like call of a thread
    of ``parent`` made, None for cannot tell; the evidence).  ``vm``: the
    VM group of each task observed; ``tasks``: the tasks observed."""
    unknown = []
    others = []
    for t in parent:
        blocked, call = _blocked(t, arch)
        if blocked == "no":
            continue
        if blocked is None:
            unknown.append(call)
            continue
        kids = _children(t)
        where = f"/proc/{t.tgid}/task/{t.tid}/children"
        if kids is None:
            unknown.append(f"thread {t.tid} is blocked in {call}; {where} could not be read")
            continue
        if task.tid not in kids:
            others.append(f"thread {t.tid} is blocked in {call}; it is not its child ({where})")
            continue
        mine = vm.get(task.tid)
        same = [k for k in kids if k not in vm or vm[k] == mine]
        if same == [task.tid]:
            return (
                True,
                f"thread {t.tid} of its parent is blocked in {call}, and it is the one child"
                f" of that thread that shares its memory ({where})",
            )
        starts = {k: tasks[k].start_ticks for k in same if k in tasks}
        young = [k for k in starts if starts[k] == max(starts.values())]
        hint = ""
        if len(young) == 1 and len(starts) == len(same):
            hint = f"; the youngest is {young[0]}"
        return (
            None,
            f"thread {t.tid} of its parent is blocked in {call}, but {len(same)} of its"
            f" children share (or may share) its memory ({_tids(same)}, {where}): which"
            f" one that call made, /proc does not say{hint}",
        )
    if unknown:
        return None, "; ".join(unknown)
    if others:
        return False, "; ".join(others)
    return False, "no thread of its parent is blocked in vfork or clone"


def _blocked(t: Task, arch: str) -> tuple[str | None, str]:
    """Whether thread ``t`` is blocked in a call that makes a vfork child:
    ("yes"/"no"/None for cannot tell, the call as evidence or why not)."""
    calls = VFORK_CALLS.get(arch, {})
    where = f"/proc/{t.tgid}/task/{t.tid}/syscall"
    data = files.read_all(where)
    if data is None:
        return None, f"{where} could not be read"
    words = data.split()
    nr = int(words[0]) if words and words[0].lstrip(b"-").isdigit() else -1
    name = calls.get(nr)
    if name is None:
        return "no", ""
    if name == "vfork":
        return "yes", f"vfork() ({where})"
    arg = int(words[1], 16) if len(words) > 1 else 0
    if name == "clone":
        return ("yes" if arg & CLONE_VFORK else "no"), f"clone({arg:#x}) ({where})"
    try:  # clone3: flags is the first u64 of its struct clone_args
        value = int.from_bytes(read_memory(t.tid, arg, 8), "little")
    except OSError as err:
        return None, (
            f"clone3({arg:#x}) ({where}), whose struct clone_args could not be read:"
            f" {describe(err)}"
        )
    return ("yes" if value & CLONE_VFORK else "no"), (
        f"clone3 with flags {value:#x} (its struct clone_args at {arg:#x}; {where})"
    )


def _children(t: Task) -> list[int] | None:
    data = files.read_all(f"{PROC}/{t.tgid}/task/{t.tid}/children")
    if data is None:
        return None
    return [int(w) for w in data.split() if w.isdigit()]


def _tids(tids: Sequence[int]) -> str:
    return ", ".join(str(t) for t in tids)
