"""The CLONE_* flags by name: parsing, printing, and the kernel's documented rules.

Values are the kernel ABI (include/uapi/linux/sched.h); the test suite checks
them against the C headers the core was built with.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Callable
from dataclasses import dataclass

from tidscope.errors import UsageError
from tidscope.numeric import c_integer
from tidscope.proc.masks import signal_name

CSIGNAL = 0x000000FF  # low byte of clone(2)'s flags: the exit signal

# Every flag clone(2) names, in bit order.
FLAGS: dict[str, int] = {
    "NEWTIME": 0x00000080,
    "VM": 0x00000100,
    "FS": 0x00000200,
    "FILES": 0x00000400,
    "SIGHAND": 0x00000800,
    "PIDFD": 0x00001000,
    "PTRACE": 0x00002000,
    "VFORK": 0x00004000,
    "PARENT": 0x00008000,
    "THREAD": 0x00010000,
    "NEWNS": 0x00020000,
    "SYSVSEM": 0x00040000,
    "SETTLS": 0x00080000,
    "PARENT_SETTID": 0x00100000,
    "CHILD_CLEARTID": 0x00200000,
    "DETACHED": 0x00400000,
    "UNTRACED": 0x00800000,
    "CHILD_SETTID": 0x01000000,
    "NEWCGROUP": 0x02000000,
    "NEWUTS": 0x04000000,
    "NEWIPC": 0x08000000,
    "NEWUSER": 0x10000000,
    "NEWPID": 0x20000000,
    "NEWNET": 0x40000000,
    "IO": 0x80000000,
    "CLEAR_SIGHAND": 0x100000000,
    "INTO_CGROUP": 0x200000000,
}

NAMESPACES = frozenset({"NEWNS", "NEWUTS", "NEWIPC", "NEWUSER", "NEWPID", "NEWNET", "NEWCGROUP"})


def bits(*names: str) -> int:
    value = 0
    for name in names:
        value |= FLAGS[name]
    return value


# What a pthread library passes, minus CLONE_SETTLS (no TLS here).
THREAD = bits(
    "VM", "FS", "FILES", "SIGHAND", "THREAD", "SYSVSEM", "PARENT_SETTID", "CHILD_CLEARTID"
)
# fork(2) as clone(2): nothing shared, SIGCHLD at exit.
PROCESS = int(signal.SIGCHLD)

PRESETS: dict[str, int] = {"thread": THREAD, "process": PROCESS}

_SPLIT = re.compile(r"[,|+]")  # and blanks, within each item
# SIGRTMIN+N and SIGRTMAX-N, read before the set is split at "+".
_REALTIME = re.compile(r"SIGRT(MIN|MAX)([+-])([0-9]+)", re.IGNORECASE)


def parse(text: str) -> int:
    """``thread``, ``VM,FS,FILES``, ``CLONE_VM|CLONE_FS|SIGCHLD``, ``0x100``...

    Flag names are case-insensitive, the ``CLONE_`` prefix optional; a signal
    name sets the exit signal.  The presets are the lower-case words
    ``thread`` and ``process`` (``THREAD`` is the flag alone) and combine
    with flags (``thread,SETTLS``).
    """
    spelled: dict[str, str] = {}  # each realtime signal's token, as given

    def realtime(m: re.Match[str]) -> str:
        base = signal.SIGRTMIN if m[1].upper() == "MIN" else signal.SIGRTMAX
        token = f"SIGRT={base + int(m[3]) * (1 if m[2] == '+' else -1)}"
        spelled[token] = m[0]
        return token

    if not text.strip():
        raise UsageError("empty flag set: give a preset (thread, process) or flag names like VM,FS")
    tokens: list[str] = []
    for item in _SPLIT.split(_REALTIME.sub(realtime, text)):
        if not item.split():
            raise UsageError(
                f"an empty flag name in {text!r}: separate flags with one ',', '|' or '+'"
                " and end with a flag, e.g. VM,FS"
            )
        tokens += item.split()
    value = 0
    seen: set[str] = set()
    exit_signal: str | None = None
    for token in tokens:
        key = token.upper()
        bare = key.removeprefix("CLONE_")
        if token in PRESETS:  # lower case only: THREAD is the flag itself
            value |= PRESETS[token]
            continue
        if bare == "NEWTIME":
            raise UsageError(
                "CLONE_NEWTIME exists only for clone3(2), and clone(2) would read its bit as"
                " an exit signal: drop it (verify-flags tests it through clone3)"
            )
        if bare in FLAGS:
            if bare in seen:
                raise UsageError(f"CLONE_{bare} is given twice in {text!r}: name each flag once")
            seen.add(bare)
            value |= FLAGS[bare]
        elif (key in signal.Signals.__members__ and key.startswith("SIG")) or key in spelled:
            name = spelled.get(key, key)
            if exit_signal is not None:
                raise UsageError(
                    f"two exit signals in {text!r} ({exit_signal}, {name}): a child has one"
                )
            exit_signal = name
            value |= _signal_number(key, name)
        elif token[:1] not in "+-" and (number := c_integer(token)) is not None:
            if number >> 64:
                raise UsageError(
                    f"{token} is no clone flag set: flags are at most 64 bits (clone3),"
                    " 32 for clone(2): give names, e.g. VM,FS"
                )
            value |= number  # as C reads it: 0x100, 0400 (octal), 256
        else:
            raise UsageError(f"unknown clone flag {token!r}: {_suggest(bare)}")
    if exit_signal is not None and "process" in tokens:
        raise UsageError(f"two exit signals in {text!r}: 'process' already sets SIGCHLD")
    return value


def _signal_number(key: str, name: str) -> int:
    if not key.startswith("SIGRT="):
        return int(signal.Signals[key])
    number = int(key.removeprefix("SIGRT="))
    if not signal.SIGRTMIN <= number <= signal.SIGRTMAX:
        raise UsageError(
            f"{name} is not a realtime signal: they are SIGRTMIN ({int(signal.SIGRTMIN)}) to"
            f" SIGRTMAX ({int(signal.SIGRTMAX)}), e.g. SIGRTMIN+1"
        )
    return number


def _suggest(bare: str) -> str:
    import difflib

    close = difflib.get_close_matches(bare, list(FLAGS), n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return hint + "known: thread, process, " + ", ".join(FLAGS) + " and SIG* exit signals"


def names(value: int, clone3: bool = False) -> list[str]:
    """``CLONE_*`` names of the set bits, then the exit signal, then unknown bits.

    For clone(2) the low byte is the exit signal; clone3(2) has no exit
    signal in its flags, and CLONE_NEWTIME there."""
    if clone3:
        known = sum(FLAGS.values())
        out = [f"CLONE_{n}" for n, bit in FLAGS.items() if value & bit]
        return out + ([hex(value & ~known)] if value & ~known else [])
    out = [f"CLONE_{n}" for n, bit in FLAGS.items() if value & bit and bit & ~CSIGNAL]
    sig = value & CSIGNAL
    if sig:
        out.append(signal_name(sig))
    unknown = value & ~(CSIGNAL | sum(FLAGS.values()))
    if unknown:
        out.append(hex(unknown))
    return out


def describe(value: int, clone3: bool = False) -> str:
    return "|".join(names(value, clone3)) or "0"


def has(value: int, *flag_names: str) -> bool:
    return all(value & FLAGS[n] for n in flag_names)


@dataclass(frozen=True)
class Rule:
    """A combination clone(2) documents as EINVAL; ``only`` names the one
    system call (clone or clone3) it applies to, if it is not both."""

    applies: Callable[[int], bool]
    message: str
    only: str | None = None


def _both(a: str, b: str) -> Callable[[int], bool]:
    return lambda v: has(v, a) and has(v, b)


def _needs(a: str, b: str) -> Callable[[int], bool]:
    return lambda v: has(v, a) and not has(v, b)


# The EINVAL cases of clone(2)'s ERRORS section that flags alone decide.
EINVAL_RULES: tuple[Rule, ...] = (
    Rule(_needs("THREAD", "SIGHAND"), "CLONE_THREAD requires CLONE_SIGHAND"),
    Rule(_needs("SIGHAND", "VM"), "CLONE_SIGHAND requires CLONE_VM"),
    Rule(_both("NEWNS", "FS"), "CLONE_NEWNS cannot be combined with CLONE_FS"),
    Rule(_both("NEWUSER", "FS"), "CLONE_NEWUSER cannot be combined with CLONE_FS"),
    Rule(_both("NEWIPC", "SYSVSEM"), "CLONE_NEWIPC cannot be combined with CLONE_SYSVSEM"),
    Rule(_both("NEWPID", "THREAD"), "CLONE_NEWPID cannot be combined with CLONE_THREAD"),
    Rule(_both("NEWPID", "PARENT"), "CLONE_NEWPID cannot be combined with CLONE_PARENT"),
    Rule(_both("NEWUSER", "THREAD"), "CLONE_NEWUSER cannot be combined with CLONE_THREAD"),
    Rule(
        _both("SIGHAND", "CLEAR_SIGHAND"),
        "CLONE_SIGHAND cannot be combined with CLONE_CLEAR_SIGHAND",
    ),
    Rule(_both("PIDFD", "THREAD"), "CLONE_PIDFD cannot be combined with CLONE_THREAD"),
    Rule(
        _both("PIDFD", "PARENT_SETTID"),
        "CLONE_PIDFD and CLONE_PARENT_SETTID both use clone(2)'s parent_tid argument",
        only="clone",
    ),
    Rule(
        _both("PIDFD", "DETACHED"),
        "CLONE_PIDFD cannot be combined with CLONE_DETACHED",
        only="clone",
    ),
    Rule(lambda v: has(v, "DETACHED"), "clone3(2) rejects CLONE_DETACHED", only="clone3"),
)


def einval_reasons(value: int, clone3: bool = False, exit_signal: int = 0) -> list[str]:
    """The documented rules ``value`` breaks (empty if none is known).

    ``value`` is clone(2)'s flags, or clone3(2)'s with its ``exit_signal``."""
    call = "clone3" if clone3 else "clone"
    out = [r.message for r in EINVAL_RULES if r.only in (None, call) and r.applies(value)]
    if clone3 and exit_signal and (has(value, "THREAD") or has(value, "PARENT")):
        out.append("clone3(2) rejects an exit signal with CLONE_THREAD or CLONE_PARENT")
    return out
