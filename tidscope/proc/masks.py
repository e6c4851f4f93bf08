"""The kernel's bit masks in ``status``, by name: signal sets and capability sets.

``SigPnd``, ``ShdPnd``, ``SigBlk``, ``SigIgn`` and ``SigCgt`` are 64-bit
masks in hex, bit ``n - 1`` for signal ``n``; ``CapInh``... ``CapAmb`` are
masks in hex, bit ``n`` for capability ``n``.  A set is decoded into names
in bit order; a bit we have no name for is named by its number (``bit 41``),
never dropped.  Signals are named as the rest of tidscope names them
(``SIGUSR1``, ``SIGRTMIN+1``: :func:`signal_name`, which ``--flags`` reads
back); 32 and 33, which glibc keeps for itself (SIGCANCEL and SIGSETXID)
below its SIGRTMIN, are ``SIG32`` and ``SIG33``.  ``ps --signames`` names
them as procps does instead (``USR1``, ``RTMIN+01``: :func:`procps_names`).
This is the one place a signal number or mask becomes names.

For a table, :func:`summary` says a set in few words: ``none``, the names,
or, when more than half of the possible members are in it, ``all but`` the
ones that are not (a raw thread blocks every signal but the two that cannot
be blocked: ``all but SIGKILL,SIGSTOP``).
"""

from __future__ import annotations

import signal

from tidscope.numeric import c_integer

NSIG = 64  # the kernel's _NSIG on every architecture tidscope builds for

# <linux/capability.h>, CAP_CHOWN (0) to CAP_CHECKPOINT_RESTORE (40)
CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)


# Signal names as procps prints them: glibc's sigabbrev_np (Linux's generic
# numbering, x86 and arm alike), then glibc's own (32, 33) and the
# real-time ones as procps names them.
PROCPS_SIGNALS = (
    "",
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE",
    "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM", "STKFLT",
    "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU",
    "XFSZ", "VTALRM", "PROF", "WINCH", "POLL", "PWR", "SYS",
    "LIBC+00", "LIBC+01", "RTMIN", *(f"RTMIN+{n:02}" for n in range(1, 30)), "RTMAX",
)  # fmt: skip


def signal_name(number: int) -> str:
    """``SIGUSR1``, ``SIGRTMIN+1``: the name ``--flags`` reads back."""
    try:
        return signal.Signals(number).name
    except ValueError:
        pass
    if signal.SIGRTMIN < number < signal.SIGRTMAX:
        return f"SIGRTMIN+{number - signal.SIGRTMIN}"
    return f"signal {number}"


def has_signal(mask: int, signo: int) -> bool:
    """Whether signal ``signo`` is in ``mask`` (bit ``signo - 1``)."""
    return bool(mask >> (signo - 1) & 1)


def procps_names(mask: int) -> list[str]:
    """The signals in ``mask`` by procps's names, lowest first."""
    return [PROCPS_SIGNALS[n] for n in range(1, len(PROCPS_SIGNALS)) if has_signal(mask, n)]


def parse(text: str) -> int | None:
    """A mask as ``status`` writes it (hex digits, no prefix), or None."""
    return c_integer(text, 16) if text and not text.startswith(("-", "+", "0x", "0X")) else None


def signal_names(mask: int) -> list[str]:
    """The signals in ``mask``, lowest first."""
    names = _signal_names()
    return [names[b] for b in range(min(mask.bit_length(), NSIG)) if mask >> b & 1] + [
        f"bit {b}" for b in range(NSIG, mask.bit_length()) if mask >> b & 1
    ]


_NAMES: list[str] = []


def _signal_names() -> list[str]:
    """The name of each signal, by bit (asked once: the signal module's
    enum lookups would cost --all-threads of a thousand threads a second)."""
    if not _NAMES:
        _NAMES.extend(_signal(n) for n in range(1, NSIG + 1))
    return _NAMES


def _signal(number: int) -> str:
    if number < signal.SIGRTMIN and number > 31:  # glibc's own, below its SIGRTMIN
        return f"SIG{number}"
    return signal_name(number)


def capability_names(mask: int) -> list[str]:
    """The capabilities in ``mask``, lowest first."""
    return [
        CAPABILITIES[b] if b < len(CAPABILITIES) else f"bit {b}"
        for b in range(mask.bit_length())
        if mask >> b & 1
    ]


def all_signals() -> int:
    """Every signal there is."""
    return (1 << NSIG) - 1


def all_capabilities(last: int | None) -> int:
    """Every capability this kernel knows (``/proc/sys/kernel/cap_last_cap``),
    or the ones we have names for if that is unknown."""
    return (1 << ((last if last is not None else len(CAPABILITIES) - 1) + 1)) - 1


def summary(names: list[str], missing: list[str], total: int) -> str:
    """A set for a table: ``none``, ``all (N)``, ``all but X,Y`` when more
    than half of the ``total`` possible members are in, else the names.
    ``missing`` are the possible members not in the set."""
    if not names:
        return "none"
    if not missing:
        return f"all ({total})"
    if len(names) > total // 2:
        return "all but " + ",".join(missing)
    return ",".join(names)


def signal_summary(mask: int) -> str:
    universe = all_signals()
    return summary(signal_names(mask), signal_names(universe & ~mask), NSIG)


def capability_summary(mask: int, last: int | None) -> str:
    universe = all_capabilities(last)
    count = universe.bit_length()
    return summary(capability_names(mask), capability_names(universe & ~mask), count)
