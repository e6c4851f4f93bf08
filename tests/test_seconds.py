"""One reading of a number of seconds from a user (numeric.seconds, and
cli/options.seconds's messages), the same for every option that takes one:
spawn --hold, watch --duration and watch --poll."""

from __future__ import annotations

import re

import pytest
from helpers import one_error_line, tidscope

from tidscope.cli.options import seconds as option_seconds
from tidscope.errors import UsageError
from tidscope.numeric import MAX_SECONDS, seconds

HUGE = "9" * 5000  # past Python's 4300 digits for int(): never parsed as an int
TINY = "0." + "0" * 4999 + "1"  # a float of 0
LONG = "1" + "0" * 5000 + ".5"


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5.0), ("0.5", 0.5), (".5", 0.5), ("007", 7.0), ("1000000000", 1e9), ("0.000001", 1e-6)],
)
def test_decimals_above_zero_are_seconds(text: str, value: float) -> None:
    assert seconds(text) == value


REFUSED = ["", ".", "5.", "0", "0.0", ".0", "-1", "+1", " 1", "1 ", "1_0", "1e3", "1E3", "1e-3"]
REFUSED += ["inf", "Infinity", "nan", "0x10", "1,5", "1.2.3", "\u0663", "\uff11", "1s", TINY]


@pytest.mark.parametrize("text", REFUSED)
def test_anything_else_is_not(text: str) -> None:
    assert seconds(text) is None


def test_no_cap_in_the_reading_itself() -> None:
    """Too long is the caller's to say (with its own message)."""
    assert seconds("2000000000") == 2e9
    assert seconds(HUGE) == float("inf")
    assert seconds(LONG) == float("inf")


def test_the_cap_is_a_usage_error_past_max_seconds_only() -> None:
    assert option_seconds(str(MAX_SECONDS), "--x", "5") == MAX_SECONDS
    with pytest.raises(UsageError, match=r"^--x '1000000000.5' is too long: give at most"):
        option_seconds("1000000000.5", "--x", "5")


def test_a_long_value_is_shown_by_its_start() -> None:
    with pytest.raises(UsageError) as err:
        option_seconds(HUGE, "--x", "5")
    assert err.value.message.startswith(f"--x '{'9' * 40}'... (5000 characters) is too long")
    assert len(err.value.message) < 200


# Each option: (command, option, example, what it means given alone or None)
OPTIONS = [
    ("spawn", "--hold", "5", "hold until Enter or a signal"),
    ("watch", "--duration", "10", None),
    ("watch", "--poll", "1", "poll every 0.1 seconds"),
]
NOT_SECONDS = ["soon", "0", "1e3", "inf", "nan", "\u0663", "1_0", "5.", TINY]
TOO_LONG = ["1000000001", "2000000000.5", HUGE, LONG]
CASES = [(*o, v, "not") for o in OPTIONS for v in NOT_SECONDS]
CASES += [(*o, v, "long") for o in OPTIONS for v in TOO_LONG]


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else f"{value[:40]!r}... ({len(value)} characters)"


@pytest.mark.parametrize(
    ("command", "option", "example", "alone", "value", "problem"),
    CASES,
    ids=[f"{c[1]}-{c[4][:12]}{len(c[4])}" for c in CASES],
)
def test_every_seconds_option_refuses_alike(
    command: str, option: str, example: str, alone: str | None, value: str, problem: str
) -> None:
    """One line, exit 2, no traceback: the option, the value (its start
    when long), the problem and the fix, in the same words for each."""
    proc = tidscope(command, option, value, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    line = one_error_line(proc)
    other = f", or {option} alone to {alone}" if alone else ""
    if problem == "not":
        fix = f"give a decimal number above 0, e.g. {option} {example} or {option} 0.5{other}"
        want = f"tidscope {command}: {option} {_shown(value)} is not a number of seconds: {fix}"
    else:
        fix = f"give at most {MAX_SECONDS} seconds, e.g. {option} {example}{other}"
        want = f"tidscope {command}: {option} {_shown(value)} is too long: {fix}"
    assert line == want


@pytest.mark.parametrize("option", ["--hold", "--duration", "--poll"])
def test_the_man_pages_give_the_one_rule(option: str) -> None:
    from pathlib import Path

    page = "spawn" if option == "--hold" else "watch"
    text = (Path(__file__).resolve().parent.parent / "man" / f"tidscope-{page}.1").read_text()
    entry = re.search(rf"^\.It Fl {option[1:]} .*?(?=^\.It )", text, re.M | re.S)
    assert entry is not None
    rule = "is a decimal number above 0 and at most 1000000000"
    assert rule in entry.group() or (
        option == "--poll" and "as for\n.Fl -duration" in entry.group()
    )
    assert rule in text and "exponent" in text


@pytest.mark.parametrize(
    "args",
    [
        ("spawn", "-n", "1", "--hold", ".2"),
        ("watch", "--duration", ".2", "--count", "1000000"),
        ("watch", "--poll", ".05", "--duration", "0.2"),
    ],
    ids=" ".join,
)
def test_a_fraction_is_taken_by_every_option(args: tuple[str, ...]) -> None:
    proc = tidscope(*args, timeout=60)
    assert proc.returncode == 0, proc.stderr
