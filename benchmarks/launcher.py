"""Start-up through tidscope's own launcher and through pip's console-script wrappers.

pyproject.toml installs scripts/tidscope (setuptools ``script-files``), not a
``[project.scripts]`` entry point, because of what pip writes for an entry
point: up to pip 25.1 (so pip 23.2.1, which ``python -m venv`` brings with
Python 3.11.7 and 3.12.1, and pip 24.2 of 3.13.0) the wrapper imports ``re`` and
runs ``re.sub`` on ``argv[0]`` at every start; pip 25.2 and later write one
without ``re``.  This suite runs ``tidscope ps -p 1`` through the launcher
and through both wrappers, in turn, each a file in one temporary directory
with this interpreter in its ``#!`` line.  An interpreter that imports ``re``
before any script (an editable install's finder does) pays the same either
way: the row says so, and judges nothing then.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import Row, alternate

LAUNCHER = Path(__file__).resolve().parent.parent / "scripts" / "tidscope"

# What pip writes for tidscope = "tidscope.cli:main", as pip 23.2.1 to 25.1.1
# and pip 25.2 to 26.3 wrote it (each installed in a venv, the file read back).
PIP_WITH_RE = """# -*- coding: utf-8 -*-
import re
import sys
from tidscope.cli import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""
PIP_WITHOUT_RE = """import sys
from tidscope.cli import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""

# Keeping a launcher of our own is worth it only if it saves more than this
# share of the whole process against the wrapper a standard install writes.
TARGET = 0.97


def _write(path: Path, body: str) -> str:
    """``body`` as an executable script at ``path``, run by this interpreter."""
    path.parent.mkdir()
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(0o755)
    return str(path)


def re_at_startup() -> bool:
    """Does this interpreter import re before running any script?"""
    code = "import sys; print('re' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return out.stdout.strip() == "True"


def bench_launcher(repeat: int) -> list[Row]:
    body = LAUNCHER.read_text().split("\n", 1)[1]  # without its "#!python"
    args = ["ps", "-p", "1"]
    # Each is a file named tidscope, so that argv[0] is the same for all.
    with tempfile.TemporaryDirectory(prefix="tidscope-launcher-") as tmp:
        d = Path(tmp)
        commands = {
            "launcher": [_write(d / "launcher" / "tidscope", body), *args],
            "with re": [_write(d / "with-re" / "tidscope", PIP_WITH_RE), *args],
            "without re": [_write(d / "without-re" / "tidscope", PIP_WITHOUT_RE), *args],
        }
        s = alternate(commands, repeat)
    preloaded = re_at_startup()
    note = "; this interpreter imports re at start-up anyway" if preloaded else ""
    ours = s["launcher"]
    rows = []
    for label, what, target in (
        ("with re", "pip <= 25.1's wrapper (imports re)", f"<= {TARGET}x"),
        ("without re", "pip >= 25.2's wrapper (no re)", "none: the same imports"),
    ):
        ratio = ours.median / s[label].median
        met = None if preloaded or label == "without re" else ratio <= TARGET
        rows.append(
            {
                "benchmark": "start-up: tidscope ps -p 1, scripts/tidscope launcher",
                "tidscope": ours.span(),
                "peer": f"{what}: {s[label].span()}{note}",
                "ratio": round(ratio, 3),
                "target": target,
                "met": met,
            }
        )
    return rows
