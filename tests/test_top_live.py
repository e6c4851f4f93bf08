"""``tidscope top``'s live view in a real terminal: tmux runs it, send-keys
types, capture-pane reads the screen, and ``#{alternate_on}`` says whether
the view still holds the terminal.  Each way out must give the terminal
back: q, SIGINT, SIGTERM, SIGTSTP (and the view comes back on fg), a
resize on the way, and SIGHUP when the terminal goes away."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import wait_for
from test_top import duty, workload  # noqa: F401 (a fixture)

from tidscope.proc import snapshot

HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)"
)


class Pane:
    """One tmux session of its own, a shell running the command."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.shell: tuple[int, int | None] | None = None  # its first process: pid, start

    def new_session(self, *command: str) -> None:
        self.tmux("new-session", "-d", "-s", self.name, *command)
        pid = int(self.tmux("display", "-p", "-t", self.name, "#{pane_pid}"))
        self.shell = (pid, _started(pid))

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.name, *args],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0, (args, proc.stderr)
        return proc.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def alternate(self) -> bool:
        return self.tmux("display", "-p", "-t", self.name, "#{alternate_on}").strip() == "1"

    def size(self, width: int, height: int) -> None:
        self.tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def shows(self, text: str, timeout: float = 30) -> str:
        """The screen once it shows ``text``; the test fails with the screen."""
        seen = [""]

        def probe() -> str:
            seen[0] = self.screen()
            return seen[0] if text in seen[0] else ""

        try:
            found: str = wait_for(f"{text!r} on the screen", probe, timeout)
            return found
        except AssertionError as err:
            size = self.tmux("display", "-p", "-t", self.name, "#{window_width}x#{window_height}")
            raise AssertionError(f"{err}; the screen ({size.strip()}):\n{seen[0]}") from None


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[tuple[Pane, Path]]:
    name = f"tidscope-{uuid.uuid4().hex[:12]}"
    p = Pane(name)
    status = tmp_path / "status"
    yield p, status
    subprocess.run(
        ["tmux", "-L", name, "kill-server"], capture_output=True, timeout=30, check=False
    )
    if p.shell is not None:  # it ends with its terminal: nothing is left behind
        pid, began = p.shell
        wait_for(f"the pane's process {pid} ending", lambda: _started(pid) != began)


def _started(pid: int) -> int | None:
    """A task's start time, or None once it is gone or a zombie."""
    task = snapshot.process(pid)
    return None if task is None or task.state in ("Z", "X") else task.start_ticks


def start(pane: Pane, status: Path, args: str, width: int = 160, height: int = 30) -> None:
    """The view in a shell that ignores SIGHUP (tidscope still takes it) and
    writes tidscope's exit status to ``status`` and the screen, then holds
    the pane (and its screen) until the terminal goes away: a read of a
    hung-up terminal ends, where a sleep, SIGHUP ignored, outlived it."""
    cmd = (
        f"trap '' HUP; cd {shlex.quote(str(HERE.parent))}; stty cols {width} rows {height}; "
        f"{shlex.quote(sys.executable)} -m tidscope top {args}; "
        f'echo $? > {shlex.quote(str(status))}; echo "EXIT=$(cat {shlex.quote(str(status))})"; '
        "exec cat > /dev/null"
    )
    pane.new_session("bash", "-c", cmd)
    pane.size(width, height)


def exited(status: Path) -> int:
    text = wait_for("tidscope's exit status", lambda: status.exists() and status.read_text())
    return int(text)


def test_keys_sort_filter_pause_and_quit(duty: str, pane: tuple[Pane, Path]) -> None:  # noqa: F811
    p, status = pane
    with workload(duty) as w:
        start(p, status, f"-d 0.3 -p {w.pid}")
        screen = p.shows("worker-*")  # pools folded: worker-1..4, and duty100, 50, 10
        assert p.alternate()
        assert "q quit" in screen and "HIST" in screen and "duty*" in screen
        assert "duty100" not in screen
        p.keys("e")
        screen = p.shows("duty100")
        assert "worker-3" in screen
        p.keys("/", "duty5", "Enter")
        screen = p.shows("name ~ 'duty5'")
        body = screen.split("NAME", 1)[1]
        assert "duty50" in body and "duty100" not in body and "idle" not in body
        p.keys("/", "Enter")  # an empty filter clears it
        p.shows("idle")
        p.keys(">")
        p.shows("sort usr")
        p.keys("c")
        p.shows("sort pcpu")
        p.keys("p")
        p.shows("paused")
        p.keys("p")
        wait_for("the view running again", lambda: "paused" not in p.screen())
        p.keys("H")
        p.keys("q")
        assert exited(status) == 0
        assert not p.alternate()
        p.shows("EXIT=0")


@pytest.mark.parametrize(("how", "code"), [("C-c", 130), ("SIGTERM", 143)])
def test_signals_give_the_terminal_back(
    duty: str,  # noqa: F811
    pane: tuple[Pane, Path],
    how: str,
    code: int,
) -> None:
    p, status = pane
    with workload(duty) as w:
        start(p, status, f"-d 0.2 -p {w.pid}")
        p.shows("duty*")
        if how == "C-c":
            p.keys("C-c")
        else:
            pid = _tidscope_pid(p)
            subprocess.run(["kill", "-TERM", str(pid)], check=True, timeout=30)
        assert exited(status) == code
        assert not p.alternate()
        p.shows(f"EXIT={code}")


def _tidscope_pid(p: Pane) -> int:
    """The tidscope running in the pane: the shell's child."""
    shell = int(p.tmux("display", "-p", "-t", p.name, "#{pane_pid}").strip())

    def child() -> int:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(shell)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout.split()
        return int(out[0]) if out else 0

    pid: int = wait_for("tidscope under the pane's shell", child)
    return pid


def test_sigtstp_gives_the_terminal_back_and_fg_redraws(
    duty: str,  # noqa: F811
    pane: tuple[Pane, Path],
) -> None:
    """Ctrl-Z in an interactive shell: the screen is the shell's again
    while the view is stopped; fg brings the view back, q ends it."""
    p, status = pane
    with workload(duty) as w:
        cmd = (
            f"cd {shlex.quote(str(HERE.parent))}; "
            f"{shlex.quote(sys.executable)} -m tidscope top -d 0.2 -p {w.pid}"
        )
        p.new_session("bash", "--norc", "-i")
        p.size(160, 30)
        p.keys(f"stty cols 160 rows 30; {cmd}", "Enter")
        p.shows("duty*")
        assert p.alternate()
        p.keys("C-z")
        p.shows("Stopped")
        assert not p.alternate()
        p.keys("fg", "Enter")
        p.shows("duty*")
        assert p.alternate()
        p.keys("q")
        wait_for("the shell's prompt again", lambda: not p.alternate())
        p.keys(f"echo EXIT=$? > {shlex.quote(str(status))}", "Enter")
        wait_for("the exit status", lambda: status.exists() and status.read_text())
        assert status.read_text().strip() == "EXIT=0"
        assert not p.alternate()


def test_a_resize_redraws_at_the_new_size(duty: str, pane: tuple[Pane, Path]) -> None:  # noqa: F811
    p, status = pane
    with workload(duty) as w:
        start(p, status, f"-d 0.2 -p {w.pid}")
        p.shows("NAME")
        _winsize(_tidscope_pid(p), 60, 12)
        wait_for(
            "the view drawn 60 columns wide",
            lambda: (s := p.screen()) and "TID" in s and max(map(len, s.splitlines())) <= 60,
        )
        assert "USER" not in p.screen()
        _winsize(_tidscope_pid(p), 80, 24)
        p.shows("USER")
        p.keys("q")
        assert exited(status) == 0
        assert not p.alternate()


def _winsize(pid: int, cols: int, rows: int) -> None:
    """Resize the terminal tidscope draws on, as a terminal emulator does
    (TIOCSWINSZ: the kernel sends SIGWINCH to its foreground group).
    (tmux's resize-window reached the pane's terminal only in some runs.)"""
    import fcntl
    import struct
    import termios

    fd = os.open(f"/proc/{pid}/fd/1", os.O_RDWR | os.O_NOCTTY)
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    finally:
        os.close(fd)


def test_sighup_when_the_terminal_goes_away(duty: str, pane: tuple[Pane, Path]) -> None:  # noqa: F811
    """The pane is killed: tidscope gets SIGHUP, gives back what it can of
    a terminal that is gone, and ends with 128+1, leaving nothing behind."""
    p, status = pane
    with workload(duty) as w:
        start(p, status, f"-d 0.2 -p {w.pid}")
        p.shows("duty*")
        pid = _tidscope_pid(p)
        p.tmux("kill-server")
        assert exited(status) == 129
        wait_for("tidscope gone", lambda: not Path(f"/proc/{pid}").exists())
