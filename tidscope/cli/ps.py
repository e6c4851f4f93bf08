"""``tidscope ps``: list processes or threads with procps ``ps``'s options.

Its options are click's reading of the one table of ps's options
(ps/options.py), which the fast path (fastpath.py) reads too."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from tidscope.cli.fastpath import join_bsd_values, second_reading
from tidscope.cli.options import complete_list
from tidscope.ps.options import ARGUMENT, ARGUMENT_METAVAR, COUNT, FLAG, LIST, OPTIONS, Option

F = TypeVar("F", bound=Callable[..., Any])


def _column_names() -> list[str]:
    from tidscope.ps.columns import SPECS

    return sorted(SPECS)


ARGV = "tidscope.ps.argv"  # the command line as given, in ctx.meta


class PsCommand(click.Command):
    """A command whose BSD arguments (``aux``, ``k -pcpu``) reach it whole,
    and whose command lines click cannot parse get procps's second reading
    (fastpath.second_reading)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV] = list(args)
        try:
            return super().parse_args(ctx, join_bsd_values(args))
        except click.UsageError:
            second = second_reading(list(args))
            if second is None:
                raise
            ctx.params.clear()
        return super().parse_args(ctx, join_bsd_values(second))


class _OutputFormat(click.Choice):  # type: ignore[type-arg]
    """--format's choices; a value that is not one says procps's --format is -o."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            self.fail(
                f"{value!r} is not one of {', '.join(self.choices)}: tidscope's --format is the"
                " output format; procps's --format, the columns, is -o here",
                param,
                ctx,
            )


def _click_option(option: Option) -> Callable[[F], F]:
    """click's option for one entry of ps's table (ps/options.py)."""
    kw: dict[str, Any] = {"help": option.help, "metavar": option.metavar}
    if option.kind == FLAG:
        kw["is_flag"] = True
    elif option.kind == COUNT:
        kw["count"] = True
    elif option.kind == LIST:
        kw["multiple"] = True
    else:
        kw.update(default=option.default, show_default=True)
    if option.choices:
        kw["type"] = _OutputFormat(option.choices, case_sensitive=False)
    if option.complete:
        kw["shell_complete"] = complete_list(_column_names, separators=option.complete)
    return click.option(*option.names, option.dest, **kw)


def _options(fn: F) -> F:
    """Every option of ``tidscope ps``, in the order --help lists them."""
    for option in reversed(OPTIONS):
        fn = _click_option(option)(fn)
    return fn


@click.command("ps", cls=PsCommand)
@_options
@click.argument(ARGUMENT, nargs=-1, metavar=ARGUMENT_METAVAR)
def command(**params: Any) -> int:
    """List processes, or threads with -T/-L, as procps ps does.

    The table is procps's, row for row, for procps's Unix options (-ef,
    -eLf, -ly...) and its BSD forms (ps aux, ps axjf); --format json|csv
    gives typed values under the columns' keys.  Exit status 1 when no
    task matched.
    """
    from tidscope.cli.fastpath import run_ps

    return run_ps(params, list(click.get_current_context().meta.get(ARGV, [])))
