"""Side-by-side timing: commands run alternately, medians compared."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Row = dict[str, Any]


def tidscope_cmd() -> list[str]:
    """The installed tidscope command next to this Python, else ``python -m tidscope``."""
    script = os.path.join(os.path.dirname(sys.executable), "tidscope")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "tidscope"]


def row(what: str, ours: str, peer: str, ratio: float, target: str, met: bool | None) -> Row:
    """One result: what was measured, both sides, their ratio and the target."""
    return {
        "benchmark": what,
        "tidscope": ours,
        "peer": peer,
        "ratio": round(ratio, 3),
        "target": target,
        "met": met,
    }


@dataclass
class Sample:
    """Wall seconds and peak RSS (KiB) of each run of one command."""

    label: str
    wall: list[float]
    maxrss: list[int]

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def span(self) -> str:
        return f"{self.median:.3f} s ({min(self.wall):.3f}-{max(self.wall):.3f})"


def run_once(cmd: Sequence[str]) -> tuple[float, int]:
    """Wall time and the child's peak RSS, output discarded."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}")
    return wall, usage.ru_maxrss


def alternate(commands: Mapping[str, Sequence[str]], repeat: int) -> dict[str, Sample]:
    """One warm-up run each, then ``repeat`` rounds of every command in turn."""
    samples = {label: Sample(label, [], []) for label in commands}
    for cmd in commands.values():
        run_once(cmd)
    for _ in range(repeat):
        for label, cmd in commands.items():
            wall, rss = run_once(cmd)
            samples[label].wall.append(wall)
            samples[label].maxrss.append(rss)
    return samples
