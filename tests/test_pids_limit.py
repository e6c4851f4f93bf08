"""A cgroup's pids.max reached: the hint names it (issue 20, part 5).

Each run is moved into a cgroup of its own whose pids controller allows a
few tasks (cgroup v1's pids hierarchy, or v2's where our cgroup offers the
controller): the failing clone or fork must name that limit, pids.max and
pids.current, and give advice that fits the command: spawn's ``-n``, and
for verify-flags none of spawn's options.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from helpers import into_cgroup, one_error_line, pids_cgroup, remove_cgroup, tidscope

pytestmark = pytest.mark.root  # makes cgroups


@pytest.fixture
def limited(request: pytest.FixtureRequest) -> Iterator[str]:
    where = pids_cgroup(request.param)
    if where is None:
        pytest.skip("no cgroup with the pids controller can be made here")
    try:
        yield where
    finally:
        remove_cgroup(where)


@pytest.mark.parametrize("limited", [8], indirect=True)
def test_spawn_names_the_pids_limit_and_its_own_advice(limited: str) -> None:
    proc = tidscope("spawn", "-n", "40", "--flags", "process", prefix=into_cgroup(limited))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = one_error_line(proc)
    assert "EAGAIN" in line and f"{limited} is reached" in line, line
    assert "pids.max=8" in line and "pids.current=8" in line, line
    assert "lower -n" in line and f"{limited}/pids.max" in line, line


@pytest.mark.parametrize("limited", [2], indirect=True)
def test_verify_flags_names_the_pids_limit_without_spawns_advice(limited: str) -> None:
    """Two tasks: tidscope and its lab; the lab's raw child is refused."""
    proc = tidscope("verify-flags", "VM", "FILES", "--format", "json", prefix=into_cgroup(limited))
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for row in json.loads(proc.stdout):
        assert row["verdict"] == "error", row
        assert f"{limited} is reached" in row["reason"] and "pids.max=2" in row["reason"], row
        assert "-n" not in row["reason"].split() and "lower" not in row["reason"], row
        assert f"{limited}/pids.max" in row["reason"], row


@pytest.mark.parametrize("limited", [1], indirect=True)
def test_a_lab_that_cannot_be_forked_names_the_pids_limit(limited: str) -> None:
    proc = tidscope("verify-flags", "VM", "--format", "json", prefix=into_cgroup(limited))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["verdict"] == "error" and "cannot fork the lab" in row["reason"], row
    assert f"{limited} is reached" in row["reason"] and "pids.max=1" in row["reason"], row
    assert "prlimit --nproc" not in row["reason"] and "lower -n" not in row["reason"], row
