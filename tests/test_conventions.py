"""The same conventions in every command: output formats, --no-headers,
--version, no color ever, and shell completion through click."""

from __future__ import annotations

import importlib.metadata
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import click
import pytest
from helpers import one_error_line, run, tidscope
from test_ps import held

import tidscope as package
from tidscope.cli.app import cli
from tidscope.cli.commands import COMMANDS

BASE_FORMATS = {"table", "json", "csv"}
EXTRA_FORMATS = {"spawn": {"text"}, "tree": {"text", "dot"}}


def _option(command: click.Command, opt: str) -> click.Option:
    (found,) = [p for p in command.params if isinstance(p, click.Option) and opt in p.opts]
    return found


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_the_same_output_options(name: str) -> None:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    fmt = _option(command, "--format")
    assert isinstance(fmt.type, click.Choice)
    assert set(fmt.type.choices) == BASE_FORMATS | EXTRA_FORMATS.get(name, set())
    assert _option(command, "--no-headers").is_flag


@pytest.fixture(scope="module")
def holder() -> Iterator[dict[str, Any]]:
    with held(["t1", "t2"]) as info:
        yield info


# args, the table's header words, csv's header line, whether rows repeat exactly
HEADERS: dict[str, tuple[list[str], list[str], str, bool]] = {
    "ps": (["ps", "-T", "-o", "pid,tid,comm", "-p", "{pid}"], ["PID", "TID", "COMMAND"],
           "pid,tid,comm", True),
    "tree": (["tree", "{pid}"], ["DEPTH", "KIND", "PID", "TID", "PPID", "NAME"],
             "depth,kind,pid,tid,ppid,name", True),
    "spawn": (["spawn", "-n", "2"], ["ROLE", "KIND", "PID", "TID", "PPID", "TGID", "PROC_PPID",
              "NAME", "AGREES"], "role,kind,pid,tid,ppid,tgid,proc_ppid,name,agrees", False),
    "verify-flags": (["verify-flags", "VM"], ["FLAG", "EFFECT", "WITH_FLAG", "WITHOUT_FLAG",
                     "VERDICT", "REASON"], "flag,effect,method,with_flag,without_flag,verdict,"
                     "reason", True),
}  # fmt: skip


@pytest.mark.parametrize("fmt", ["table", "csv"])
@pytest.mark.parametrize("name", sorted(HEADERS))
def test_no_headers_drops_exactly_the_header(name: str, fmt: str, holder: dict[str, Any]) -> None:
    template, words, keys, stable = HEADERS[name]
    args = [a.format(pid=holder["pid"]) for a in template]
    with_ = tidscope(*args, "--format", fmt)
    without = tidscope(*args, "--format", fmt, "--no-headers")
    assert with_.returncode == without.returncode == 0, with_.stderr + without.stderr
    head, *rows = with_.stdout.splitlines()
    if fmt == "table":
        assert head.split() == words
    else:
        assert head == keys
    bare = without.stdout.splitlines()
    assert rows and len(bare) == len(rows) and head not in bare
    if stable:  # a table's columns may be narrower without the header's width
        assert [r.split() for r in bare] == [r.split() for r in rows]


def test_version() -> None:
    version = importlib.metadata.version("tidscope")
    assert package.__version__ == version
    for flag in ("--version", "-V"):
        proc = tidscope(flag)
        assert (proc.returncode, proc.stdout, proc.stderr) == (
            0,
            f"tidscope, version {version}\n",
            "",
        )


# -- no color, with or without NO_COLOR --------------------------------------------

ON_A_TERMINAL: dict[str, tuple[list[str], int]] = {
    "ps": (["ps", "-T", "-p", "1"], 0),
    "tree": (["tree", "1"], 0),
    "spawn": (["spawn", "-n", "2", "--format", "table", "--explain"], 0),
    "verify-flags": (["verify-flags", "VM", "--explain"], 0),
    "help": (["--help"], 0),
    "ps-help": (["ps", "--help"], 0),
    "usage-error": (["ps", "--bogus"], 2),
    "runtime-error": (["tree", "999999999"], 1),
}


def _on_a_terminal(cmd: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """``cmd`` with a terminal (script(1)) as stdin, stdout and stderr."""
    return subprocess.run(
        ["script", "-qec", shlex.join(cmd), "/dev/null"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        env=env,
        cwd="/",
        check=False,
    )


def test_the_terminal_harness_shows_escapes() -> None:
    """The control: an escape sequence written to the terminal reaches us."""
    proc = _on_a_terminal(["printf", r"\033[1mbold\033[0m"], dict(os.environ))
    assert b"\x1b[1mbold" in proc.stdout


@pytest.mark.parametrize("no_color", [False, True], ids=["color-allowed", "NO_COLOR"])
@pytest.mark.parametrize("case", ON_A_TERMINAL.values(), ids=ON_A_TERMINAL.keys())
def test_never_an_escape_byte(case: tuple[list[str], int], no_color: bool) -> None:
    args, code = case
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLORTERM="truecolor", CLICOLOR_FORCE="1")
    if no_color:
        env["NO_COLOR"] = "1"
    proc = _on_a_terminal([sys.executable, "-m", "tidscope", *args], env)
    assert proc.returncode == code, proc.stdout
    assert proc.stdout.strip() and b"\x1b" not in proc.stdout + proc.stderr


# -- shell completion ----------------------------------------------------------------


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_completion_script(shell: str) -> None:
    proc = tidscope(env={"_TIDSCOPE_COMPLETE": f"{shell}_source"})
    assert proc.returncode == 0 and proc.stderr == ""
    assert "_TIDSCOPE_COMPLETE" in proc.stdout and "tidscope" in proc.stdout
    if shutil.which(shell):  # the shell parses it
        checked = subprocess.run(
            [shell, "-n"],
            input=proc.stdout,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr


def _complete(words: str, cword: int) -> list[str]:
    proc = tidscope(
        env={"_TIDSCOPE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_bash_completion_offers_commands_options_and_choices() -> None:
    assert _complete("tidscope sp", 1) == ["plain,spawn"]
    assert "plain,--no-headers" in _complete("tidscope ps --no", 2)
    assert _complete("tidscope tree --format ", 3) == [
        f"plain,{f}" for f in ("text", "table", "json", "csv", "dot")
    ]


def test_list_values_complete_their_last_item() -> None:
    from tidscope.ps.columns import SPECS

    names = sorted(name for name in SPECS if name.startswith("ti"))
    assert {"tid", "time", "times", "timens"} <= set(names)
    assert _complete("tidscope ps -o pid,ti", 3) == [f"plain,pid,{name}" for name in names]
    assert _complete("tidscope spawn --flags VM|NEWUS", 3) == ["plain,VM|NEWUSER"]
    assert _complete("tidscope spawn --flags proc", 3) == ["plain,process"]


def test_verify_flags_completes_flag_names() -> None:
    assert _complete("tidscope verify-flags NEWUS", 2) == ["plain,NEWUSER"]
    assert _complete("tidscope verify-flags clone_th", 2) == ["plain,THREAD"]


@pytest.mark.parametrize(
    "env",
    [
        {"COMP_CWORD": "1"},  # no COMP_WORDS
        {"COMP_WORDS": "tidscope sp", "COMP_CWORD": "abc"},
        {"COMP_WORDS": "tidscope sp", "COMP_CWORD": "\u00b2"},
        {"COMP_WORDS": "tidscope sp"},  # no COMP_CWORD
    ],
)
def test_completion_in_a_broken_environment_is_one_line(env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("COMP_WORDS", "COMP_CWORD")}
    proc = subprocess.run(
        [sys.executable, "-m", "tidscope"],
        env={**base, "_TIDSCOPE_COMPLETE": "bash_complete", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    line = one_error_line(proc)
    assert "shell completion" in line and "bash_source" in line


def test_the_documented_bash_line_completes_in_bash() -> None:
    """``eval "$(_TIDSCOPE_COMPLETE=bash_source tidscope)"`` in a real bash,
    then the completion function it defined, as bash calls it."""
    bindir = os.path.dirname(sys.executable)
    if shutil.which("tidscope", path=bindir) is None:
        pytest.skip("no tidscope script next to this python")
    script = """
        eval "$(_TIDSCOPE_COMPLETE=bash_source tidscope)"
        COMP_WORDS=(tidscope sp); COMP_CWORD=1
        _tidscope_completion tidscope
        echo "${COMPREPLY[@]}"
        COMPREPLY=(); COMP_WORDS=(tidscope spawn --stack-style ""); COMP_CWORD=3
        _tidscope_completion tidscope
        echo "${COMPREPLY[@]}"
    """
    proc = run(["bash", "-c", script], env={"PATH": f"{bindir}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stderr
    first, second = proc.stdout.splitlines()
    assert first == "spawn"
    spawn = cli.get_command(click.Context(cli), "spawn")
    assert spawn is not None
    stack_style = _option(spawn, "--stack-style")
    assert isinstance(stack_style.type, click.Choice)
    assert second.split() == list(stack_style.type.choices)
