"""``tidscope ps`` against procps ``ps`` on a machine that keeps changing.

:func:`same` is for quiet tasks (held threads, pid 1): it runs procps, then
tidscope, then procps again, and once both procps runs agree tidscope
must print exactly that.  :func:`same_rows` is for the whole machine,
where some task always changes between runs: the header must be the same,
every row procps printed twice the same (the task did not change) must be
tidscope's row for that task, byte for byte, and those rows must come in
procps's order; a row that differed only once is a race, not a difference.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence

from helpers import run, tidscope

TRIES = 40  # a young task's C and %CPU change every few tenths of a second
PAUSE = 0.25


def both(
    args: Sequence[str], user: bool = False, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], ...]:
    """procps, tidscope, procps: the same command line, environment and user
    (read as text byte for byte: a name need not be UTF-8)."""
    return (
        run(["ps", *args], user=user, env=env, errors="surrogateescape"),
        tidscope("ps", *args, user=user, env=env, errors="surrogateescape"),
        run(["ps", *args], user=user, env=env, errors="surrogateescape"),
    )


def same(*args: str, user: bool = False, env: dict[str, str] | None = None) -> str:
    """tidscope prints what procps prints, with the same exit status."""
    for _ in range(TRIES):
        first, ours, second = both(args, user, env)
        if first.stdout != second.stdout or first.returncode != second.returncode:
            time.sleep(PAUSE)
        else:
            assert ours.stdout == first.stdout, (
                f"ps {' '.join(args)}\n{ours.stdout}---\n{first.stdout}{ours.stderr}"
            )
            assert ours.returncode == first.returncode, ours.stderr
            return ours.stdout
    raise AssertionError(f"ps {' '.join(args)} never printed the same twice")


KEYS = ("PID", "SPID", "LWP", "TID")
TREE_ART = ("\\_", "|")


def _rows(out: str, keys: Sequence[int]) -> dict[tuple[str, ...], str]:
    rows = {}
    for line in out.splitlines()[1:]:
        # a tree's art (--forest, -H) adds words before a command, not cells
        words = [w for w in line.split() if w not in TREE_ART]
        rows[tuple(words[k] for k in keys)] = line
    return rows


def same_rows(
    *args: str, user: bool = False, env: dict[str, str] | None = None, ordered: bool = True
) -> dict[tuple[str, ...], str]:
    """The stable rows of a whole-machine listing are tidscope's too (see
    the module's docstring); returns them by (PID[, SPID|LWP]) key.

    A task can change and change back between the three runs (a state
    flips to R while it is read), so the comparison is run again while any
    row differs: a real difference persists, a race does not.  A row fails
    when its task was quiet (procps printed it the same twice) in every
    round, it differed in at least two of them, and never matched; a task
    procps saw change in some round is a busy one, and left out."""
    differed: dict[tuple[str, ...], list[str]] = {}
    matched: set[tuple[str, ...]] = set()
    busy: set[tuple[str, ...]] = set()
    misordered = 0
    first_misorder = ""
    rounds = 0
    for _ in range(TRIES):
        attempt = _attempt(args, user, env)
        if attempt is None:  # a second went by between procps's runs (ELAPSED...)
            time.sleep(PAUSE)
            continue
        stable, mine, order, seen = attempt
        rounds += 1
        busy |= seen - stable.keys()
        wrong = {k for k, line in stable.items() if mine.get(k) != line}
        for key in wrong:
            differed.setdefault(key, []).append(f"{mine.get(key)}\n{stable[key]}")
        matched |= stable.keys() - wrong
        got = [k for k in mine if k in stable]
        bad_order = ordered and got != order
        if bad_order:
            pairs = enumerate(zip(got, order, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), None)
            first_misorder = (
                f" ({len(got)} of the stable rows in ours, {len(order)} in procps's)"
                if at is None
                else f" (first at row {at}: ours {mine[got[at]]!r}, procps's"
                f" {stable[order[at]]!r}; {_about(got[at][0])}; {_about(order[at][0])})"
            )
        misordered += bad_order
        if not wrong and not bad_order:
            return stable
        if rounds == ATTEMPTS:
            break
    assert rounds, f"ps {' '.join(args)}: the machine changed too much to compare, {TRIES} times"
    failed = {
        k: v for k, v in differed.items() if k not in matched and k not in busy and len(v) > 1
    }
    assert not failed, f"ps {' '.join(args)}: rows differ: " + "\n".join(
        f"{k}\n{v[-1]}\n{_about(k[0])}" for k, v in list(failed.items())[:5]
    )
    assert misordered < rounds, f"ps {' '.join(args)}: rows in another order{first_misorder}"
    return stable


ATTEMPTS = 6


def _about(pid: str) -> str:
    """What the kernel says of task ``pid`` now, for a failure's message: a
    row one side left out is explained by the task's state."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "backslashreplace").strip()
        with open(f"/proc/{pid}/status", "rb") as f:
            lines = f.read().decode("ascii", "backslashreplace").splitlines()
    except OSError as err:
        return f"(/proc/{pid}: {err})"
    keep = ("State", "Tgid", "Ppid", "TracerPid", "NSpid", "Threads")
    return stat + "\n" + "; ".join(x for x in lines if x.split(":")[0] in keep)


Rows = dict[tuple[str, ...], str]


def _attempt(
    args: Sequence[str], user: bool, env: dict[str, str] | None
) -> tuple[Rows, Rows, list[tuple[str, ...]], set[tuple[str, ...]]] | None:
    """One procps, tidscope, procps round: (procps's stable rows, tidscope's
    rows, the stable keys in procps's order, every key procps printed); None
    when procps printed fewer than half of its rows the same twice, too few
    to compare (a busy machine, or a clock column across a second)."""
    first, ours, second = both(args, user, env)
    assert first.returncode == ours.returncode == 0, ours.stderr + first.stderr
    head = first.stdout.splitlines()[0]
    assert ours.stdout.splitlines()[0] == head, f"\n{ours.stdout[:500]}---\n{first.stdout[:500]}"
    keys = [i for i, word in enumerate(head.split()) if word in KEYS]
    assert keys, head
    theirs, again, mine = (_rows(p.stdout, keys) for p in (first, second, ours))
    stable = {k: line for k, line in theirs.items() if again.get(k) == line}
    if len(stable) <= len(theirs) // 2:
        return None
    return stable, mine, [k for k in theirs if k in stable], set(theirs) | set(again)
