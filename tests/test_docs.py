"""The man pages, the README and --help say what the code does."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest

from tidscope.cli.app import cli
from tidscope.cli.commands import COMMANDS

ROOT = Path(__file__).resolve().parent.parent
MAN = ROOT / "man"


def _page(name: str) -> str:
    return (MAN / f"tidscope-{name}.1").read_text()


def _commands() -> list[str]:
    ctx = click.Context(cli)
    return cli.list_commands(ctx)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_in_the_man_page(name: str) -> None:
    if name not in _commands():
        pytest.skip(f"{name} is not built yet")
    command = cli.get_command(click.Context(cli), name)
    assert command is not None
    page = _page(name)
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        for opt in param.opts:
            mdoc = "Fl " + opt[1:]  # mdoc's Fl adds the first dash
            assert re.search(rf"{re.escape(mdoc)}(?![\w-])", page), (
                f"{opt} of tidscope {name} is not in man/tidscope-{name}.1"
            )


def test_every_command_has_a_page_and_a_section() -> None:
    overview = (MAN / "tidscope.1").read_text()
    for name in _commands():
        assert (MAN / f"tidscope-{name}.1").exists()
        assert f".Ss {name}" in overview
        assert f".Xr tidscope-{name} 1" in overview


def test_readme_quick_start_has_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", quick, re.S)
    assert commands == [
        "pip install . && tidscope spawn --threads 2",
        "pip install -e '.[test]' && python -m pytest",
    ]


PAGES = sorted(p.name for p in MAN.glob("*.1"))
SEE_ALSO = ("ps 1", "pstree 1", "clone 2", "kcmp 2", "proc 5")


def _sections(text: str) -> dict[str, str]:
    """Each ``.Sh`` section's text, by title."""
    parts = re.split(r"^\.Sh (.+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_the_sections(page: str) -> None:
    sections = _sections((MAN / page).read_text())
    for title in ("NAME", "SYNOPSIS", "DESCRIPTION", "ENVIRONMENT", "EXIT STATUS", "EXAMPLES"):
        assert title in sections, f"{page} has no {title}"
    assert list(sections)[-1] == "SEE ALSO"
    for ref in SEE_ALSO:
        assert f".Xr {ref}" in sections["SEE ALSO"], f"{page}: SEE ALSO lacks {ref}"
    assert ".It Ev NO_COLOR" in sections["ENVIRONMENT"]
    assert "$ tidscope" in sections["EXAMPLES"]
    status = sections["EXIT STATUS"]
    assert "128+" in status and "141" in status and "SIGPIPE" in status


def test_environment_entries_where_they_matter() -> None:
    def environment(page: str) -> str:
        return _sections((MAN / page).read_text())["ENVIRONMENT"]

    assert ".It Ev COLUMNS" in environment("tidscope-ps.1")
    assert ".It Ev TIDSCOPE_PID" in environment("tidscope-spawn.1")
    assert ".It Ev TIDSCOPE_TIDS" in environment("tidscope-spawn.1")
    assert "_TIDSCOPE_COMPLETE" in environment("tidscope.1")


def test_mandoc_lint_is_clean() -> None:
    if shutil.which("mandoc") is None:
        pytest.skip("mandoc is not installed")
    proc = subprocess.run(
        ["mandoc", "-T", "lint", "-W", "warning", *(str(MAN / p) for p in PAGES)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


COMPLETION = (
    'eval "$(_TIDSCOPE_COMPLETE=bash_source tidscope)"',
    'eval "$(_TIDSCOPE_COMPLETE=zsh_source tidscope)"',
    "_TIDSCOPE_COMPLETE=fish_source tidscope | source",
)


def test_shell_completion_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Shell completion", 1)[1].split("\n## ", 1)[0]
    page = (MAN / "tidscope.1").read_text().split(".Ss Shell completion", 1)[1]
    for line in COMPLETION:
        assert line in section and line in page


def _wheel_tools() -> list[str]:
    """Build without fetching setuptools when this environment can."""
    modules = ("setuptools.command.bdist_wheel", "wheel")  # setuptools >= 70.1 has its own
    if any(importlib.util.find_spec(m) for m in modules):
        return ["--no-build-isolation"]
    return []


@pytest.mark.slow
@pytest.mark.timeout(600)  # builds the C core, in an isolated env pip fills from the index
def test_the_wheel_installs_every_man_page(tmp_path: Path) -> None:
    """Built from a copy of the tree, so that no build/ of ours is touched."""
    src = tmp_path / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=shutil.ignore_patterns(
            ".git", "build", "dist", ".venv*", "*.so", "*.egg-info", "*_cache", "__pycache__"
        ),
    )
    out = tmp_path / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", *_wheel_tools(), "-w", str(out)]
    proc = subprocess.run(
        [*cmd, str(src)], capture_output=True, text=True, timeout=540, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("tidscope-*.whl")
    version = importlib.metadata.version("tidscope")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    for page in PAGES:
        assert f"tidscope-{version}.data/data/share/man/man1/{page}" in names
