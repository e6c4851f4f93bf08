"""Bad input, for every command: the documented contract, case by case.

Each case must give exactly one line on stderr that names the problem and
the fix, the documented exit status, no traceback, nothing on stdout (or
only the header, where procps ps prints one), and leave nothing behind: no
process carrying the run's tag in its environment, no new child or zombie
of this process, nothing in the TMPDIR the run was given.

The second table closes standard output under every command: a reader that
went away (``| head -1``) ends the command quietly with status 141
(128+SIGPIPE, as a process killed by SIGPIPE); a closed descriptor
(``>&-``) is one line and status 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import TAG, one_error_line, own_children, run, tagged, tidscope
from test_ps import held

from tidscope.cli.commands import COMMANDS

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_SIGPIPE = 128 + 13


@dataclass(frozen=True)
class Case:
    """``tidscope ARGS``: the exit status, what the one stderr line must
    contain (the problem and the fix), and what stdout holds: nothing, or
    exactly what procps ``ps PROCPS`` prints (its header alone)."""

    args: tuple[str, ...]
    code: int
    problem: str
    fix: str
    procps: tuple[str, ...] | None = None
    user: bool = False


HELP = "(see 'tidscope {} --help')"


def usage(*args: str, problem: str, fix: str | None = None) -> Case:
    """A click usage error: status 2 and a pointer to --help."""
    return Case(args, EXIT_USAGE, problem, fix or HELP.format(args[0]))


# {tid} and {pid}: a raw thread held for the module and its process;
# {closed}: a directory nobody may read; {file}: a regular file.
CASES: dict[str, Case] = {
    # -- tidscope ----------------------------------------------------------
    "no-command": Case((), EXIT_USAGE, "missing command", "give one of spawn, ps, tree"),
    "unknown-command": Case(("bogus",), EXIT_USAGE, "no such command 'bogus'", "--help"),
    "unknown-global-option": Case(("--bogus",), EXIT_USAGE, "no such option '--bogus'", "--help"),
    # -- ps: ids -------------------------------------------------------------
    "ps-pid-not-numeric": usage("ps", "-p", "abc", problem="-p 'abc' is not a list", fix="-p 1,42"),
    "ps-pid-negative": usage("ps", "-p", "-1", problem="-p '-1' is not a list", fix="-p 1,42"),
    "ps-pid-zero": usage("ps", "-p", "0", problem="-p '0' is not a list", fix="-p 1,42"),
    "ps-pid-huge": usage(
        "ps", "-p", "99999999999999999999", problem="out of range", fix="ids are 1 to 2147483647"
    ),
    "ps-pid-empty": usage("ps", "-p", "", problem="-p needs at least one id", fix="-p 1"),
    "ps-tid-not-numeric": usage("ps", "--tid", "1x", problem="--tid '1x'", fix="--tid 1,42"),
    "ps-tid-zero": usage("ps", "--tid", "0", problem="--tid '0'", fix="--tid 1,42"),
    "ps-tid-huge": usage("ps", "--tid", "2147483648", problem="out of range", fix="ids are 1 to"),
    "ps-pid-missing": Case(
        ("ps", "-p", "999999999"),
        EXIT_FAILURE,
        "no process 999999999",
        "tidscope ps -AT",
        ("-p", "999999999"),
    ),
    "ps-tid-missing": Case(
        ("ps", "--tid", "999999999"),
        EXIT_FAILURE,
        "no thread 999999999",
        "tidscope ps -AT",
        ("-T", "-p", "999999999"),  # procps has no --tid: the same header
    ),
    "ps-pid-is-a-tid": Case(
        ("ps", "-p", "{tid}"),
        EXIT_FAILURE,
        "{tid} is a thread of process {pid}, not a process",
        "use -T -p {pid}, or --tid {tid}",
        ("-p", "{tid}"),
    ),
    "ps-T-pid-is-a-tid": Case(
        ("ps", "-T", "-p", "{tid}"),
        EXIT_FAILURE,
        "{tid} is a thread of process {pid}",
        "--tid {tid}",
        ("-T", "-p", "{tid}"),
    ),
    # -- ps: numbers as procps reads them (ASCII, strtol base 0, its list rule) ----
    "ps-pid-improper-list": usage("ps", "-p", "1,,2", problem="improper list", fix="-p 1,42"),
    "ps-pid-leading-blank": usage("ps", "-p", " 1", problem="improper list", fix="-p 1,42"),
    "ps-pid-trailing-comma": usage("ps", "-p", "1,", problem="improper list", fix="-p 1,42"),
    "ps-pid-superscript": usage("ps", "-p", "\u00b2", problem="is not a number", fix="-p 1,42"),
    "ps-pid-arabic-digit": usage("ps", "-p", "\u0661", problem="is not a number", fix="-p 1,42"),
    "ps-pid-bad-octal": usage("ps", "-p", "08", problem="'08' is not a number", fix="-p 1,42"),
    "ps-tid-superscript": usage(
        "ps", "--tid", "\u00b2", problem="is not a number", fix="--tid 1,42"
    ),
    "ps-width-superscript": usage("ps", "-o", "pid:\u00b2", problem="column width", fix="pid:8"),
    "ps-width-leading-zero": usage("ps", "-o", "pid:010", problem="column width", fix="pid:8"),
    "ps-width-huge": usage(
        "ps", "-o", "pid:2147483648", problem="out of range", fix="give 1 to 2147483647"
    ),
    "ps-column-upper-case": usage(
        "ps", "-o", "PID,COMM", problem="unknown column 'PID'", fix="lower case"
    ),
    "ps-json-same-column": usage(
        "ps", "-o", "s,state", "--format", "json", problem="the same column", fix="give it once"
    ),
    "ps-csv-column-twice": usage(
        "ps", "-o", "pid,pid", "--format", "csv", problem="given twice", fix="give it once"
    ),
    # -- ps: options -----------------------------------------------------------
    "ps-T-and-L": usage("ps", "-T", "-L", problem="-T and -L both list threads", fix="give one"),
    "ps-unknown-column": usage("ps", "-o", "pid,bogus", problem="'bogus'", fix="nlwp"),
    "ps-empty-column": usage("ps", "-o", ",pid", problem="is not a column list", fix="-o pid,"),
    "ps-zero-width": usage("ps", "-o", "pid:0", problem="width '0'", fix="positive number"),
    "ps-bad-width": usage("ps", "-o", "pid:abc", problem="width 'abc'", fix="positive number"),
    "ps-o-without-value": usage("ps", "-o", problem="'-o' requires an argument"),
    "ps-bad-format": usage("ps", "--format", "xml", problem="'xml' is not one of"),
    "ps-format-as-procps": usage(
        "ps", "--format", "pid,comm", problem="'pid,comm' is not one of", fix="is -o here"
    ),
    "ps-unix-m": usage(
        "ps", "-m", "-p", "1", problem="-m is not supported by tidscope ps", fix="use -L"
    ),
    "ps-cols-not-a-number": usage(
        "ps", "--cols", "30x", problem="--cols '30x' is not a number", fix="--cols 120"
    ),
    "ps-rows-zero": usage("ps", "--lines", "0", problem="--rows '0' is not a number", fix="1 to"),
    "ps-unknown-option": usage("ps", "--bogus", problem="no such option '--bogus'"),
    "ps-bsd-letter": usage(
        "ps", "extra", problem="BSD e (in 'extra') is not supported by tidscope ps", fix="environ"
    ),
    # -- ps: --proc-root ---------------------------------------------------------
    "ps-root-missing": Case(
        ("ps", "--proc-root", "/nonexistent"), EXIT_FAILURE, "cannot list", "point --proc-root"
    ),
    "ps-root-not-proc": Case(
        ("ps", "--proc-root", "/etc"), EXIT_FAILURE, "no processes are visible", "--proc-root"
    ),
    "ps-root-a-file": Case(
        ("ps", "--proc-root", "{file}"), EXIT_FAILURE, "Not a directory", "point --proc-root"
    ),
    "ps-root-unreadable": Case(
        ("ps", "-T", "--proc-root", "{closed}"),
        EXIT_FAILURE,
        "Permission denied",
        "point --proc-root",
        user=True,
    ),
    # -- tree ------------------------------------------------------------------
    "tree-pid-zero": usage("tree", "0", problem="0 is not in the range"),
    "tree-pid-negative": usage("tree", "-1", problem="no such option '-1'"),
    "tree-pid-not-numeric": usage("tree", "abc", problem="'abc' is not a valid integer"),
    "tree-pid-huge": usage("tree", "99999999999999999999", problem="is not in the range"),
    "tree-pid-missing": Case(
        ("tree", "999999999"), EXIT_FAILURE, "no process 999999999", "see tidscope ps"
    ),
    "tree-pid-is-a-tid": Case(
        ("tree", "{tid}"), EXIT_FAILURE, "{tid} is a thread of pid {pid}", "tidscope tree {pid}"
    ),
    "tree-pid-and-user": usage(
        "tree", "-u", "root", "1", problem="not both", fix="give a PID or -u USER"
    ),
    "tree-unknown-user": usage(
        "tree", "-u", "no-such-user", problem="no user 'no-such-user'", fix="numeric uid"
    ),
    "tree-user-superscript": usage(
        "tree", "-u", "\u00b2", problem="no user '\u00b2'", fix="numeric uid"
    ),
    "tree-user-without-processes": Case(
        ("tree", "-u", "99999"), EXIT_FAILURE, "uid 99999 has no processes", "tidscope ps -o"
    ),
    "tree-bad-format": usage("tree", "--format", "xml", problem="'xml' is not one of"),
    "tree-extra-argument": usage("tree", "1", "2", problem="unexpected extra argument (2)"),
    "tree-root-missing": Case(
        ("tree", "--proc-root", "/nonexistent"), EXIT_FAILURE, "cannot list", "point --proc-root"
    ),
    "tree-root-not-proc": Case(
        ("tree", "--proc-root", "/etc"), EXIT_FAILURE, "no processes are visible", "--proc-root"
    ),
    "tree-root-unreadable": Case(
        ("tree", "--proc-root", "{closed}"),
        EXIT_FAILURE,
        "Permission denied",
        "point --proc-root",
        user=True,
    ),
    # -- inspect (more in test_inspect.py) -------------------------------------------
    "inspect-not-numeric": usage("inspect", "abc", problem="'abc' is not a valid integer"),
    "inspect-missing": Case(
        ("inspect", "999999999"), EXIT_FAILURE, "no task 999999999", "see tidscope ps -AT"
    ),
    # -- share (more in test_share.py) ---------------------------------------------
    "share-not-numeric": usage("share", "abc", problem="'abc' is not a valid integer"),
    "share-zero": usage("share", "0", problem="0 is not in the range"),
    "share-missing": Case(
        ("share", "1", "999999999"), EXIT_FAILURE, "no task 999999999", "see tidscope ps -AT"
    ),
    "share-explain-csv": usage(
        "share", "--explain", "--format=csv", problem="--explain lists", fix="--format table"
    ),
    # -- spawn: counts, flags, stacks, hold ---------------------------------------
    "spawn-count-not-numeric": usage("spawn", "-n", "x", problem="'x' is not a valid integer"),
    "spawn-count-negative": usage("spawn", "-n", "-1", problem="-1 is not in the range"),
    "spawn-count-zero": usage("spawn", "-n", "0", problem="0 is not in the range"),
    "spawn-count-huge": usage(
        "spawn", "-n", "99999999999999999999", problem="is not in the range 1<=x<="
    ),
    "spawn-unknown-flag": usage(
        "spawn", "--flags", "bogus", problem="unknown clone flag 'bogus'", fix="known: thread"
    ),
    "spawn-duplicate-flag": usage(
        "spawn", "--flags", "VM,VM", problem="CLONE_VM is given twice", fix="name each flag once"
    ),
    "spawn-empty-flags": usage("spawn", "--flags", "", problem="empty flag set", fix="thread"),
    "spawn-thread-without-sighand": usage(
        "spawn", "--flags", "THREAD", problem="EINVAL", fix="CLONE_THREAD requires CLONE_SIGHAND"
    ),
    "spawn-sighand-without-vm": usage(
        "spawn", "--flags", "SIGHAND,THREAD", problem="EINVAL", fix="requires CLONE_VM"
    ),
    "spawn-newns-with-fs": usage(
        "spawn",
        "--flags",
        "process,NEWNS,FS",
        problem="EINVAL",
        fix="CLONE_NEWNS cannot be combined with CLONE_FS",
    ),
    "spawn-clone3-only-flag": usage(
        "spawn", "--flags", "NEWTIME", problem="exists only for clone3", fix="drop it"
    ),
    "spawn-unreapable-parent": usage(
        "spawn", "--flags", "PARENT,SIGCHLD", problem="could not reap", fix="add THREAD"
    ),
    "spawn-two-exit-signals": usage(
        "spawn", "--flags", "SIGCHLD,SIGUSR1", problem="two exit signals", fix="a child has one"
    ),
    "spawn-stack-below-a-page": usage(
        "spawn", "--stack-size", "1", problem="too small", fix="the minimum is"
    ),
    "spawn-stack-page": usage(
        "spawn", "--stack-size", "4K", problem="too small", fix="the minimum is"
    ),
    "spawn-stack-absurd": usage(
        "spawn", "--stack-size", "10G", problem="too large", fix="the maximum is"
    ),
    "spawn-stack-overflowing": usage(
        "spawn", "--stack-size", "99999999999999999999G", problem="too large", fix="maximum"
    ),
    "spawn-stack-negative": usage(
        "spawn", "--stack-size", "-4K", problem="is not a size", fix="e.g. 64K"
    ),
    "spawn-stack-garbage": usage(
        "spawn", "--stack-size", "lots", problem="is not a size", fix="e.g. 64K"
    ),
    "spawn-stack-superscript": usage(
        "spawn", "--stack-size", "\u00b2K", problem="is not a size", fix="e.g. 64K"
    ),
    "spawn-flags-trailing-separator": usage(
        "spawn", "--flags", "VM|", problem="an empty flag name", fix="separate flags with one"
    ),
    "spawn-flags-double-separator": usage(
        "spawn", "--flags", "VM,,FS", problem="an empty flag name", fix="e.g. VM,FS"
    ),
    "spawn-flags-leading-separator": usage(
        "spawn", "--flags", "|VM", problem="an empty flag name", fix="e.g. VM,FS"
    ),
    "spawn-exit-signal-sigkill": usage(
        "spawn", "--flags", "VM,SIGKILL", problem="SIGKILL would kill tidscope", fix="SIGCHLD"
    ),
    "spawn-exit-signal-sigstop": usage(
        "spawn", "--flags", "SIGSTOP", problem="SIGSTOP would stop tidscope", fix="SIGCHLD"
    ),
    "spawn-bad-stack-style": usage("spawn", "--stack-style", "heap", problem="'heap' is not one"),
    "spawn-bad-format": usage("spawn", "--format", "xml", problem="'xml' is not one of"),
    "spawn-hold-garbage": usage(
        "spawn", "--hold", "soon", problem="is not a number of seconds", fix="--hold 5"
    ),
    "spawn-hold-negative": usage("spawn", "--hold=-3", problem="no such option '-3'"),
    "spawn-hold-infinite": usage(
        "spawn", "--hold=inf", problem="is not a number of seconds", fix="--hold alone"
    ),
    "spawn-hold-nan": usage(
        "spawn", "--hold", "nan", problem="is not a number of seconds", fix="--hold 5"
    ),
    "spawn-hold-exponent": usage(
        "spawn", "--hold", "1e10", problem="is not a number of seconds", fix="--hold 0.5"
    ),
    "spawn-hold-arabic-digit": usage(
        "spawn", "--hold", "\u0663", problem="is not a number of seconds", fix="--hold 5"
    ),
    "spawn-hold-underscore": usage(
        "spawn", "--hold", "1_0", problem="is not a number of seconds", fix="--hold 5"
    ),
    "spawn-hold-too-long": usage(
        "spawn", "--hold", "1000000001", problem="is too long", fix="--hold alone"
    ),
    "spawn-hold-and-run": usage(
        "spawn", "--hold", "1", "--run", "true", problem="both keep children", fix="give one"
    ),
    "spawn-run-without-command": usage("spawn", "--run", problem="'--run' requires an argument"),
    "spawn-unknown-option": usage("spawn", "--bogus", problem="no such option '--bogus'"),
    "spawn-extra-argument": usage("spawn", "extra", problem="unexpected extra argument"),
    # -- verify-flags ----------------------------------------------------------------
    "verify-unknown-flag": usage(
        "verify-flags", "VMM", problem="no experiment for flag 'VMM'", fix="choose from VM"
    ),
    "verify-empty-flag": usage(
        "verify-flags", "", problem="no experiment for flag ''", fix="choose from"
    ),
    "verify-flag-set-as-one": usage(
        "verify-flags", "THREAD,VM", problem="'THREAD,VM'", fix="choose from"
    ),
    "verify-duplicate-flag": usage(
        "verify-flags", "VM", "clone_vm", problem="given twice", fix="name each flag once"
    ),
    "verify-invalid-with-flag": usage(
        "verify-flags", "--invalid", "VM", problem="own set", fix="give no FLAG"
    ),
    "verify-invalid-with-explain": usage(
        "verify-flags", "--invalid", "--explain", problem="runs none", fix="give one of them"
    ),
    "verify-bad-format": usage("verify-flags", "--format", "xml", problem="'xml' is not one of"),
    "verify-unknown-option": usage("verify-flags", "--bogus", problem="no such option"),
    # -- verify-threads ---------------------------------------------------------------
    "threads-unknown-fact": usage(
        "verify-threads", "execs", problem="no fact 'execs'", fix="choose from credentials"
    ),
    "threads-duplicate-fact": usage(
        "verify-threads", "exec", "EXEC", problem="given twice", fix="name each fact once"
    ),
    "threads-bad-format": usage("verify-threads", "--format", "xml", problem="'xml' is not one of"),
    "threads-unknown-option": usage("verify-threads", "--bogus", problem="no such option"),
    # -- bench-spawn ---------------------------------------------------------------
    "bench-count-zero": usage("bench-spawn", "-n", "0", problem="0 is not in the range"),
    "bench-bad-pattern": usage("bench-spawn", "--pattern", "x", problem="'x' is not one of"),
    # -- watch (the refused subscription is in test_watch.py) ------------------------
    "watch-both-kinds": usage(
        "watch", "--threads-only", "--processes-only", problem="exclude each other", fix="give one"
    ),
    "watch-duration-zero": usage(
        "watch", "--duration", "0", problem="'0' is not a number of seconds", fix="--duration 10"
    ),
    "watch-duration-nan": usage(
        "watch", "--duration", "nan", problem="is not a number of seconds", fix="--duration 10"
    ),
    "watch-duration-exponent": usage(
        "watch", "--duration", "1e3", problem="is not a number of seconds", fix="--duration 10"
    ),
    "watch-duration-arabic-digit": usage(
        "watch", "--duration", "\u0663", problem="is not a number of seconds", fix="--duration 10"
    ),
    "watch-duration-too-long": usage(
        "watch", "--duration", "2000000000", problem="at most 1000000000", fix="--duration 10"
    ),
    "watch-count-zero": usage("watch", "--count", "0", problem="0 is not in the range"),
    "watch-count-arabic-digit": usage(
        "watch", "--count", "\u0661", problem="is not a valid integer"
    ),
    "watch-pid-zero": usage("watch", "--pid", "0", problem="0 is not in the range"),
    "watch-pid-not-numeric": usage("watch", "--pid", "abc", problem="'abc' is not a valid integer"),
    "watch-bad-format": usage("watch", "--format", "xml", problem="'xml' is not one of"),
    "watch-extra-argument": usage("watch", "1", problem="unexpected extra argument"),
    "watch-poll-zero": usage(
        "watch", "--poll", "0", problem="--poll '0' is not a number of seconds", fix="--poll 0.5"
    ),
    "watch-poll-text": usage(
        "watch", "--poll", "fast", problem="is not a number of seconds", fix="--poll 0.5"
    ),
    "watch-run-empty": usage("watch", "--run", " ", problem="--run needs a command", fix="--run '"),
    "watch-run-and-poll": usage(
        "watch", "--run", "true", "--poll", problem="two ways to watch", fix="give one of them"
    ),
    # -- top -----------------------------------------------------------------------------
    "top-delay-zero": usage("top", "-b", "-d", "0", problem="-d '0' is not a number", fix="-d 2"),
    "top-delay-negative": usage(
        "top", "-b", "-d", "-1", problem="-d '-1' is not a number of seconds", fix="-d 0.5"
    ),
    "top-delay-text": usage("top", "-b", "-d", "fast", problem="is not a number", fix="-d 2"),
    "top-delay-nan": usage("top", "-b", "-d", "nan", problem="is not a number", fix="-d 2"),
    "top-delay-arabic-digit": usage(
        "top", "-b", "-d", "\u0663", problem="is not a number", fix="-d 2"
    ),
    "top-delay-too-long": usage(
        "top", "-b", "-d", "2000000000", problem="is too long", fix="at most 1000000000"
    ),
    "top-count-zero": usage("top", "-b", "-n", "0", problem="0 is not in the range"),
    "top-count-text": usage("top", "-b", "-n", "many", problem="'many' is not a valid integer"),
    "top-pid-not-numeric": usage("top", "-b", "-p", "abc", problem="-p 'abc'", fix="-p 1,42"),
    "top-pid-zero": usage("top", "-b", "-p", "0", problem="-p '0'", fix="-p 1,42"),
    "top-pid-improper-list": usage("top", "-b", "-p", "1,", problem="improper list", fix="-p 1"),
    "top-tid-huge": usage(
        "top", "-b", "--tid", "2147483648", problem="out of range", fix="--tid 1,42"
    ),
    "top-unknown-user": usage(
        "top", "-b", "-u", "no-such-user", problem="no user is named", fix="numeric user ID"
    ),
    "top-empty-command": usage("top", "-b", "-C", "", problem="-C '' is not a list", fix="-C"),
    "top-bad-sort": usage("top", "-b", "--sort", "bogus", problem="'bogus' is not one of"),
    "top-bad-format": usage("top", "--format", "xml", problem="'xml' is not one of"),
    "top-extra-argument": usage("top", "-b", "1", problem="unexpected extra argument"),
    "top-live-without-terminal": Case(
        ("top",), EXIT_USAGE, "the live view needs a terminal", "give -b for plain frames"
    ),
    "top-pid-missing": Case(
        ("top", "-b", "-p", "999999999"), EXIT_FAILURE, "no process 999999999", "tidscope ps -AT"
    ),
    "top-tid-missing": Case(
        ("top", "-b", "--tid", "999999999"),
        EXIT_FAILURE,
        "no thread 999999999",
        "tidscope ps -AT",
    ),
    "top-root-missing": Case(
        ("top", "-b", "--proc-root", "/nonexistent"),
        EXIT_FAILURE,
        "cannot list",
        "point --proc-root",
    ),
    "top-root-not-proc": Case(
        ("top", "-b", "--proc-root", "/etc"),
        EXIT_FAILURE,
        "no processes are visible",
        "--proc-root",
    ),
}


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """What the placeholders stand for: a held raw thread and its process,
    a directory nobody may read, a regular file."""
    closed = tmp_path_factory.mktemp("closed")
    os.chmod(closed, 0o700)  # root's: nobody may not list it
    (closed / "1").mkdir()
    file = tmp_path_factory.mktemp("file") / "proc"
    file.write_text("not a directory\n")
    with held(["t1"]) as info:
        yield {
            "pid": str(info["pid"]),
            "tid": str(info["tids"][0]),
            "closed": str(closed),
            "file": str(file),
        }


def _fill(text: str, places: dict[str, str]) -> str:
    return text.format(**places) if "{" in text else text


def _cases() -> list[Any]:
    """Each case, marked with what it needs: root to run as nobody, procps
    4.0.2 for the header it prints."""
    return [
        pytest.param(
            case,
            id=name,
            marks=[
                *([pytest.mark.root] if case.user else []),
                *([pytest.mark.procps] if case.procps is not None else []),
            ],
        )
        for name, case in CASES.items()
    ]


@pytest.mark.parametrize("case", _cases())
def test_bad_input(
    case: Case, places: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each run gets a TMPDIR of its own, which must stay empty: other runs
    on this machine (benchmarks, a second suite) cannot make it look dirty."""
    args = [_fill(a, places) for a in case.args]
    tag = uuid.uuid4().hex
    tmp = tmp_path_factory.mktemp("tmpdir")
    tmp.chmod(0o1777)  # nobody's runs write there too
    before = own_children()
    proc = tidscope(*args, user=case.user, env={TAG: tag, "TMPDIR": str(tmp)}, timeout=30)
    assert proc.returncode == case.code, (proc.stdout, proc.stderr)
    line = one_error_line(proc)
    where = f"tidscope {args[0]}" if args and args[0] in COMMANDS else "tidscope"
    assert line.startswith(f"{where}: "), line
    assert _fill(case.problem, places) in line
    assert _fill(case.fix, places) in line
    if case.procps is None:
        assert proc.stdout == ""
    else:
        procps = run(["ps", *(_fill(a, places) for a in case.procps)])
        assert procps.returncode == case.code and procps.stdout.count("\n") == 1
        assert proc.stdout == procps.stdout
    assert tagged(tag) == [], "a child of the run is still there"
    assert own_children() == before
    assert list(tmp.iterdir()) == []


def test_the_table_covers_every_command() -> None:
    assert len(CASES) >= 40
    assert {c.args[0] for c in CASES.values() if c.args} >= set(COMMANDS)


# -- closed standard output ------------------------------------------------------

CLOSED: dict[str, tuple[str, ...]] = {
    "ps": ("ps", "-AT"),
    "ps-json": ("ps", "-AT", "--format", "json"),
    "tree": ("tree",),
    "tree-json": ("tree", "--format", "json"),
    "spawn": ("spawn", "-n", "50"),
    "spawn-process-table": ("spawn", "-n", "50", "--flags", "process", "--format", "table"),
    "spawn-run": ("spawn", "-n", "50", "--run", "sleep 30"),
    "verify-flags": ("verify-flags", "VM"),
    "verify-flags-invalid": ("verify-flags", "--invalid", "--format", "csv"),
    "verify-threads": ("verify-threads", "thread-signal"),
    "bench-spawn": ("bench-spawn", "-n", "10", "--repeat", "1", "--pattern", "batch"),
    "watch": ("watch", "--duration", "0.5"),
    "watch-run": ("watch", "--run", "sleep 30"),
    "top": ("top", "-b", "-n", "1", "-d", "0.1"),
    "top-json": ("top", "-n", "1", "-d", "0.1", "--format", "json"),
    "top-csv": ("top", "-n", "1", "-d", "0.1", "--format", "csv"),
    "help": ("--help",),
    "version": ("--version",),
}


def _run_into(stdout: Any, args: tuple[str, ...], tag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tidscope", *args],
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        env={**os.environ, TAG: tag},
        cwd="/",
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        # without the connector, watch polls and says so on stderr first
        pytest.param(args, id=name, marks=[pytest.mark.net_admin] if name == "watch" else [])
        for name, args in CLOSED.items()
    ],
)
def test_a_reader_that_went_away_ends_the_command_quietly(args: tuple[str, ...]) -> None:
    """A pipe whose reader is gone before the first write: EPIPE at once."""
    tag = uuid.uuid4().hex
    before = own_children()
    rfd, wfd = os.pipe()
    os.close(rfd)
    try:
        proc = _run_into(wfd, args, tag)
    finally:
        os.close(wfd)
    assert (proc.returncode, proc.stderr) == (EXIT_SIGPIPE, "")
    assert tagged(tag) == [] and own_children() == before


@pytest.mark.parametrize("args", CLOSED.values(), ids=CLOSED.keys())
def test_a_closed_stdout_is_one_line(args: tuple[str, ...]) -> None:
    """``>&-``: there is no standard output at all."""
    tag = uuid.uuid4().hex
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", sys.executable, "-m", "tidscope", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, TAG: tag},
        cwd="/",
        check=False,
    )
    assert proc.returncode == EXIT_FAILURE
    assert "standard output is closed" in one_error_line(proc)
    assert tagged(tag) == []


def test_head_1_in_a_pipeline(tmp_path: Path) -> None:
    """The literal pipeline: head prints the header, tidscope says nothing
    (whether it wrote before or after head left is up to the scheduler)."""
    err = tmp_path / "stderr"
    cmd = f'{sys.executable} -m tidscope ps -AT 2>{err} | head -1; echo "${{PIPESTATUS[0]}}"'
    proc = run(["bash", "-c", cmd])
    head, status = proc.stdout.splitlines()
    assert head.split() == ["PID", "SPID", "TTY", "TIME", "CMD"]
    assert int(status) in (EXIT_OK, EXIT_SIGPIPE)
    assert err.read_text() == ""
