"""What the commands share on their command lines: the output options,
--proc-root, completion of list values, and the reading of a number of
seconds (--hold, --duration, --poll) with its messages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from tidscope import numeric
from tidscope.errors import UsageError
from tidscope.numeric import c_integer
from tidscope.render import FORMATS

LONG_MAX = (1 << 63) - 1  # the bound of a count no range is given for

F = TypeVar("F", bound=Callable[..., Any])


def output_options(formats: tuple[str, ...] = FORMATS, default: str = "table") -> Callable[[F], F]:
    """Add ``--format`` and ``--no-headers`` to a command."""

    def decorate(fn: F) -> F:
        fn = click.option(
            "--no-headers",
            "no_headers",
            is_flag=True,
            help="Print no header line (table and csv).",
        )(fn)
        fn = click.option(
            "--format",
            "fmt",
            type=click.Choice(formats, case_sensitive=False),
            default=default,
            show_default=True,
            help="Output format: " + ", ".join(formats) + ".",
        )(fn)
        return fn

    return decorate


def proc_root_option(fn: F) -> F:
    """``--proc-root DIR``: read the task tables from another procfs mount."""
    from tidscope.proc.files import PROC

    return click.option(
        "--proc-root",
        default=PROC,
        show_default=True,
        metavar="DIR",
        help="Where procfs is mounted.",
    )(fn)


def seconds(value: str, option: str, example: str, alone: str = "") -> float:
    """The number of seconds ``value`` gives ``option`` (numeric.seconds:
    a decimal above 0), at most MAX_SECONDS; else a UsageError naming the
    option, the value and the fix, with ``example`` (``--duration 10``) and,
    for an option whose value may be left out, what ``alone`` means."""
    got = numeric.seconds(value)
    shown = _shown(value)
    other = f", or {option} alone to {alone}" if alone else ""
    if got is None:
        raise UsageError(
            f"{option} {shown} is not a number of seconds: give a decimal number above 0,"
            f" e.g. {option} {example} or {option} 0.5{other}"
        )
    if got > numeric.MAX_SECONDS:
        raise UsageError(
            f"{option} {shown} is too long: give at most {numeric.MAX_SECONDS} seconds,"
            f" e.g. {option} {example}{other}"
        )
    return got


SHOWN = 40  # characters of a value a message repeats


def _shown(value: str) -> str:
    """``value`` quoted for a message, its start alone if it is long."""
    if len(value) <= SHOWN:
        return repr(value)
    return f"{value[:SHOWN]!r}... ({len(value)} characters)"


def complete_list(
    names: Callable[[], Iterable[str]], separators: str = ","
) -> Callable[[click.Context, click.Parameter, str], list[Any]]:
    """Shell completion for a list value (``pid,ti`` -> ``pid,tid``...):
    the last item is completed from ``names()``, the rest kept as typed."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
        from click.shell_completion import CompletionItem

        cut = max(incomplete.rfind(sep) for sep in separators) + 1
        done, last = incomplete[:cut], incomplete[cut:]
        return [
            CompletionItem(done + name) for name in names() if name.lower().startswith(last.lower())
        ]

    return complete


class PidRange(click.IntRange):
    """click's IntRange on ASCII decimals only (``int()`` alone takes
    ``\\u0661``, an Arabic-Indic one, ``1_0`` and `` 1 ``), bounded above by
    LONG_MAX when no bound is given, and a value out of range is named as it
    was typed (numeric.c_integer reads one of thousands of digits as a
    number past every range, not as itself)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if not isinstance(value, str):
            return super().convert(value, param, ctx)
        number = c_integer(value, 10)
        if number is None:
            self.fail(f"{value!r} is not a valid integer.", param, ctx)
        low = self.min if self.min is not None else -LONG_MAX - 1
        high = self.max if self.max is not None else LONG_MAX
        if not low <= number <= high:
            self.fail(f"{value} is not in the range {low}<=x<={high}.", param, ctx)
        return number
