"""procps's output formats: ``-f``, ``-F``, ``-l``, ``-j``, ``-y``, ``-c``,
with ``-L``/``-T``, and the BSD forms (``ps aux``...), against the
installed ``ps`` on held raw threads and on the whole machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import one_error_line, tidscope
from pscompare import same, same_rows
from test_ps import held

from tidscope.ps import formats as psformats

UNIX = [
    "-f", "-F", "-l", "-j", "-lf", "-lF", "-ly", "-lyf", "-jf", "-jl", "-jF", "-jlf",
    "-c", "-cf", "-cl", "-cj",
    "-Lf", "-LF", "-Ll", "-Lj", "-Lly", "-Lc", "-Tf", "-TF", "-Tl", "-Tj", "-Tly",
]  # fmt: skip
BSD = ["u", "j", "l", "s", "v", "", "c", "uc", "jc"]


@pytest.fixture(scope="module")
def holder() -> Iterator[dict[str, Any]]:
    with held(kids=["kid) one", "kid two"]) as info:
        yield info


@pytest.mark.procps
@pytest.mark.parametrize("flags", UNIX)
def test_unix_formats_of_held_threads(holder: dict[str, Any], flags: str) -> None:
    pids = f"{holder['pid']},{','.join(map(str, holder['kids']))}"
    out = same(flags, "-p", pids)
    assert len(out.splitlines()) > 1 + len(holder["kids"])


@pytest.mark.procps
@pytest.mark.parametrize("letters", BSD)
def test_bsd_formats_of_held_threads(holder: dict[str, Any], letters: str) -> None:
    pid = str(holder["pid"])
    same(f"{letters}p", pid)
    same(letters or "w", "-p", pid)
    if letters in ("u", ""):
        same(letters or "w", "-L", "-p", pid)  # -L after BSD: LWP after PID, NLWP after %CPU
        same(letters or "w", "-T", "-p", pid)


@pytest.mark.procps
@pytest.mark.parametrize("flags", ["-ef", "-eF", "-el", "-ely", "-ej", "-ejf", "-elc"])
def test_unix_formats_of_the_whole_machine(flags: str) -> None:
    same_rows(flags)


@pytest.mark.procps
@pytest.mark.parametrize("flags", ["-eLf", "-eLF", "-efT", "-eLl", "-eTj"])
def test_thread_formats_of_the_whole_machine(flags: str) -> None:
    same_rows(flags)


@pytest.mark.procps
@pytest.mark.parametrize(
    "args", [["aux"], ["ax"], ["axu"], ["axj"], ["axl"], ["axv"], ["auxc"], ["-aux"], ["-axj"]]
)
def test_bsd_forms_of_the_whole_machine(args: list[str]) -> None:
    same_rows(*args)


@pytest.mark.procps
@pytest.mark.parametrize("args", [["axH"], ["ax", "-L"], ["aux", "-T"]])
def test_bsd_thread_forms_of_the_whole_machine(args: list[str]) -> None:
    same_rows(*args)


@pytest.mark.procps
@pytest.mark.parametrize("args", [["-ef"], ["-eLf"], ["aux"], ["-ely"], ["axjf"]])
def test_formats_as_an_unprivileged_user(args: list[str]) -> None:
    same_rows(*args, user=os.geteuid() == 0)  # root drops to nobody; others are unprivileged


def test_the_lists_are_procps_lists() -> None:
    """The column lists, as procps's generate_sysv_list makes them."""

    def names(**kw: Any) -> str:
        return ",".join(psformats.names(psformats.Style(**kw)))

    assert names(full=True, lwp=True) == "user=UID,pid,ppid,lwp,c,nlwp,stime,tname,time,cmd"
    assert names(extra=True) == "user=UID,pid,ppid,c,sz,rss,psr,stime,tname,time,cmd"
    assert names(long=True, rss=True) == "s,uid,pid,ppid,c,opri,ni,rss,sz,wchan,tname,time,ucmd"
    assert names(jobs=True, spid=True) == "pid,spid,pgid,sid,tname,time,ucmd"
    assert names(bsd=True) == "pid,tname,stat,bsdtime,args"
    assert names(bsd_format="u", lwp=True) == (
        "user,pid,lwp,pcpu,nlwp,pmem,vsz,rss,tname,stat,start_time,bsdtime,args"
    )


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["-ef", "-o", "pid"], "-o and -f both choose the columns"),
        (["-j", "-o", "pid"], "-j changes procps's own column lists"),
        (["aux", "-o", "pid"], "-o and u both choose the columns"),
        (["-y"], "-y only changes the -l format"),
        (["-fy"], "-y only changes the -l format"),
        (["-f", "u"], "BSD u and -f are two formats"),
        (["uj"], "BSD u and j are two formats"),
        (["axm"], "BSD m (in 'axm') is not supported by tidscope ps: threads after their process"),
        (["axms"], "BSD m (in 'axms') is not supported"),
        (["a-x"], "has a '-' inside BSD options"),
        (["ax?"], "is no BSD option tidscope ps knows"),
        (["uc", "-c"], "-c needs a PRI column, which BSD u lacks"),
    ],
)
def test_format_conflicts_are_one_line_and_exit_2(args: list[str], problem: str) -> None:
    proc = tidscope("ps", *args)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert problem in one_error_line(proc)


@pytest.mark.parametrize("args", [["-f"], ["-lF"], ["-jly"], ["-Lf"], ["u"], ["jf"], ["s"]])
@pytest.mark.parametrize(
    "user", [False, pytest.param(True, marks=pytest.mark.root)], ids=["root", "nobody"]
)
def test_json_and_csv_of_every_format(holder: dict[str, Any], args: list[str], user: bool) -> None:
    """The format's columns as typed values under their keys, a row per row."""
    import csv
    import io
    import json

    pid = holder["pid"]
    sel = ["--ppid", str(pid), "-p", str(pid)]
    table = tidscope("ps", *args, *sel, user=user)
    assert table.returncode == 0, table.stderr
    rows = json.loads(tidscope("ps", *args, *sel, "--format", "json", user=user).stdout)
    out = tidscope("ps", *args, *sel, "--format", "csv", user=user).stdout
    lines = list(csv.reader(io.StringIO(out)))
    assert len(rows) == len(table.stdout.splitlines()) - 1 == len(lines) - 1
    assert lines[0] == list(rows[0]) and len(set(rows[0])) == len(rows[0])
    assert {r["pid"] for r in rows} == {pid, *holder["kids"]}
