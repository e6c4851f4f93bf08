"""What a thread is doing: ``wchan``, ``syscall``, and the stack it runs on.

These files need more than read permission.  ``syscall`` is readable only
to a reader who may ptrace-attach to the task (else EACCES); ``smaps``
only to one who may ptrace-read it.  ``wchan`` always reads, but holds
``0`` both for a task that sleeps nowhere and, whatever the task does, for
a reader who may not ptrace-read it: a ``0`` counts only when the task's
``ns/pid`` link, which the kernel guards with that same check, reads too.

The stack pointer is ``syscall``'s sp while the task is blocked (in a
syscall or not); ``stat``'s kstkesp (field 29) is filled by the kernel only
for a dying task, so a running thread's stack cannot be located and is
said so, never guessed.  The mapping that holds the pointer, and its
resident size, come from the thread's ``smaps``.
"""

from __future__ import annotations

from typing import Any

from tidscope.inspector.fields import KSTKESP, THREAD, Field, unread
from tidscope.numeric import c_integer, kernel_ints
from tidscope.proc import syscall_names
from tidscope.proc.files import Unread
from tidscope.proc.task import Task
from tidscope.proc.taskdir import TaskDir

# ELF (class, machine) of a task's executable -> its system call table
ABIS = {(2, 62): "x86_64", (2, 183): "aarch64"}


def wchan(data: bytes | Unread, d: TaskDir) -> Field:
    """Where in the kernel the thread sleeps."""
    if isinstance(data, Unread):
        return unread("wchan", THREAD, "wchan", data)
    symbol = data.decode("ascii", "replace").strip()
    if symbol != "0":
        return Field("wchan", THREAD, "wchan", symbol, symbol)
    allowed = d.link("ns/pid")
    if isinstance(allowed, Unread):
        why = Unread("wchan", f"the kernel writes 0 for whoever may not ptrace-read it ({allowed})")
        return unread("wchan", THREAD, "wchan", why)
    return Field("wchan", THREAD, "wchan", "0", "0 (not sleeping in the kernel)")


def syscall(data: bytes | Unread, d: TaskDir) -> Field:
    """``running``; ``-1 sp pc`` (blocked, not in a syscall); or the number,
    six arguments, sp and pc of the syscall the thread is blocked in.
    Compared with the leader's by number only."""
    if isinstance(data, Unread):
        return unread("syscall", THREAD, "syscall", data)
    said = data.decode("ascii", "replace").strip()
    if said == "running":
        return Field("syscall", THREAD, "syscall", "running", "running (not blocked)")
    words = said.split()
    values = [c_integer(w, 10 if i == 0 else 16) for i, w in enumerate(words)]
    if len(words) not in (3, 9) or None in values:
        return unread("syscall", THREAD, "syscall", Unread("syscall", f"unexpected: {said!r}"))
    nr, *rest = (v for v in values if v is not None)
    sp, pc = rest[-2], rest[-1]
    if nr == -1:
        blocked = {"nr": -1, "sp": sp, "pc": pc}
        shown = "-1 (blocked, not in a syscall)"
        return Field("syscall", THREAD, "syscall", blocked, shown, basis=-1)
    named, why = syscall_name(nr, d)
    args = rest[:6]
    value: dict[str, Any] = {"nr": nr, "name": named, "args": args, "sp": sp, "pc": pc}
    call = ", ".join(hex(a) for a in args)
    shown = f"{nr} {named}({call})" if named else f"{nr} ({why}) ({call})"
    return Field("syscall", THREAD, "syscall", value, shown, basis=nr)


def syscall_name(nr: int, d: TaskDir) -> tuple[str | None, str]:
    """The name of syscall ``nr`` in the table of the thread's executable
    (its ELF class at byte 4, machine at 18), or None and why not: a 32-bit
    program on a 64-bit kernel numbers its syscalls otherwise."""
    head = d.read("exe", 20)
    if isinstance(head, Unread):
        return None, f"not named: exe: {head.why}"
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None, "not named: exe is no ELF file"
    machine = int.from_bytes(head[18:20], "little" if head[5] == 1 else "big")
    abi = ABIS.get((head[4], machine))
    if abi is None:
        return None, f"not named: no table for ELF class {head[4]}, machine {machine}"
    named = syscall_names.name(nr, abi)
    return named, "" if named else f"not named: no {abi} syscall has this number"


def stack(d: TaskDir, stat: Task | Unread, call: Field) -> list[Field]:
    """The stack pointer, the mapping that holds it, and its resident size."""
    sp, source, why = _stack_pointer(stat, call)
    if sp is None:
        none = Unread("smaps", "no stack pointer to look up")
        return [
            unread("stack_pointer", THREAD, "syscall sp, stat field 29", Unread("sp", why), False),
            unread("stack_mapping", THREAD, "smaps", none, False),
            unread("stack_rss", THREAD, "smaps Rss", none, False),
        ]
    out = [Field("stack_pointer", THREAD, source, sp, hex(sp), False)]
    found = d.mapping(sp)
    if found is None:
        found = Unread("smaps", f"no mapping holds {sp:#x}")
    if isinstance(found, Unread):
        return [
            *out,
            unread("stack_mapping", THREAD, "smaps", found, False),
            unread("stack_rss", THREAD, "smaps Rss", found, False),
        ]
    where = {
        "start": found.start,
        "end": found.end,
        "perms": found.perms,
        "path": found.path,
    }
    shown = f"{found.start:x}-{found.end:x} {found.perms} {found.path or '(anonymous)'}"
    out.append(Field("stack_mapping", THREAD, "smaps", where, shown, False))
    if found.rss_kib is None:
        out.append(unread("stack_rss", THREAD, "smaps Rss", Unread("smaps", "no Rss line"), False))
    else:
        out.append(
            Field("stack_rss", THREAD, "smaps Rss", found.rss_kib, f"{found.rss_kib} KiB", False)
        )
    return out


def _stack_pointer(stat: Task | Unread, call: Field) -> tuple[int | None, str, str]:
    """(sp, where it was read, why there is none)."""
    if call.observed and isinstance(call.value, dict):
        if call.value["sp"]:
            return call.value["sp"], "syscall sp", ""
        said = "syscall sp: 0"
    elif call.observed:
        said = "syscall: running"
    else:
        said = f"syscall: {call.value.why}"
    if isinstance(stat, Unread):
        return None, "", f"{said}; stat: {stat.why}"
    esp = kernel_ints(stat.field(KSTKESP))
    if esp and esp[0]:
        return esp[0], f"stat field {KSTKESP}", ""
    return None, "", f"{said}; stat kstkesp: 0 (filled only for a dying task)"
