"""Order and shape of the listing: ``--sort`` and ``k``, ``--forest``, ``-H``
and BSD ``f``, ``--headers``, ``-w``/``-ww``; compared with the installed
procps ``ps`` on held raw processes and on the whole machine."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import holding, one_error_line, tidscope
from pscompare import same, same_rows
from test_ps import held

from tidscope.proc import snapshot, task
from tidscope.ps import forest


@pytest.fixture(scope="module")
def family() -> Iterator[dict[str, Any]]:
    """A process with two threads, two raw child processes and a sleep child."""
    with held(["t1", "t2"], kids=["kid) one", "kid two"], sleep=True) as info:
        yield info


@pytest.mark.procps
@pytest.mark.parametrize(
    "sort",
    ["pid", "-pid", "+ppid,-pid", "comm", "-comm,pid", "tty,stat,-pid", "uid,-start_time",
     "-time", "args", "user,comm", "nlwp,-pid", "-rss,pid", "pgid,sid,pid", "-vsz", "ni,pri",
     "cls,pid", "-policy", "psr,pid", "f,-pid", "-etime,pid", "lstart", "pending,pid",
     "wchan,pid", "group,tname", "s,-pmem", "-c,pid"],
)  # fmt: skip
def test_sort_orders_the_whole_machine_as_procps(sort: str) -> None:
    """The keys are shown too: a row procps printed the same twice then had
    the same keys (compared at the resolution they are shown in)."""
    keys = [k.lstrip("+-") for k in sort.split(",")]
    # a command line is shown whole, last and unlimited (-ww): cut to its
    # column it could change between the runs (a child between fork and
    # exec) and still print the same, and be taken for a stable row
    text = [k for k in keys if k in ("args", "cmd", "command")]
    wide = ["-ww"] if text else []
    rest = [k for k in keys if k not in text]
    shown = ",".join(dict.fromkeys(["pid", "ppid", "tty", "stat", *rest, "comm", *text]))
    same_rows("-e", *wide, "-o", shown, "--sort", sort)
    same_rows("-e", *wide, "-o", f"pid,{','.join(dict.fromkeys(keys))}", f"--sort={sort}")


@pytest.mark.procps
@pytest.mark.parametrize("args", [["ax", "k-pid"], ["axkcomm"], ["aux", "k", "-pcpu,pid"]])
def test_bsd_k_sorts(args: list[str]) -> None:
    same_rows(*args)


@pytest.mark.procps
@pytest.mark.slow
def test_sort_of_held_processes(family: dict[str, Any]) -> None:
    pids = ",".join(map(str, [family["pid"], *family["kids"], family["sleep"]]))
    same("-o", "pid,ppid,comm", "--sort=-comm", "-p", pids)
    same("-f", "--sort", "-pid", "-p", pids)
    same("u", "--sort=comm", "-p", pids)


@pytest.mark.procps
@pytest.mark.parametrize(
    "args",
    [["-e", "--forest", "-o", "pid,ppid,comm"], ["-ef", "--forest"], ["-eH"], ["-eHf"],
     ["axjf"], ["auxf"], ["-e", "--forest", "-o", "comm,pid,args"],
     ["-e", "--forest", "--sort=-pid", "-o", "pid,ppid,args"],
     ["-e", "-H", "--sort=comm", "-o", "pid,ppid,ucmd"]],
)  # fmt: skip
def test_forest_draws_the_whole_machine_as_procps(args: list[str]) -> None:
    same_rows(*args)


@pytest.mark.procps
def test_forest_of_held_processes(family: dict[str, Any]) -> None:
    """Children under their parent: `` \\_ `` before the last ones."""
    sel = ["--ppid", str(family["pid"]), "-p", str(family["pid"])]
    out = same("-o", "pid,ppid,args", "--forest", *sel)
    rows = out.splitlines()[1:]
    assert len(rows) == 4 and all(" \\_ " in r for r in rows[1:]), out
    same("-o", "pid,comm", "-H", *sel)
    same("fj", *sel)


# The holder, a child subreaper, forks Q; Q forks X1, and later X2 and M,
# which forks Y and exits: Y, the holder's child now, starts in X2's clock
# tick with a higher pid.  X1, X2 and Y run sleep.  The holder tries again
# while X2 and Y started in different ticks, prints their pids, and at the
# end of its stdin kills and reaps them all.
TWIN_TICKS = """
    import json, os, signal, sys, time
    from tidscope.core.syscalls import syscall
    from tidscope.proc import snapshot
    syscall("prctl", 36, 1)  # PR_SET_CHILD_SUBREAPER

    def sleeper():
        pid = os.fork()
        if pid == 0:
            os.execvp("sleep", ["sleep", "300"])
        return pid

    def q_forks(w):
        x1 = sleeper()
        time.sleep(0.03)
        x2 = sleeper()
        r, w2 = os.pipe()
        m = os.fork()
        if m == 0:
            os.write(w2, str(sleeper()).encode())
            os._exit(0)
        os.close(w2)
        os.waitpid(m, 0)  # Y is the holder's child now
        os.write(w, f"{x1} {x2} {int(os.read(r, 64))}".encode())
        signal.pause()

    def end(q, kids):
        for pid in (*kids, q):
            os.kill(pid, signal.SIGKILL)
        for pid in (q, *kids):  # X1 and X2 are the holder's once Q is reaped
            os.waitpid(pid, 0)

    seen = []
    for _ in range(100):
        r, w = os.pipe()
        q = os.fork()
        if q == 0:
            q_forks(w)
        kids = list(map(int, os.read(r, 64).split()))
        os.close(r), os.close(w)
        while any(snapshot.process(p).name != "sleep" for p in kids):
            time.sleep(0.001)
        ticks = [snapshot.process(p).start_ticks for p in kids]
        if ticks[0] < ticks[1] == ticks[2] and kids[1] < kids[2]:
            print(json.dumps({"pids": [os.getpid(), q, *kids]}), flush=True)
            sys.stdin.read()
            end(q, kids)
            sys.exit(0)
        seen.append(ticks)
        end(q, kids)
    print(json.dumps({"no tie": seen}), flush=True)
    sys.stdin.read()
"""


@pytest.fixture(scope="module")
def twins() -> Iterator[list[int]]:
    """Under a holder: Q with sleep children X1 and X2, and the holder's own
    sleep child Y, started in X2's clock tick with a higher pid; yields
    [holder, Q, X1, X2, Y]."""
    with holding(TWIN_TICKS, start_new_session=True) as info:
        assert "pids" in info, f"X2 and Y never started in one clock tick: {info}"
        yield info["pids"]


@pytest.mark.procps
@pytest.mark.parametrize("tree", ["-H", "--forest"])
def test_forest_with_a_sort_interleaves_ties_by_pid(twins: list[int], tree: str) -> None:
    """With --sort, procps orders by the keys, then start time, then pid
    (not parent), and draws only the children that sort next to their
    first.  Sorted by name: the holder, Q (both python), X1, X2, Y (sleep);
    X2 and Y tie on start too and go by pid.  So X2 is drawn under Q after
    X1, and Y is not drawn: X1 sorts between Q and Y, the holder's two."""
    holder, q, x1, x2, _y = twins
    pids = ",".join(map(str, twins))
    out = same(tree, "--sort=comm", "-o", "pid,ppid,comm", "-p", pids)
    drawn = [int(row.split()[0]) for row in out.splitlines()[1:]]
    assert drawn == [holder, q, x1, x2], out


@pytest.fixture(scope="module")
def chain() -> Iterator[int]:
    """Seven shells, each the parent of the next, the last one's child a
    sleep: a session of its own; yields its ID."""
    command = "sleep 300"
    for _ in range(7):
        command = f"sh -c {shlex.quote(command)}"
    proc = subprocess.Popen(["setsid", *shlex.split(command)], stdin=subprocess.DEVNULL)
    try:
        for _ in range(500):
            if any(
                t.name == "sleep" and t.field(6) == str(proc.pid).encode()
                for t in snapshot.processes()
            ):
                break
            time.sleep(0.01)
        yield proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(60)


@pytest.mark.procps
@pytest.mark.parametrize("cols", ["", "30", "41", "42", "43", "44", "57"])
@pytest.mark.parametrize(
    "columns", ["pid,ppid,args", "comm,pid", "ucmd:9,pid,tty", "fname,pid", "pid,cmd:21,comm"]
)
def test_a_deep_tree_in_narrow_columns(chain: int, columns: str, cols: str) -> None:
    """Whole levels while they fit, then the text in what room is left."""
    env = {"COLUMNS": cols}
    same("-s", str(chain), "--forest", "-o", columns, env=env)
    same("-s", str(chain), "-H", "-o", columns, env=env)


@pytest.mark.procps
def test_forest_as_an_unprivileged_user() -> None:
    user = os.geteuid() == 0  # root drops to nobody; others are unprivileged already
    same_rows("-ef", "--forest", user=user)
    same_rows("axjf", user=user)


def test_a_deep_chain_draws_without_recursion() -> None:
    """A chain deeper than Python's recursion limit draws as procps would."""
    n = 3000
    tasks = [task.Task(i + 1, i + 1, i, f"p{i}", "S", 0, 0, i, 1) for i in range(n)]
    rows = list(forest.walk(tasks, forest.FOREST))
    assert [t.tid for t, _ in rows] == list(range(1, n + 1))
    # process 1 adopts: its child is drawn at its own level, then one deeper each
    assert rows[1][1] == "" and rows[2][1] == "L" and rows[-1][1] == " " * (n - 3) + "L"
    assert forest.draw(rows[3][1], forest.FOREST) == "     \\_ "


@pytest.mark.procps
@pytest.mark.parametrize("lines", ["10", "3", "1", "2", "1000", ""])
def test_headers_repeat_once_per_screen(lines: str) -> None:
    env = {"LINES": lines}
    same_rows("-e", "--headers", "-o", "pid,comm", env=env)
    same("--headers", "-p", "1,2", env=env)
    same("--headers", "-p", "999999999", env=env)
    same("--headers", "-o", "pid=,comm=", "-p", "1,2,3", env=env)  # empty headers print too


@pytest.mark.procps
@pytest.mark.parametrize("cols", ["40", "80", "131", "132", "200"])
@pytest.mark.parametrize("wide", ["-w", "-ww", "-www"])
def test_wide_output(cols: str, wide: str) -> None:
    """-w widens the screen to 132 columns, -ww makes it unlimited."""
    same("-o", "pid,args", wide, "-p", "1", env={"COLUMNS": cols})
    same("uw", "-p", "1", env={"COLUMNS": cols})


@pytest.mark.procps
def test_no_headers_forms() -> None:
    same("--no-headers", "-f", "-p", "1")
    same("h", "-p", "1")
    same("uh", "-p", "1")


def test_json_and_csv_keep_the_order(family: dict[str, Any]) -> None:
    pids = ",".join(map(str, [family["pid"], *family["kids"]]))
    args = ["-o", "pid,comm", "--sort=-pid", "-p", pids]
    rows = json.loads(tidscope("ps", *args, "--format", "json").stdout)
    assert [r["pid"] for r in rows] == sorted([family["pid"], *family["kids"]], reverse=True)
    tree = json.loads(
        tidscope("ps", "-o", "pid,ppid,comm", "--forest", "--format", "json", "-p", pids).stdout
    )
    assert [r["pid"] for r in tree] == [family["pid"], *family["kids"]]
    assert [r["comm"] for r in tree[1:]] == ["kid) one", "kid two"]  # the text, no drawing
    csv = tidscope("ps", *args, "--format", "csv", "--headers").stdout.splitlines()
    assert csv[0] == "pid,comm" and len(csv) == 4


def test_threads_sort_as_threads(family: dict[str, Any]) -> None:
    """procps 4.0.2 drops the threads when -L/-T meets --sort; tidscope
    sorts them (a deliberate difference, see tidscope-ps(1))."""
    pid = str(family["pid"])
    plain = tidscope("ps", "-T", "-o", "tid,comm", "-p", pid).stdout.splitlines()[1:]
    out = tidscope("ps", "-T", "-o", "tid,comm", "--sort=-tid", "-p", pid).stdout.splitlines()[1:]
    assert len(plain) == 3 and out == sorted(plain, key=lambda r: -int(r.split()[0]))


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--sort", "bogus"], "unknown sort key 'bogus' in --sort"),
        (["--sort", "PID"], "column names are lower case: pid"),
        (["--sort", "pid,,comm"], "is not a sort list"),
        (["--sort", ",pid"], "is not a sort list"),
        (["--sort", "pid", "--sort", "comm"], "--sort is given 2 times"),
        (["ax", "k"], "BSD k in 'k' needs a list after it"),
        (["axkpid", "--sort", "comm"], "--sort and BSD k both give the order"),
        (["-H", "--forest"], "-H and --forest both draw the tree"),
        (["-eL", "--forest"], "--forest draws processes and -L lists threads"),
        (["axHf"], "--forest draws processes and BSD H lists threads"),
        (["-T", "-H"], "-H draws processes and -T lists threads"),
        (["--headers", "--no-headers"], "--headers and --no-headers contradict"),
        (["h", "--headers"], "--headers and BSD h contradict"),
        (["hh"], "BSD h is given twice"),
    ],
)
def test_order_conflicts_are_one_line_and_exit_2(args: list[str], problem: str) -> None:
    proc = tidscope("ps", *args)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert problem in one_error_line(proc)


def _locales() -> list[str]:
    import subprocess as sp

    found = sp.run(["locale", "-a"], capture_output=True, text=True, check=False).stdout.split()
    return [name for name in ("C", "C.utf8", "en_US.iso88591", "en_US.utf8") if name in found]


@pytest.mark.procps
@pytest.mark.parametrize("locale", [*_locales(), "no_SUCH.locale"])
def test_names_sort_as_the_locale_collates(locale: str) -> None:
    """procps compares text with strcoll: byte order in C, the locale's
    collation elsewhere (case and punctuation weigh less in en_US)."""
    env = {"LC_ALL": locale}
    with held([], kids=["Zed", "alpha", "_mid", "Beta", "beta", "a-b", "ab"]) as info:
        same("-o", "pid,comm", "--sort=comm", "--ppid", str(info["pid"]), env=env)
        same("-o", "pid,args", "--sort=-args,pid", "--ppid", str(info["pid"]), env=env)
    same_rows("-e", "-o", "pid,comm,user,tty", "--sort=comm,pid", env=env)


@pytest.mark.procps
@pytest.mark.parametrize("wide", ["", "-w", "-ww", "w"])
def test_width_and_height_on_a_terminal(wide: str) -> None:
    """On a terminal the screen is the terminal's: -w widens it to 132,
    -ww unlimits it; --headers repeats the header every height - 1 rows."""
    import sys

    from helpers import run

    for args in (f"{wide} -o pid,user,args -p 1,2", f"{wide} --headers -o pid,comm -p 1,2,3,4,5"):
        cmd = f"stty rows 3 cols 80; ps {args}; {sys.executable} -m tidscope ps {args}"
        proc = run(["script", "-qc", cmd, "/dev/null"], env={"COLUMNS": "", "LINES": ""})
        lines = proc.stdout.splitlines()
        half = len(lines) // 2
        assert len(lines) % 2 == 0 and lines[:half] == lines[half:], proc.stdout


def test_strverscmp_orders_as_glibcs() -> None:
    """The version order terminal names sort by is the C library's
    strverscmp, on every pair of strings of up to four bytes of 0, 1, 9, a
    and / (runs of digits, leading zeros, one string ending inside a run)."""
    import ctypes
    import itertools

    from tidscope.ps.ttys import strverscmp

    libc = ctypes.CDLL(None)
    libc.strverscmp.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    texts = [bytes(t) for n in range(5) for t in itertools.product(b"019a/", repeat=n)]
    texts += [b"pts/9", b"pts/10", b"pts/010", b"tty1", b"tty01", b"ttyS0", b"?", b"pts/100"]

    def sign(n: int) -> int:
        return (n > 0) - (n < 0)

    wrong = [
        (a, b)
        for a, b in itertools.product(texts, repeat=2)
        if sign(strverscmp(a, b)) != sign(libc.strverscmp(a, b))
    ]
    assert not wrong, f"{len(wrong)} pairs, e.g. {wrong[:5]}"
