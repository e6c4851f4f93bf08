"""``tidscope verify-threads``: the thread facts people get wrong, observed."""

from __future__ import annotations

import click
import click.shell_completion

from tidscope.cli import labrows
from tidscope.cli.options import output_options


def _complete_facts(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    from tidscope.lab.facts import BY_NAME

    return [
        click.shell_completion.CompletionItem(name, help=fact.statement)
        for name, fact in BY_NAME.items()
        if name.startswith(incomplete.lower())
    ]


@click.command("verify-threads")
@click.argument("fact_names", metavar="[FACT]...", nargs=-1, shell_complete=_complete_facts)
@click.option(
    "--explain", "show_evidence", is_flag=True, help="Show each look and the evidence behind it."
)
@click.option("--strict", is_flag=True, help="Exit 1 unless every row passed.")
@output_options()
def command(
    fact_names: tuple[str, ...], show_evidence: bool, strict: bool, fmt: str, no_headers: bool
) -> int:
    """Show, by experiment, what Linux threads really do on this kernel.

    Each FACT (all of them by default: credentials, process-signal,
    thread-signal, sigstop, fatal-signal, exec, leader-exit,
    pid-namespaces, pidfds) is a one-line statement people get wrong,
    observed in a throw-away lab both where it says something happens and
    where it says it does not.  pass means every look came out as stated;
    a look that could not be made makes the row error, never pass or
    fail; skip says what this machine lacks.  Exit status: 0 when no row
    is fail or error (skip rows are fine, unless --strict), 1 otherwise,
    2 for usage errors.
    """
    from tidscope.lab import threads

    fmt = fmt.lower()
    names = threads.parse_names(fact_names) if fact_names else None
    return labrows.report(
        threads, lambda: threads.run_facts(names), names, show_evidence, strict, fmt, no_headers
    )
