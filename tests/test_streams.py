"""Output that cannot be written whole is an error; a broken stderr is not.

A file size limit (RLIMIT_FSIZE) or a full disk cuts a write short: the
command must say so and exit 1, never exit 0 with its output cut.  Standard
error only carries diagnostics: when it cannot be written, the exit status
stays what the command decided.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import one_error_line

ARGS = [["ps", "-AT"], ["tree"], ["ps", "-AT", "--format", "json"], ["spawn", "-n", "60"]]


@pytest.mark.parametrize("args", ARGS, ids=[" ".join(a) for a in ARGS])
def test_a_file_size_limit_is_an_error_not_a_cut(args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(out, "w") as f:
        proc = subprocess.run(
            ["prlimit", "--fsize=300", "--", sys.executable, "-m", "tidscope", *args],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd="/",
            check=False,
        )
    assert proc.returncode == 1, proc.stderr
    line = one_error_line(proc)
    assert "standard output: EFBIG" in line and "incomplete" in line
    assert os.path.getsize(out) == 300


@pytest.mark.parametrize("args", [["ps", "-p", "1"], ["tree", "1"], ["verify-flags", "VM"]])
def test_a_full_disk_is_an_error(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "tidscope", *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd="/",
            check=False,
        )
    assert proc.returncode == 1
    assert "standard output: ENOSPC" in one_error_line(proc)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["ps", "-p", "abc"], 2),
        (["spawn", "--flags", "bogus"], 2),
        (["tree", "-u", "no-such-user"], 2),
        (["spawn", "-n", "1", "--hold", "0.1"], 0),
        (["ps", "-p", "999999999"], 1),
    ],
)
def test_a_full_stderr_keeps_the_exit_status(args: list[str], code: int) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "tidscope", *args],
            stdout=subprocess.DEVNULL,
            stderr=full,
            timeout=60,
            cwd="/",
            check=False,
        )
    assert proc.returncode == code
