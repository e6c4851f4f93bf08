"""The ``tidscope`` command: parse, call the core, render.

Subcommands live one per module and are imported only when used, so that
``tidscope ps`` does not pay for the raw-clone core or the flag experiments.
Every failure leaves through :func:`main` as one line on stderr and a stable
exit code (0 ok, 1 runtime failure, 2 usage error, 128+N killed by signal N).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
from collections.abc import Sequence

import click

from tidscope import __version__
from tidscope.errors import EXIT_FAILURE, EXIT_USAGE, Terminated, TidscopeError

COMMANDS = {
    "spawn": "tidscope.cli.spawn",
    "ps": "tidscope.cli.ps",
    "tree": "tidscope.cli.tree",
    "verify-flags": "tidscope.cli.verify_flags",
    "bench-spawn": "tidscope.cli.bench_spawn",
}


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


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _usage_line(err: click.UsageError, args: list[str]) -> str:
    where = err.ctx.command_path if err.ctx else _command_path(args)
    if isinstance(err, getattr(click.exceptions, "NoArgsIsHelpError", ())):
        return f"{where}: missing command: give one of {', '.join(COMMANDS)} (see '{where} --help')"
    message = _one_line(err.format_message())
    message = (message[0].lower() + message[1:]).rstrip(".") if message else message
    return f"{where}: {message} (see '{where} --help')"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status instead of raising."""
    args = list(sys.argv[1:] if argv is None else argv)
    if sys.stdout is None:  # started with standard output closed (>&-)
        click.echo(
            f"{_command_path(args)}: standard output is closed: redirect it, e.g. >/dev/null",
            err=True,
        )
        return EXIT_FAILURE
    try:
        try:
            rv = _invoke(args)
        finally:
            sys.stdout.flush()
    except click.UsageError as err:
        click.echo(_usage_line(err, args), err=True)
        return EXIT_USAGE
    except click.ClickException as err:
        click.echo(f"{_command_path(args)}: {_one_line(err.format_message())}", err=True)
        return err.exit_code
    except TidscopeError as err:
        click.echo(f"{_command_path(args)}: {_one_line(err.message)}", err=True)
        return err.exit_code
    except (KeyboardInterrupt, click.Abort):
        return 128 + signal.SIGINT
    except Terminated as sig:
        return 128 + sig.signo
    except BrokenPipeError:
        # The reader went away (`| head -1`): stop quietly with the status of
        # a process killed by SIGPIPE, every child joined by then.  (procps
        # ps exits 0 here; pstree and coreutils die of SIGPIPE.)
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except OSError as err:
        click.echo(f"{_command_path(args)}: {_os_error(err)}", err=True)
        return EXIT_FAILURE
    return rv if isinstance(rv, int) else 0


COMPLETE_VAR = "_TIDSCOPE_COMPLETE"


def _invoke(args: list[str]) -> object:
    """What ``cli.main(standalone_mode=False)`` does, except that click's
    own handling of EPIPE (print nothing, exit 1) is left to :func:`main`."""
    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # eval "$(_TIDSCOPE_COMPLETE=bash_source tidscope)"
        from click.shell_completion import shell_complete

        return shell_complete(cli, {}, "tidscope", COMPLETE_VAR, instruction)
    try:
        with cli.make_context("tidscope", args) as ctx:
            return cli.invoke(ctx)
    except click.exceptions.Exit as done:  # --help, --version
        return done.exit_code


def _os_error(err: OSError) -> str:
    import errno

    if err.errno is None:
        return _one_line(str(err))
    name = errno.errorcode.get(err.errno, str(err.errno))
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{name}: {err.strerror}"


def _command_path(args: list[str]) -> str:
    """``tidscope spawn`` for messages, from the first word naming a command."""
    sub = next((a for a in args if a in COMMANDS), None)
    return f"tidscope {sub}" if sub else "tidscope"


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush is silent."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
