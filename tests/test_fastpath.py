"""The ps fast path parses exactly as click does, or leaves the line to click."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest

from tidscope.cli.app import cli
from tidscope.cli.fastpath import parse_ps

PLAIN = [
    [],
    ["-A"],
    ["-e"],
    ["-T"],
    ["-AT"],
    ["-eL"],
    ["-L", "-A"],
    ["-ef"],
    ["-eLf"],
    ["-eLF"],
    ["-efT"],
    ["-ely"],
    ["-ejc"],
    ["-eH"],
    ["-e", "--forest"],
    ["-ww"],
    ["-efw", "-w"],
    ["-p", "1"],
    ["-p1"],
    ["-p", "1,2", "-p", "3"],
    ["--pid", "1"],
    ["--pid=1"],
    ["-T", "-p", "1", "--no-headers"],
    ["--tid", "1"],
    ["--tid=1,2"],
    ["-q", "1"],
    ["--quick-pid=1"],
    ["-o", "pid,comm"],
    ["-eo", "pid,comm"],
    ["-eopid"],
    ["-o", "pid", "-o", "tid=THREAD"],
    ["--columns=100"],
    ["--cols", "80", "--rows=30"],
    ["-a"],
    ["-d", "-N", "-p", "1"],
    ["--deselect", "-u", "root"],
    ["-O", "ppid"],
    ["-Z", "-P", "--cumulative"],
    ["-V"],
    ["-ux"],  # -u x: read again as BSD ux when x is no user, by the command
    ["-X"],  # no Unix option: the second reading, BSD X, as click's own
    ["-AX"],  # ... which the command refuses (A is no BSD letter)
    ["-eX"],
    ["-aef"],
    ["-u", "root", "-U", "0"],
    ["--user=root", "--User", "0"],
    ["-g", "0", "--group", "root", "-G", "root", "--Group=0"],
    ["-C", "bash", "--ppid", "1"],
    ["-t", "-", "--tty", "pts/0"],
    ["-s", "1", "--sid=1"],
    ["--sort", "-pcpu"],
    ["--sort=-pcpu,pid"],
    ["-e", "--sort", "+comm"],
    ["--headers"],
    ["--signames"],
    ["aux"],
    ["ax"],
    ["axjf"],
    ["aux", "--sort=-pid"],
    ["ax", "-o", "pid,comm"],
    ["ax", "o", "pid,comm"],
    ["axo", "pid,comm"],
    ["ax", "k", "-pcpu"],
    ["axk", "-pcpu"],
    ["aux", "-L"],
    ["-aux"],
    ["-axjf", "--sort=pid"],
    ["p", "1"],
    ["1"],
    ["u", "-p", "1"],
    ["--format", "json"],
    ["--format=CSV"],
    ["--proc-root", "/proc"],
    ["--proc-root=/proc", "-AT", "--format", "table"],
    ["-p", "abc"],  # a bad value: parsed here, refused by the command as by click's path
    ["-u", "no-such-user"],
    ["axm"],  # a BSD letter tidscope refuses: refused by the command either way
]

LEFT_TO_CLICK = [
    ["--help"],
    ["-h"],
    ["-p"],
    ["-p", "-1"],
    ["-u", "-1"],
    ["--pid="],
    ["--format", "xml"],
    ["--bogus"],
    ["--no-headers=1"],
    ["--forest=1"],
    ["--"],
    ["-"],
    ["--sort"],
    ["-o"],
]


def _click_params(argv: list[str]) -> dict[str, Any]:
    group_ctx = click.Context(cli)
    command = cli.get_command(group_ctx, "ps")
    assert command is not None
    with command.make_context("ps", list(argv), parent=group_ctx) as ctx:
        return dict(ctx.params)


@pytest.mark.parametrize("argv", PLAIN, ids=" ".join)
def test_plain_lines_parse_as_click_parses_them(argv: list[str]) -> None:
    fast = parse_ps(argv)
    assert fast is not None, f"{argv} should take the fast path"
    assert fast == _click_params(argv)


@pytest.mark.parametrize("argv", LEFT_TO_CLICK, ids=" ".join)
def test_everything_else_is_left_to_click(argv: list[str]) -> None:
    assert parse_ps(argv) is None


@pytest.mark.parametrize(
    "argv",
    [["-p", "1"], ["-ef"], ["-eLf"], ["aux"], ["-e", "--sort=-pid", "--forest"]],
    ids=" ".join,
)
def test_ps_does_not_import_click(argv: list[str]) -> None:
    code = (
        "import sys; from tidscope.cli import main; "
        f"rc = main(['ps', *{argv!r}, '-p', '1'] if 'aux' not in {argv!r} else ['ps', *{argv!r}]); "
        "print('click' in sys.modules, rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.splitlines()[-1] == "False 0"
    assert out.splitlines()[0].split()[:2] in (["PID", "TTY"], ["UID", "PID"], ["USER", "PID"])


def test_the_launcher_imports_only_what_ps_needs() -> None:
    """scripts/tidscope (not pip's generated wrapper, which imports re)
    brings in neither re, click, typing, signal nor the column modules for
    a plain ps, beyond what the interpreter itself imports here (an
    editable install's finder imports re); ``-X importtime`` lists them."""

    def imported(*args: str) -> tuple[str, set[str]]:
        out = subprocess.run(
            [sys.executable, "-X", "importtime", *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return out.stdout, {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}

    launcher = Path(__file__).resolve().parent.parent / "scripts" / "tidscope"
    table, loaded = imported(str(launcher), "ps", "-p", "1")
    _, bare = imported("-c", "pass")
    assert table.split()[:2] == ["PID", "TTY"]
    unwanted = {"re", "click", "typing", "signal", "enum", "tidscope.ps.stat_columns"}
    assert "tidscope.ps.layout" in loaded
    assert not (loaded - bare) & unwanted, (loaded - bare) & unwanted


def test_the_launcher_imports_sys_and_the_cli_alone() -> None:
    """What the check above cannot see under an editable install, whose
    finder imports re first: the launcher itself imports nothing more."""
    import ast

    launcher = Path(__file__).resolve().parent.parent / "scripts" / "tidscope"
    tree = ast.parse(launcher.read_text())
    names = {
        alias.name if isinstance(node, ast.Import) else f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert names == {"sys", "tidscope.cli.main"}


def test_ps_p_1_loads_only_what_it_uses() -> None:
    """Start-up is paid per module (about 60 µs each on a 2-core machine,
    python -m benchmarks --only startup): ``ps -p 1`` loads neither core/
    (our pid comes from the C reader already loaded), nor the files beyond
    stat and status (taskfiles), nor terminal names for a task without one."""
    code = (
        "import sys; from tidscope.cli import main; rc = main(['ps', '-p', '1']); "
        "print(sorted(m for m in sys.modules if m.startswith('tidscope')), rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    *_, last = out.splitlines()
    loaded, rc = last.rsplit(" ", 1)
    assert rc == "0", out
    with open("/proc/1/stat", "rb") as f:
        tty_nr = int(f.read().rsplit(b")", 1)[1].split()[4])
    unused = ["tidscope.core", "tidscope.proc.taskfiles", "click"]
    for module in unused + ([] if tty_nr else ["tidscope.ps.ttys"]):
        assert f"'{module}'" not in loaded, loaded
    # 24 today, with the C reader and the three packages; each one more costs
    # about 0.6 % of the start-up (the old flat tree loaded 17)
    names = ast.literal_eval(loaded)
    assert len(names) <= 24 + (1 if tty_nr else 0), names  # ps/ttys.py names a terminal
