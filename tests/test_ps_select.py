"""``tidscope ps`` selections, numbers and keys: procps's rules where it has
one (checked against the installed ps), else one line naming the problem and
the fix, exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import one_error_line, run, tidscope
from test_text import held_names

from tidscope.proc.task import ID_MAX


@pytest.fixture(scope="module")
def holder() -> Iterator[dict[str, Any]]:
    with held_names([b"t1", b"t2"], [[b"x" * 300]]) as info:
        yield info


def same(*args: str, env: dict[str, str] | None = None) -> str:
    """``tidscope ps ARGS`` prints what procps ``ps ARGS`` prints, same status."""
    ours, theirs = tidscope("ps", *args, env=env), run(["ps", *args], env=env)
    assert ours.stdout == theirs.stdout, f"\n{ours.stdout}---\n{theirs.stdout}{ours.stderr}"
    assert ours.returncode == theirs.returncode, ours.stderr
    return ours.stdout


# -- numbers -----------------------------------------------------------------------


@pytest.mark.procps
@pytest.mark.parametrize("value", ["+1", "0x1", "1 2", "1\t2", "1,+2", "010", "0x7fffffff"])
def test_ids_are_read_as_procps_reads_them(value: str) -> None:
    """strtol with base 0: a sign, 0x hex, 0 octal (``010`` is pid 8)."""
    same("-o", "pid,ppid", "-p", value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (" 1", "improper list"),
        ("1 ", "improper list"),
        ("1,,2", "improper list"),
        (",1", "improper list"),
        ("1,", "improper list"),
        ("\u00b2", "is not a number"),
        ("\u0663", "is not a number"),
        ("1x", "is not a number"),
        ("08", "is not a number"),
        ("0x", "is not a number"),
        ("+", "is not a number"),
        ("- 1", "is not a number"),
        ("-1", "out of range"),
        ("0", "out of range"),
        ("-0", "out of range"),
        ("00", "out of range"),
        ("2147483648", "out of range"),
        ("99999999999999999999", "out of range"),
    ],
)
def test_ids_procps_refuses_are_one_line_and_exit_2(value: str, why: str) -> None:
    theirs = run(["ps", "-p", value])
    assert theirs.returncode != 0 and theirs.stdout == ""  # procps refuses them too
    for option in ("-p", "--pid", "--tid"):
        for args in ([option, value], [f"{option}={value}"] if option != "-p" else [f"-p{value}"]):
            proc = tidscope("ps", *args)
            assert (proc.returncode, proc.stdout) == (2, ""), args
            line = one_error_line(proc)
            shown = "--tid" if option == "--tid" else "-p"  # --pid is -p
            assert why in line and f"give e.g. {shown} 1,42" in line, line
            assert f"{shown} {value!r} is not a list of ids" in line, line


def test_an_empty_id_list_names_the_fix() -> None:
    proc = tidscope("ps", "-p", "")
    assert proc.returncode == 2 and "-p needs at least one id, e.g. -p 1" in one_error_line(proc)


@pytest.mark.procps
@pytest.mark.parametrize("spec", ["pid:4294967297", "pid:99999999999", "pid:2147483647"])
def test_widths_wrap_as_procps_reads_them(spec: str) -> None:
    """procps reads a width with atoi into an int: 2^32+1 is 1."""
    same("-o", spec, "-p", "1")


@pytest.mark.procps
@pytest.mark.parametrize(
    "spec",
    ["pid:\u00b2", "pid:+3", "pid:010", "pid:0x5", "pid:-3", "pid:3x", "pid:", "pid:0", "pid:00",
     "pid:\u0663", "pid:2147483648", "pid:4294967296", "pid:18446744073709551617"],
)  # fmt: skip
def test_widths_procps_refuses_are_one_line_and_exit_2(spec: str) -> None:
    theirs = run(["ps", "-o", spec, "-p", "1"])
    assert theirs.returncode != 0 and "column widths must be" in theirs.stderr
    proc = tidscope("ps", "-o", spec, "-p", "1")
    assert (proc.returncode, proc.stdout) == (2, "")
    line = one_error_line(proc)
    assert "column width" in line and ("pid:8" in line or "give 1 to" in line), line


@pytest.mark.procps
@pytest.mark.parametrize("spec", ["PID,COMM", "Pid", "pid,Comm"])
def test_column_names_are_lower_case_as_in_procps(spec: str) -> None:
    theirs = run(["ps", "-o", spec, "-p", "1"])
    assert theirs.returncode != 0 and "unknown user-defined format specifier" in theirs.stderr
    proc = tidscope("ps", "-o", spec, "-p", "1")
    assert proc.returncode == 2 and "column names are lower case" in one_error_line(proc)


@pytest.mark.procps
@pytest.mark.parametrize(
    "columns", ["20", "0x14", "024", "+20", " 20", "\t20", "20 ", "\u00b2", "-20", "0", "abc", ""]
)
def test_COLUMNS_is_read_as_procps_reads_it(holder: dict[str, Any], columns: str) -> None:
    same("-o", "pid,args", "-p", str(holder["kids"][0]), env={"COLUMNS": columns})


# -- selections --------------------------------------------------------------------


def _pids(out: str) -> set[int]:
    return {int(line.split()[0]) for line in out.splitlines()[1:]}


@pytest.mark.parametrize(
    "args",
    [["-A", "-p", "{pid}"], ["-e", "-p", "{pid}"], ["-AT", "-p", "{pid}"], ["-L", "-e", "-p", "1"]],
)
def test_A_with_p_is_everything_as_in_procps(holder: dict[str, Any], args: list[str]) -> None:
    args = [a.format(pid=holder["pid"]) for a in args]
    ours, theirs = tidscope("ps", *args, "-o", "pid,tid"), run(["ps", *args, "-o", "pid,tid"])
    assert ours.returncode == theirs.returncode == 0
    for out in (ours.stdout, theirs.stdout):
        assert {1, 2, holder["pid"], *holder["kids"]} <= _pids(out)
    if "T" in "".join(args) or "-L" in args:
        tids = {int(line.split()[1]) for line in ours.stdout.splitlines()[1:]}
        assert set(holder["tids"]) <= tids


def test_A_with_unknown_ids_lists_everything_and_succeeds() -> None:
    assert run(["ps", "-A", "-p", "999999999", "-o", "pid"]).returncode == 0
    proc = tidscope("ps", "-A", "-p", "999999999", "-o", "pid")
    assert proc.returncode == 0 and {1, 2} <= _pids(proc.stdout) and proc.stderr == ""


def test_A_with_tid_lists_every_thread(holder: dict[str, Any]) -> None:
    proc = tidscope("ps", "-A", "--tid", str(holder["tids"][0]), "-o", "pid,tid")
    assert proc.returncode == 0
    tids = {int(line.split()[1]) for line in proc.stdout.splitlines()[1:]}
    assert {1, holder["pid"], *holder["tids"], *holder["kids"]} <= tids


# -- JSON and CSV keys -------------------------------------------------------------


@pytest.mark.procps
@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("s,state", "-o s and state are the same column (JSON/CSV key 'state')"),
        ("pid,pid", "-o pid is given twice (JSON/CSV key 'pid')"),
        ("tid,spid,lwp", "-o tid and spid are the same column (JSON/CSV key 'tid')"),
        ("comm,ucmd", "-o comm and ucmd are the same column (JSON/CSV key 'comm')"),
        ("uid,euid", "-o uid and euid are the same column (JSON/CSV key 'uid')"),
    ],
)
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_key_asked_for_twice_is_a_usage_error(spec: str, problem: str, fmt: str) -> None:
    proc = tidscope("ps", "-o", spec, "-p", "1", "--format", fmt)
    assert (proc.returncode, proc.stdout) == (2, "")
    line = one_error_line(proc)
    assert problem in line and "give it once" in line
    same("-o", spec, "-p", "1")  # the table is procps's


def documented_keys(page: str) -> dict[str, str]:
    """Each column name in a table of tidscope-ps(1)'s COLUMNS, with its key
    (a row of several names and as many keys pairs them in order); a name
    the tables leave out, such as procps's ``-`` columns, must be in the
    section's text and is its own key, as the page says."""
    section = page.split(".Ss COLUMNS", 1)[1].split(".Ss JSON AND CSV", 1)[0]
    documented: dict[str, str] = {}
    for row in section.splitlines():
        if row.startswith(".It Cm "):
            names, _, keys, _ = row[len(".It Cm ") :].split(" Ta ")
            name_list = [n.strip() for n in names.split(" , ")]
            key_list = [k.strip() for k in keys.split(" , ")]
            if len(key_list) == 1:
                key_list *= len(name_list)
            documented.update(zip(name_list, key_list, strict=True))
    from tidscope.ps.columns import SPECS

    words = {w for line in section.splitlines() if line.startswith(".Cm ") for w in line.split()}
    for name in SPECS.keys() - documented.keys():
        assert name in words, f"{name} is not in tidscope-ps(1)'s COLUMNS"
        documented[name] = name
    return documented


@pytest.mark.slow
def test_every_column_has_its_documented_key() -> None:
    with open("man/tidscope-ps.1") as f:
        documented = documented_keys(f.read())
    from tidscope.ps.columns import SPECS

    assert documented == {name: spec[0] for name, spec in SPECS.items()}
    proc = tidscope("ps", "-o", ",".join(SPECS), "-p", "1", "--format", "table")
    assert proc.returncode == 0
    keys = set()
    for name in SPECS:
        row = json.loads(tidscope("ps", "-o", name, "-p", "1", "--format", "json").stdout)
        keys |= set(row[0])
        assert list(row[0]) == [documented[name]]
    assert len(keys) == len(set(documented.values()))


# -- where errors go ------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["-p", "abc"], ["-p", "\u00b2"], ["--bogus"], ["-p"], ["-o", "PID"], ["-p-1"]]
)
def test_with_stderr_closed_errors_never_reach_stdout(args: list[str]) -> None:
    proc = subprocess.run(
        ["sh", "-c", 'exec "$@" 2>&-', "sh", sys.executable, "-m", "tidscope", "ps", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", "")


@pytest.mark.parametrize("value", ["+1", " 1", "\u00b2", "1,,2", "010", "-1", "0x1"])
def test_fast_path_and_click_agree(value: str) -> None:
    """``-p VALUE`` (fast path, when VALUE does not start with -) and
    ``-pVALUE`` (click) give the same output, status and message."""
    fast, slow = tidscope("ps", "-p", value, "-o", "pid"), tidscope("ps", f"-p{value}", "-o", "pid")
    assert (fast.returncode, fast.stdout, fast.stderr) == (
        slow.returncode,
        slow.stdout,
        slow.stderr,
    )


@pytest.mark.procps
def test_ids_top_out_at_pid_t() -> None:
    same("-p", str(ID_MAX), "-o", "pid")
