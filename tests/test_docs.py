"""The man pages, the README and --help say what the code does."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from tidscope.cli import COMMANDS, cli

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
