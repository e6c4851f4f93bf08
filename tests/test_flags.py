"""Flag sets by name: every spelling users type, and the ones they mistype."""

from __future__ import annotations

import signal

import pytest

from tidscope.core import flags
from tidscope.errors import UsageError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("thread", flags.THREAD),
        ("THREAD", flags.FLAGS["THREAD"]),
        ("process", int(signal.SIGCHLD)),
        ("VM,FS,FILES", 0x700),
        ("CLONE_VM|CLONE_FS", 0x300),
        ("clone_vm | fs", 0x300),
        ("vm,SIGCHLD", 0x100 | int(signal.SIGCHLD)),
        ("thread,SETTLS", flags.THREAD | flags.FLAGS["SETTLS"]),
        ("0x100", 0x100),
        ("0400", 0x100),  # as C's strtoul reads it: octal
        ("256", 0x100),
        ("VM FS", 0x300),
        ("VM, FS", 0x300),
        ("SIGRTMIN", int(signal.SIGRTMIN)),
        ("SIGRTMIN+2", int(signal.SIGRTMIN) + 2),  # not SIGRTMIN|2
        ("vm+sigrtmax-3", 0x100 | int(signal.SIGRTMAX) - 3),
    ],
)
def test_parse_accepts_every_spelling(text: str, value: int) -> None:
    assert flags.parse(text) == value


def test_thread_preset_is_what_a_pthread_library_passes_minus_tls() -> None:
    assert flags.names(flags.THREAD) == [
        "CLONE_VM",
        "CLONE_FS",
        "CLONE_FILES",
        "CLONE_SIGHAND",
        "CLONE_THREAD",
        "CLONE_SYSVSEM",
        "CLONE_PARENT_SETTID",
        "CLONE_CHILD_CLEARTID",
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "empty flag set"),
        ("VMM", "did you mean VM"),
        ("bogus", "unknown clone flag 'bogus'"),
        ("VM,VM", "given twice"),
        ("SIGCHLD,SIGUSR1", "two exit signals"),
        ("process,SIGUSR1", "two exit signals"),
        ("SIGUSR1,SIGRTMIN+1", r"\(SIGUSR1, SIGRTMIN\+1\)"),
        ("SIGRTMAX+1", "not a realtime signal"),
        ("SIGRTMIN-1", "not a realtime signal"),
        ("VM|", "an empty flag name"),
        ("VM,,FS", "an empty flag name"),
        (",VM", "an empty flag name"),
        ("VM, ,FS", "an empty flag name"),
        ("08", "unknown clone flag '08'"),  # no octal digit 8, as in C
        ("\u00b2", "unknown clone flag"),
        ("-1", "unknown clone flag '-1'"),
        ("99999999999999999999", "at most 64 bits"),
    ],
)
def test_parse_rejects_with_the_fix(text: str, needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        flags.parse(text)


def test_describe_round_trips() -> None:
    value = flags.THREAD | flags.FLAGS["SETTLS"]
    assert flags.parse(flags.describe(value)) == value
    assert flags.describe(int(signal.SIGCHLD)) == "SIGCHLD"
    realtime = flags.FLAGS["VM"] | int(signal.SIGRTMIN) + 5
    assert flags.describe(realtime) == "CLONE_VM|SIGRTMIN+5"
    assert flags.parse(flags.describe(realtime)) == realtime


def test_einval_reasons_name_the_rule() -> None:
    assert flags.einval_reasons(flags.FLAGS["THREAD"]) == [
        "CLONE_THREAD requires CLONE_SIGHAND",
    ]
    assert flags.einval_reasons(flags.THREAD) == []
