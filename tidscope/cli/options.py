"""Options shared by every command that prints rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from tidscope.render import FORMATS

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
