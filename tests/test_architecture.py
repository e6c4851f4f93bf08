"""The house's shape holds: imports run one way with no cycles (import-linter,
contracts in pyproject.toml), ARCHITECTURE.md names every wing, and a
module stays short unless its docstring says why it holds one idea."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tidscope"
LONG = 400  # lines: past this a module probably holds two ideas
WHY_LONG = "longer than 400 lines because"


def _wings() -> list[str]:
    return sorted(
        d.name for d in PACKAGE.iterdir() if (d / "__init__.py").exists() and d.name != "cli"
    )


def test_imports_run_one_way_with_no_cycle() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        pytest.skip(f"import-linter is not installed next to {sys.executable} (the test extra)")
    proc = subprocess.run(
        [str(lint), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr


def test_every_wing_is_in_the_layers_and_in_architecture_md() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    named = {m.strip() for layer in layers for m in layer.replace(":", "|").split("|")}
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for wing in _wings():
        assert f"tidscope.{wing}" in named, f"tidscope/{wing}/ is in no layer of pyproject.toml"
        assert f"`{wing}/`" in text, f"ARCHITECTURE.md does not say what tidscope/{wing}/ owns"
    floor = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    for module in floor:
        assert f"tidscope.{module}" in named, f"tidscope/{module}.py is in no layer"
        assert f"`{module}.py`" in text, f"ARCHITECTURE.md does not name tidscope/{module}.py"


def test_a_long_module_says_why() -> None:
    long = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > LONG and WHY_LONG not in text.split('"""', 2)[1]:
            long.append(f"{path.relative_to(ROOT)} ({text.count(chr(10))} lines)")
    assert not long, f"over {LONG} lines with no '{WHY_LONG}' in the docstring: {long}"


def test_the_readme_points_at_the_map() -> None:
    assert "ARCHITECTURE.md" in (ROOT / "README.md").read_text()
    assert os.path.exists(ROOT / "ARCHITECTURE.md")
