"""What a test needs from the machine, said as a marker, and a skip that
names what is missing when the machine lacks it (never a failure, never a
hang):

- ``root``: uid 0 (it changes uids with setpriv, mounts, makes cgroups);
- ``net_admin``: CAP_NET_ADMIN in the initial pid and user namespaces, to
  subscribe to the process-events connector (which reports to no other);
- ``procps``: procps-ng PROCPS_VERSION exactly, the ``ps`` whose output the
  byte-for-byte comparisons are written against;
- ``slow``: longer than a few seconds; left out of the default run
  (``addopts``), run with ``pytest -m slow`` (``.ci/run`` does both);
- ``floods_connector``: makes process events faster than a watcher can
  take them (a burst of thousands of threads), on purpose;
- ``machine_wide``: lowers a limit every process on the machine lives by
  (vm.max_map_count) for a moment: it runs alone, no other test (of this
  run or a second copy) running meanwhile, or their mmaps fail (a
  MemoryError in a concurrent copy's import);
- ``many_tasks``: holds tens of thousands of tasks at once, most of the
  machine's task ids (kernel.pid_max is 32768 on a 2-core machine): one
  such test at a time, in this run or a second copy, or both fail to
  clone (EAGAIN).

The connector sends every task's events on the machine to every listener:
a flood fills the socket of a watcher in another test (another xdist
worker, or a second copy of the suite), the kernel drops its messages and
that test cannot see what it waits for.  So a test marked ``net_admin``
holds a shared lock for its run and a flooding one an exclusive lock
(flock on files in the temp directory, so a second copy of the suite waits
too), with a gate that keeps new readers out while a flood waits its turn.

Every test is bounded by pytest-timeout (``timeout`` in pyproject.toml); a
test that needs longer says why next to its ``timeout`` marker.

The commands a test runs inherit no ``COLUMNS`` or ``LINES`` (pytest-xdist
sets them in its workers, a shell may export them): ps would print for an
80-column screen; a test that wants a width gives it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator

import pytest

from tidscope.proc.root import outside_initial

for _name in ("COLUMNS", "LINES"):
    os.environ.pop(_name, None)

# The signals the tests send keep their default dispositions in the commands
# the tests run: a suite started by nohup (SIGHUP ignored) or as a background
# job of a script (SIGINT and SIGQUIT ignored) would otherwise hand the
# ignoring on to every child, and the tests of what a signal does would fail.
for _sig in (signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
    if signal.getsignal(_sig) == signal.SIG_IGN:
        signal.signal(_sig, signal.SIG_DFL)
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C ends pytest as usual


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile tidscope (and benchmarks) once, in the controller, when
    the interpreter writes no bytecode itself (PYTHONDONTWRITEBYTECODE, set
    on this machine kind): else every command a test runs compiles the
    package from source again, which doubles a ``tidscope ps``'s CPU time
    (62 ms against 31) and made the default run a minute longer.  The files
    go where Python puts them (``__pycache__``, ignored by git); a stale one
    is recompiled (compileall compares the source's time and size)."""
    if not sys.dont_write_bytecode or hasattr(config, "workerinput"):
        return
    import compileall

    import benchmarks
    import tidscope

    for package in (tidscope, benchmarks):
        compileall.compile_dir(os.path.dirname(package.__file__ or ""), quiet=2)


PROCPS_VERSION = "4.0.2"
CAP_NET_ADMIN = 12


def _cap_eff() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


@functools.cache
def _procps_found() -> str:
    """What ``ps --version`` says it is, or why there is no answer."""
    if shutil.which("ps") is None:
        return "no ps on PATH"
    try:
        out = subprocess.run(
            ["ps", "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"ps --version failed: {e}"
    found = re.search(r"procps(?:-ng)? (\S+)", out)
    return f"procps-ng {found.group(1)}" if found else (out.strip() or "an unknown ps")


def _missing(name: str) -> str | None:
    """Why the machine cannot run a test marked ``name``; None if it can."""
    if name == "root" and os.geteuid() != 0:
        return f"needs root (running as uid {os.geteuid()})"
    if name == "net_admin" and not _cap_eff() >> CAP_NET_ADMIN & 1:
        return "needs CAP_NET_ADMIN to subscribe to the process-events connector"
    if name == "net_admin" and (elsewhere := outside_initial()) is not None:
        return (
            "the process-events connector reports to the initial pid and user namespaces"
            f" only, and this suite runs in another {elsewhere}"
        )
    if name == "procps":
        found = _procps_found()
        if found != f"procps-ng {PROCPS_VERSION}":
            return f"compares with procps-ng {PROCPS_VERSION} byte for byte; found {found}"
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    for name in ("root", "net_admin", "procps"):
        if item.get_closest_marker(name) is not None and (why := _missing(name)):
            pytest.skip(why)


_LOCKS = os.path.join(tempfile.gettempdir(), "tidscope-tests-connector")
_MACHINE = os.path.join(tempfile.gettempdir(), "tidscope-tests-machine")
_TASKS = os.path.join(tempfile.gettempdir(), "tidscope-tests-tasks")


def _lock_file(name: str, base: str = _LOCKS) -> int:
    fd = os.open(f"{base}.{name}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    return fd


@contextlib.contextmanager
def _turn(base: str, alone: bool) -> Iterator[None]:
    """A shared turn on the locks ``base``.gate/.main, or, ``alone``, an
    exclusive one: the gate keeps new shared turns out while it waits."""
    gate, main = _lock_file("gate", base), _lock_file("main", base)
    try:
        if alone:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(main, fcntl.LOCK_EX)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(main, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield
    finally:
        os.close(main)  # closing drops the locks
        os.close(gate)


@pytest.fixture(autouse=True)
def _machine_turn(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked ``machine_wide`` (it lowers a global limit every process
    lives by: vm.max_map_count) runs while no other test runs, in this run or
    a second copy; every other test takes a shared turn (waiting counts in
    the test's timeout)."""
    with _turn(_MACHINE, request.node.get_closest_marker("machine_wide") is not None):
        yield


@pytest.fixture(autouse=True)
def _tasks_turn(request: pytest.FixtureRequest, _machine_turn: None) -> Iterator[None]:
    """A test marked ``many_tasks`` waits for any other to end (waiting
    counts in the test's timeout); no other test takes this lock."""
    if request.node.get_closest_marker("many_tasks") is None:
        yield
        return
    with _turn(_TASKS, True):
        yield


@pytest.fixture(autouse=True)
def _connector_turn(request: pytest.FixtureRequest, _machine_turn: None) -> Iterator[None]:
    """The connector to ourselves, as the module docstring says: shared for
    a watcher, exclusive for a flood (waiting counts in the test's timeout)."""
    flood = request.node.get_closest_marker("floods_connector") is not None
    if not flood and request.node.get_closest_marker("net_admin") is None:
        yield
        return
    with _turn(_LOCKS, flood):
        yield
