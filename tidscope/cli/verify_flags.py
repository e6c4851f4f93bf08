"""``tidscope verify-flags``: what each CLONE_* flag does on this kernel."""

from __future__ import annotations

import click
import click.shell_completion

from tidscope.cli import labrows
from tidscope.cli.options import output_options
from tidscope.errors import UsageError
from tidscope.render import render


def _complete_flags(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[click.shell_completion.CompletionItem]:
    from tidscope.lab.experiments import BY_FLAG

    bare = incomplete.upper().removeprefix("CLONE_")
    return [
        click.shell_completion.CompletionItem(name, help=exp.effect)
        for name, exp in BY_FLAG.items()
        if name.startswith(bare)
    ]


@click.command("verify-flags")
@click.argument("flag_names", metavar="[FLAG]...", nargs=-1, shell_complete=_complete_flags)
@click.option(
    "--invalid",
    is_flag=True,
    help="Instead, try the flag combinations clone(2) documents as invalid and "
    "show what this kernel did next to what the manual says.",
)
@click.option(
    "--explain", "show_evidence", is_flag=True, help="Show the evidence behind each verdict."
)
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 unless every row passed (DETACHED: was observed ignored; with --invalid:"
    " unless every row agrees).",
)
@output_options()
def command(
    flag_names: tuple[str, ...],
    invalid: bool,
    show_evidence: bool,
    strict: bool,
    fmt: str,
    no_headers: bool,
) -> int:
    """Prove what each clone flag does, by experiment, on the running kernel.

    For every flag (or each FLAG given, e.g. VM or CLONE_NEWPID), clone a
    raw child with and without it and observe both: kcmp(2) and /proc from
    the parent's side, a syscall the child made from its side.  pass means
    the effect was seen with the flag and not without it (for DETACHED,
    ignored: every property compared the same both ways); a look that could
    not be taken makes the row error, never pass or fail.  Exit status: 0
    when no row is fail or error (skip rows are fine, unless --strict), 1
    otherwise, 2 for usage errors.
    """
    from tidscope.lab import verify

    fmt = fmt.lower()
    if invalid:
        if flag_names:
            raise UsageError("--invalid tries its own set of combinations: give no FLAG with it")
        if show_evidence:
            raise UsageError(
                "--explain shows the evidence of flag experiments and --invalid runs none:"
                " give one of them"
            )
        combos = labrows.run_rows(verify.run_combos, verify.combos_not_run)
        render(combos, verify.COMBO_COLUMNS, fmt, headers=not no_headers)
        if strict:
            return 0 if all(r["agrees"] for r in combos) else 1
        return 1 if any(r["agrees"] is None for r in combos) else 0
    names = verify.parse_names(flag_names) if flag_names else None
    return labrows.report(
        verify,
        lambda: verify.run_experiments(names),
        names,
        show_evidence,
        strict,
        fmt,
        no_headers,
        verify.PROVEN,
    )
