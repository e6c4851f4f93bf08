"""The click application: every command, with help, completion and click's
messages, each subcommand imported only when used."""

from __future__ import annotations

import importlib
import os

import click

from tidscope import __version__
from tidscope.cli.commands import COMMANDS, COMPLETE_VAR, command_path, one_line
from tidscope.errors import EXIT_USAGE


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMANDS.get(cmd_name)
        if module is None:
            return None
        command: click.Command = importlib.import_module(module).command
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="tidscope")
def cli() -> None:
    """See Linux threads and processes as the kernel makes them.

    Every command prints tables for people and --format json|csv for
    scripts.  Exit status: 0 success, 1 runtime failure, 2 usage error,
    128+N when killed by signal N.
    """


def run(args: list[str]) -> object:
    """Run ``args`` through click; click's own errors become one line here,
    everything else propagates to :func:`tidscope.cli.main`."""
    try:
        return _invoke(args)
    except click.UsageError as err:
        click.echo(_usage_line(err, args), err=True)
        return EXIT_USAGE
    except click.ClickException as err:
        click.echo(f"{command_path(args)}: {one_line(err.format_message())}", err=True)
        return err.exit_code
    except click.Abort:
        raise KeyboardInterrupt from None


def _invoke(args: list[str]) -> object:
    """What ``cli.main(standalone_mode=False)`` does, except that click's
    own handling of EPIPE (print nothing, exit 1) is left to ``main``."""
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # eval "$(_TIDSCOPE_COMPLETE=bash_source tidscope)"
        return _complete(instruction)
    try:
        with cli.make_context("tidscope", args) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as done:  # --help, --version
        return done.exit_code


def _complete(instruction: str) -> int:
    """Shell completion, as click does it, except that an environment the
    shell did not set up (no COMP_WORDS, a COMP_CWORD that is no number)
    is one line, not a traceback."""
    from click.shell_completion import get_completion_class, shell_complete

    shell, _, action = instruction.partition("_")
    if get_completion_class(shell) is None or action not in ("source", "complete"):
        click.echo(
            f"tidscope: shell completion: {COMPLETE_VAR}={instruction!r} is not one click"
            f" knows: give bash_source, zsh_source or fish_source, e.g."
            f' eval "$({COMPLETE_VAR}=bash_source tidscope)"',
            err=True,
        )
        return EXIT_USAGE
    try:
        return shell_complete(cli, {}, "tidscope", COMPLETE_VAR, instruction)
    except (KeyError, ValueError, IndexError) as err:
        what = f"{err.args[0]} is not set" if isinstance(err, KeyError) else one_line(str(err))
        click.echo(
            f"tidscope: shell completion: {what}: let the shell call it, after"
            f' eval "$({COMPLETE_VAR}=bash_source tidscope)"',
            err=True,
        )
        return EXIT_USAGE


def _usage_line(err: click.UsageError, args: list[str]) -> str:
    where = err.ctx.command_path if err.ctx else command_path(args)
    if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return f"{where}: missing command: give one of {', '.join(COMMANDS)} (see '{where} --help')"
    message = one_line(err.format_message())
    message = (message[0].lower() + message[1:]).rstrip(".") if message else message
    return f"{where}: {message} (see '{where} --help')"
