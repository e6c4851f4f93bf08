"""``watch --run`` and ``watch --poll`` against hostile commands, signals and
seccomp filters, on the real kernel.  Each test provokes one failure the
watch once had.
"""

from __future__ import annotations

import sys
import time

from helpers import run

from tidscope import watch_poll

TIDSCOPE = [sys.executable, "-m", "tidscope"]


def test_scans_slower_than_the_interval_are_said_at_the_end() -> None:
    """--poll 0.000001 scans back to back (a core busy, as asked): the first
    line's "tasks that live less than about 1e-06 s" was not what was kept.
    The gap between scans is now said at the end when it was longer."""
    with watch_poll.Poller(0.000001) as poller:
        for _ in poller.events(time.monotonic() + 0.3):
            pass
        assert poller.scans > 2
        line = poller.last_line
        assert line is not None
        gap = poller.longest_gap_ns / 1e9
        assert f"{gap:.3g} s" in line and "1e-06 s" in line
    with watch_poll.Poller(60) as poller:
        for _ in poller.events(time.monotonic() + 0.1):
            pass
        assert poller.last_line is None
    proc = run([*TIDSCOPE, "watch", "--poll", "0.000001", "--duration", "0.5"])
    assert proc.returncode == 0, proc.stderr
    first, last = proc.stderr.splitlines()
    assert "polling /proc every 1e-06 s" in first
    assert last.startswith("tidscope watch: note: scans of /proc were up to ")
