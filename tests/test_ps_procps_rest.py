"""The last differences from procps (issue 22), compared with the installed
procps ``ps`` on held tasks: ids of 2^31 and up, text sort keys as printed,
Unix ``-a``/``-d``/``-N`` on a terminal, ``$PS_FORMAT``; and two generated
walks, one over every column name ``ps L`` lists and one over every option
``ps --help all`` lists, each either compared byte for byte or one of the
deliberate differences tidscope-ps(1) lists, refused with a line saying so."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import holding, one_error_line, run, tidscope, wait_for
from pscompare import same, same_rows
from test_ps import held

from tidscope.proc import snapshot
from tidscope.proc.task import DEAD
from tidscope.ps.columns import TEST_COLUMNS

pytestmark = pytest.mark.procps

ODD = ["\x01ctlcomm", ".dot", "\u00fctf", "Zed", "alpha", "?q", "[br"]
HOLD = """
import json, os, sys
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def family() -> Iterator[dict[str, Any]]:
    """Threads with odd names, raw child processes with odd names, a sleep."""
    with held(["t) 1", "t2"], kids=ODD, sleep=True) as info:
        yield info


def _pids(info: dict[str, Any]) -> str:
    return ",".join(map(str, [info["pid"], *info["kids"], info["sleep"]]))


# -- 1. ids of 2^31 and up ----------------------------------------------------------


@pytest.mark.root
@pytest.mark.parametrize("uid", [4294967294, 2147483648])
def test_ids_of_2_31_and_up_print_signed_in_every_format(uid: int) -> None:
    """procps prints every id column as a C int: 4294967294 is -2."""
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--"]
    with holding(HOLD, prefix=prefix) as info:
        pid = str(info["pid"])
        out = same("-o", "pid,euid,uid,ruid,suid,fuid,egid,rgid,user,ruser,uid_hack", "-p", pid)
        assert str(uid - (1 << 32)) in out.split()
        for args in (["-l"], ["-ly"], ["-lc"], ["-fl"], ["-l", "--forest"], ["-Ll"], ["-Tl"]):
            same(*args, "-p", pid)
        for letters in ("j", "l", "s", "u", "v"):
            same(letters, "-p", pid)
        both = f"{pid},1"
        same("-o", "pid,uid,euid,user", "--sort=uid", "-p", both)
        same("-o", "pid,uid,euid", "--sort=-euid", "-p", both)
        same("-o", "pid,uid", "-p", both, "k", "-uid")


# -- 2. text sort keys --------------------------------------------------------------


@pytest.fixture(scope="module")
def no_argv() -> Iterator[int]:
    """A process whose command line is one empty argument (printed ``?``)."""
    proc = subprocess.Popen(
        [""], executable=sys.executable, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        wait_for("the empty command line", lambda: _cmdline(proc.pid) == b"\0")
        yield proc.pid
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(60)


def _cmdline(pid: int) -> bytes | None:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return None


def _locales() -> list[str]:
    found = subprocess.run(
        ["locale", "-a"], capture_output=True, text=True, check=False, timeout=60
    )
    return ["C", *(n for n in ("C.utf8", "en_US.utf8") if n in found.stdout.split())]


@pytest.mark.parametrize("locale", _locales())
@pytest.mark.parametrize("key", ["comm", "-ucmd", "args", "-cmd", "command,pid"])
def test_text_keys_compare_the_text_procps_prints(
    family: dict[str, Any], no_argv: int, locale: str, key: str
) -> None:
    """An empty command line sorts as ``?``, a control byte as the ``?``
    it prints, and in C a non-ASCII name as its ``?`` too."""
    env = {"LC_ALL": locale}
    pids = f"{_pids(family)},{no_argv},1"
    same("-o", "pid,comm,args", f"--sort={key}", "-p", pids, env=env)
    same("-o", "pid,comm", "-p", pids, "k", key, env=env)
    same("-o", "pid,comm,args", f"--sort={key}", "--forest", "-p", pids, env=env)


# names glibc will not print that are valid UTF-8 (U+2028, the C1 control
# U+0085), a control byte, DEL, an invalid byte, beside letters and "?":
# libproc2 keeps the first two as they are and ps prints them as "?", so ps
# sorts them after the letters where a printed "?" would sort before
UNPRINTED = [
    ("\u2028n", "a\x01b"),
    ("an", "\u2028\u4e2d"),
    ("\x01n", "\u0085x"),
    ("?n", "b"),
    ("\udcffn", "\x7fq"),
    ("\u0085n", "?z"),
    ("zz", "\udcff"),
    ("\u4e2d", "\u00a0"),
]
HOLD_NAMED = """
import json, os, sys
with open("/proc/self/comm", "wb") as f:
    f.write(os.fsencode(sys.argv[1]))
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def unprinted() -> Iterator[list[int]]:
    """A process for each name and argument of :data:`UNPRINTED`."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(holding(HOLD_NAMED, *pair))["pid"] for pair in UNPRINTED]


@pytest.mark.parametrize("locale", _locales())
@pytest.mark.parametrize("key", ["comm", "-ucmd", "args", "-cmd", "fname,pid"])
def test_text_keys_compare_what_libproc2_keeps(unprinted: list[int], locale: str, key: str) -> None:
    """In a UTF-8 locale a character ps prints as ``?`` but the library
    keeps (U+2028, U+0085) compares as itself; control and invalid bytes
    compare as the library's ``?``; in C everything as printed."""
    env = {"LC_ALL": locale}
    pids = ",".join(map(str, unprinted))
    same("-o", "pid,comm,args", f"--sort={key}", "-p", pids, env=env)
    same("-o", "pid", f"--sort={key}", "-p", pids, env=env)


HOLD_TERMINAL = """
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)  # a session leader's first terminal is its own
os.close(os.open("/dev/tty", os.O_RDWR))  # which this proves
print(json.dumps({"pid": os.getpid(), "tty": os.ttyname(fd)}), flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def terminals() -> Iterator[list[int]]:
    """Session leaders on terminals of their own whose names order one way
    as versions and another as bytes (pts/9 and pts/10), and one without.
    A new pty takes the lowest number free on the machine, which other
    users' ptys (and a second copy of the suite) move anywhere: ptys are
    opened, each held by its master alone, until their numbers cross a
    power of ten, which the kernel's pty limit and ours on open files bound."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.ExitStack() as stack:
        stack.callback(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
        ptys: dict[int, str] = {}
        numbers: list[int] = []
        while not (len(numbers) >= 6 and len(str(numbers[0])) < len(str(numbers[-1]))):
            try:
                master, slave = os.openpty()
            except OSError as e:
                pytest.skip(f"no ptys numbered across a power of ten: pty {len(ptys) + 1}: {e}")
            stack.callback(os.close, master)
            name = os.ttyname(slave)
            os.close(slave)
            ptys[int(name.rsplit("/", 1)[1])] = name
            numbers = sorted(ptys)
        chosen = numbers[:3] + numbers[-3:]
        pids = [
            stack.enter_context(holding(HOLD_TERMINAL, ptys[n], start_new_session=True))["pid"]
            for n in chosen
        ]
        pids.append(stack.enter_context(holding(HOLD, start_new_session=True))["pid"])
        yield pids


@pytest.mark.parametrize("key", ["tty", "-tt", "tname,-pid", "-tty8", "longtname"])
def test_terminals_sort_as_versions(terminals: list[int], key: str) -> None:
    """libproc2 compares terminal names with strverscmp: pts/9 before pts/10."""
    pids = ",".join(map(str, terminals))
    out = same("-o", "pid,tty", f"--sort={key}", "-p", pids)
    assert "?" in out.split()  # the one without a terminal
    same("-o", "pid", f"--sort={key}", "-p", pids)


@pytest.mark.parametrize(
    ("key", "columns"),
    [
        ("tty4", ["tty", "tname", "tt", "tty8", "longtname"]),
        ("fgid", ["f", "flags"]),
        ("vsize", ["drs", "size", "m_size", "trs", "vsz"]),
        ("start_code", ["trs", "tsiz", "drs"]),
        ("end_code", ["dsiz", "m_trs"]),
        ("vm_data", ["size", "vsz"]),
        ("vm_stack", ["size"]),
        ("utime", ["time"]),
        ("resident", ["rss"]),
        ("cpu", ["psr"]),
        ("context", ["label"]),
        ("zone", ["tid"]),
    ],
)
def test_keys_that_sort_by_what_another_column_reads(
    family: dict[str, Any], terminals: list[int], key: str, columns: list[str]
) -> None:
    """procps 4.0.2 sorts some keys by an item their own column does not
    read: with a column that reads it (shown, or another sort key) they sort
    by it (tty4 by the terminal's name, fgid by the flags, vsize by VSZ...),
    without one they keep the listing's order; cpu, utime and resident never
    sort, and the label columns sort by the process id."""
    pids = ",".join(map(str, [*terminals, *family["kids"], family["sleep"], 1, 2]))
    for sign in ("", "-"):
        same("-o", "pid", f"--sort={sign}{key}", "-p", pids)
        same("-o", f"pid,{key}", f"--sort={sign}{key}", "-p", pids)
        for column in columns:
            same("-o", f"pid,{column}", f"--sort={sign}{key}", "-p", pids)
            same("-o", "pid", f"--sort={sign}{key},{column}", "-p", pids)


# -- 3. Unix -a, -d, -N ---------------------------------------------------------------


@pytest.fixture(scope="module")
def terminal() -> Iterator[list[int]]:
    """A shell on a pty (a session leader) with two sleeps that are not,
    for the whole module; ending script(1) hangs the terminal up, and the
    hangup ends the shell and its sleeps (checked)."""
    script = subprocess.Popen(
        ["script", "-qfc", "sleep 900 & sleep 901; wait", "/dev/null"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )

    def sleeping() -> list[int]:
        found = [t for t in snapshot.processes() if t.name == "sleep" and t.tty_nr]
        return [t.tid for t in found if _under(t.ppid, script.pid)]

    try:
        yield wait_for(
            "script(1) giving two sleeps a terminal", lambda: (found := sleeping())[1:] and found
        )
    finally:
        held = sleeping()
        script.kill()
        script.wait(60)
        wait_for(
            f"the hangup ending the sleeps {held}",
            lambda: all((t := snapshot.process(p)) is None or t.state in DEAD for p in held),
        )


def _under(pid: int, ancestor: int) -> bool:
    for _ in range(10):
        if pid == ancestor:
            return True
        task = snapshot.process(pid)
        if task is None:
            return False
        pid = task.ppid
    return False


def test_unix_a_leaves_out_session_leaders(terminal: list[int]) -> None:
    rows = same_rows("-a", "-o", "pid,sid,tty,comm")
    assert {(str(p),) for p in terminal} <= rows.keys()
    leaders = [k for k, line in rows.items() if line.split()[0] == line.split()[1]]
    assert not leaders, leaders
    out = tidscope("ps", "-a").stdout
    assert out.split("\n", 1)[0].split() == ["PID", "TTY", "TIME", "CMD"]
    same_rows("-a")
    same_rows("-d", "-o", "pid,sid,comm")
    same_rows("-a", "-d", "-o", "pid,sid,tty,comm")
    same_rows("-N", "-a", "-o", "pid,tty,comm")
    same_rows("-a", "-x")  # procps's second reading: BSD ax


def test_deselect_lists_what_the_rest_does_not(family: dict[str, Any]) -> None:
    rows = same_rows("-N", "-p", _pids(family), "-o", "pid,comm")
    assert (str(family["pid"]),) not in rows
    # (not -u root: on a machine where every process is root's, both print
    # a header alone, and tidscope says why on stderr)
    rows = same_rows("--deselect", "--ppid", "1", "-o", "pid,ppid,comm")
    assert all(line.split()[1] != "1" for line in rows.values())
    same("-N", "-A")


def test_unix_n_joined_and_with_a_command_name(terminal: list[int]) -> None:
    """-N is Unix deselect wherever it appears, joined to other letters
    too; only BSD N (no dash) is a BSD letter."""
    rows = same_rows("-N", "-C", "sleep", "-o", "pid,comm")
    assert not {(str(p),) for p in terminal} & rows.keys()
    same_rows("-NC", "sleep", "-o", "pid,comm")
    same_rows("-Na", "-o", "pid,tty,comm")
    same_rows("-aN", "-o", "pid,tty,comm")
    for args in (["-N-C", "sleep"], ["-fN-C", "sleep"]):
        proc = tidscope("ps", *args)
        line = one_error_line(proc)
        assert (proc.returncode, proc.stdout) == (2, ""), line
        assert f"'{args[0]}' has a '-' inside Unix options" in line and "BSD" not in line
    assert "'N' in 'N-C' is no BSD option" in one_error_line(tidscope("ps", "N-C"))


# -- 4. the environment ---------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["-p", "1"], ["p", "1"], ["-T", "-p", "1"], ["-f", "-p", "1"], ["-o", "pid", "-p", "1"]],
)
@pytest.mark.parametrize("fmt", ["pid,comm", "pid user:12 args", "pid,bogus", ""])
def test_ps_format_is_the_default_columns(args: list[str], fmt: str) -> None:
    same(*args, env={"PS_FORMAT": fmt})


@pytest.mark.parametrize("value", ["1", ""])
def test_libproc_hide_kernel_leaves_out_the_kernels_tasks(
    family: dict[str, Any], value: str
) -> None:
    """libproc2's LIBPROC_HIDE_KERNEL, set to anything: no process 2, none
    of its children, whatever the selection (-p, -q, -T, --ppid)."""
    env = {"LIBPROC_HIDE_KERNEL": value}
    rows = same_rows("-e", "-o", "pid,ppid,comm", env=env)
    assert rows and all("2" not in line.split()[:2] for line in rows.values())
    pid = str(family["pid"])
    same("-o", "pid,comm", "-p", f"1,2,{pid}", env=env)
    same("-T", "-o", "pid,tid,comm", "-p", f"2,{pid}", env=env)
    same("-o", "pid,comm", "-q", f"2,{pid}", env=env)
    same("-o", "pid,comm", "--forest", "-p", f"1,2,{pid}", env=env)
    same("-o", "pid", "--ppid", "2", env=env)  # the header alone, exit 1
    proc = tidscope("ps", "-p", "2", env=env)
    assert proc.returncode == 1 and "LIBPROC_HIDE_KERNEL is set" in one_error_line(proc)


# -- the options people type ------------------------------------------------------------


def test_width_and_height_options(family: dict[str, Any]) -> None:
    pid = str(family["pid"])
    for width in (["--cols", "30"], ["--columns=30"], ["--width", "0x20"], ["--cols", "30", "-w"]):
        same(*width, "-o", "pid,args", "-p", pid)
    for height in (["--rows", "3"], ["--lines=4"]):
        same(*height, "--headers", "-o", "pid,comm", "-p", f"1,2,{_pids(family)}")
    bad = tidscope("ps", "--cols", "30x")
    assert bad.returncode == 2 and "--cols '30x' is not a number" in one_error_line(bad)


@pytest.mark.parametrize(
    "args",
    [["-ux"], ["-aux"], ["-axjf"], ["-x"], ["-aZx"], ["-Xax"]],
    ids=" ".join,
)
def test_second_reading_as_bsd(args: list[str]) -> None:
    same_rows(*args)


# -- the generated walks -------------------------------------------------------------------


def _names() -> list[str]:
    out = run(["ps", "L"]).stdout
    return [line.split()[0] for line in out.splitlines()]


def test_every_ps_L_name_prints_as_procps_prints_it(family: dict[str, Any]) -> None:
    """Every name ``ps L`` lists, in groups of eight between PID columns,
    for held threads, raw processes, a sleep, pid 1 and kthreadd; the six
    test columns are refused saying why; pss and uss depend on who reads it
    (see tidscope-ps(1): a page of libpython the held Python process and
    tidscope both map is not the held process's own while tidscope runs,
    12 KiB of its USS here), so they are compared on kthreadd alone."""
    names = _names()
    assert len(names) == 190, len(names)
    pids = f"1,2,{_pids(family)}"
    compared = [n for n in names if n not in TEST_COLUMNS | MOVING | READER]
    for at in range(0, len(compared), 8):
        group = compared[at : at + 8]
        same("-o", "pid," + ",".join(group) + ",pid", "-p", pids)
        same("-T", "-o", "pid," + ",".join(group), "-p", str(family["pid"]))
    same("-o", "pid,pss,uss," + ",".join(sorted(MOVING)), "-p", "2")
    for name in TEST_COLUMNS:
        proc = tidscope("ps", "-o", name, "-p", "1")
        assert proc.returncode == 2 and "procps's test columns" in one_error_line(proc)


@pytest.mark.slow
@pytest.mark.timeout(900)  # 370 comparisons of three runs each: two minutes on a busy machine
def test_every_ps_L_name_sorts_as_procps_sorts(family: dict[str, Any]) -> None:
    """Every name ``ps L`` lists as the --sort key, on held tasks, pid 1 and
    kthreadd: procps 4.0.2 sorts some by another field than they print
    (SIZE, TRS, DRS by VSZ; API by PRI; the labels by the process id) and
    some by none (cpu; vsize and fgid without a column that reads theirs)."""
    pids = f"{_pids(family)},1,2"
    for name in _names():
        if name not in TEST_COLUMNS | MOVING | READER:
            same("-o", f"pid,{name}", f"--sort={name}", "-p", pids)
            same("-o", f"pid,{name}", f"--sort=-{name},-pid", "-p", pids)
            same("-o", "pid", f"--sort=-{name}", "-p", pids)  # ties keep their order


# what the reader's own mappings change (see test_every_ps_L_name_prints_as_procps_prints_it)
READER = frozenset({"pss", "uss"})
# CPU use and age change under a young task every few milliseconds: compared
# on kthreadd here, on held tasks in test_ps_stat_columns.py
MOVING = frozenset({"%cpu", "pcpu", "c", "cp", "util", "cuc", "cuu", "etime", "etimes"})


def _help_options() -> list[str]:
    """Every option ``ps --help all`` lists, as typed."""
    found = []
    for line in run(["ps", "--help", "all"]).stdout.splitlines():
        text = re.sub(r",\s+", ", ", line.strip())  # " k,    --sort"
        if not text or "e.g." in text:
            continue
        left = re.split(r"\s{2,}", text)[0]
        names = [part.split()[0] for part in left.split(",") if part.split()]
        if names and all(re.fullmatch(r"--?[A-Za-z][\w-]*|[A-Za-z]", n) for n in names):
            found.extend(names)
    return found


# how each option is tried: compared on held tasks ("same"), on the whole
# machine ("rows"), or one of tidscope-ps(1)'s differences ("refused": one
# line, exit 2, and procps prints something; "own": tidscope's own answer)
PID, SID = "{pid}", "{sid}"
OPTIONS: dict[str, tuple[str, list[str]]] = {
    "-A": ("rows", ["-A"]),
    "-e": ("rows", ["-e"]),
    "-a": ("rows", ["-a"]),
    "a": ("rows", ["a"]),
    "-d": ("rows", ["-d"]),
    "-N": ("rows", ["-N", "-p", PID]),
    "--deselect": ("rows", ["--deselect", "-p", PID]),
    "r": ("refused", ["r"]),
    "T": ("refused", ["T"]),
    "x": ("rows", ["x"]),
    "-C": ("rows", ["-C", "t2,sleep", "--ppid", PID]),  # anyone's sleeps come and go
    "-G": ("rows", ["-G", "0"]),
    "--Group": ("rows", ["--Group", "root"]),
    "-g": ("rows", ["-g", "root"]),
    "--group": ("rows", ["--group", "0"]),
    "-p": ("same", ["-p", PID]),
    "p": ("same", ["p", PID]),
    "--pid": ("same", ["--pid", PID]),
    "--ppid": ("same", ["--ppid", PID]),
    "-q": ("same", ["-q", PID]),
    "q": ("same", ["q", PID]),
    "--quick-pid": ("same", ["--quick-pid", PID]),
    "-s": ("rows", ["-s", SID]),
    "--sid": ("rows", ["--sid", SID]),
    "-t": ("rows", ["-t", "-"]),
    "t": ("rows", ["t", "-"]),
    "--tty": ("rows", ["--tty", "-"]),
    "-u": ("rows", ["-u", "root"]),
    "U": ("rows", ["U", "0"]),
    "--user": ("rows", ["--user", "0"]),
    "-U": ("rows", ["-U", "root"]),
    "--User": ("rows", ["--User", "0"]),
    "-F": ("same", ["-F", "-p", PID]),
    "-f": ("same", ["-f", "-p", PID]),
    "f": ("same", ["f", "-p", PID]),
    "--forest": ("same", ["--forest", "-p", PID]),
    "-H": ("same", ["-H", "-p", PID]),
    "-j": ("same", ["-j", "-p", PID]),
    "j": ("same", ["j", "-p", PID]),
    "-l": ("same", ["-l", "-p", PID]),
    "l": ("same", ["l", "-p", PID]),
    "-M": ("same", ["-M", "-p", PID]),
    "Z": ("same", ["Z", "-p", PID]),
    "-O": ("same", ["-O", "ppid,nlwp", "-p", PID]),
    "O": ("same", ["O", "ppid", "-p", PID]),
    "-o": ("same", ["-o", "pid,comm", "-p", PID]),
    "o": ("same", ["o", "pid,comm", "-p", PID]),
    "--format": ("own", ["--format", "pid"]),  # tidscope's output format; -o is procps's
    "-P": ("same", ["-P", "-p", PID]),
    "s": ("same", ["s", "-p", PID]),
    "u": ("same", ["u", "-p", PID]),
    "v": ("same", ["v", "-p", PID]),
    "X": ("same", ["X", "-p", PID]),
    "-y": ("same", ["-ly", "-p", PID]),
    "--context": ("same", ["--context", "-p", PID]),
    "--headers": ("same", ["--headers", "-p", PID]),
    "--no-headers": ("same", ["--no-headers", "-p", PID]),
    "--cols": ("same", ["--cols", "40", "-f", "-p", PID]),
    "--columns": ("same", ["--columns", "40", "-f", "-p", PID]),
    "--width": ("same", ["--width=40", "-f", "-p", PID]),
    "--rows": ("same", ["--rows", "3", "--headers", "-T", "-p", PID]),
    "--lines": ("same", ["--lines", "3", "--headers", "-T", "-p", PID]),
    "H": ("same", ["H", "-p", PID]),
    "-L": ("same", ["-L", "-p", PID]),
    "-m": ("refused", ["-m", "-p", PID]),
    "m": ("refused", ["m", "-p", PID]),
    "-T": ("same", ["-T", "-p", PID]),
    "-c": ("same", ["-lc", "-p", PID]),
    "c": ("same", ["c", "-p", PID]),
    "e": ("refused", ["e", "-p", PID]),
    "k": ("same", ["k", "-pid", "--ppid", PID]),
    "--sort": ("same", ["--sort", "comm", "--ppid", PID]),
    "L": ("refused", ["L"]),
    "n": ("refused", ["n", "-p", PID]),
    "S": ("same", ["S", "-p", PID]),
    "--cumulative": ("same", ["--cumulative", "-o", "pid,bsdtime,c,min_flt", "-p", PID]),
    "-V": ("own", ["-V"]),
    "V": ("own", ["V"]),
    "--version": ("own", ["--version"]),
    "-w": ("same", ["-w", "-f", "-p", PID]),
    "w": ("same", ["w", "-p", PID]),
    "--help": ("own", ["--help"]),
}


def test_the_table_holds_every_option_of_ps_help_all() -> None:
    listed = _help_options()
    assert len(listed) > 70, listed
    assert set(listed) == set(OPTIONS), set(listed) ^ set(OPTIONS)


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_every_option_of_ps_help_all(
    family: dict[str, Any], terminal: list[int], option: str
) -> None:
    """(``terminal`` gives -a and a a process with a terminal to list, and
    -s its session: the shell script(1) starts leads one in our pid namespace,
    while ours may be led from outside it, where getsid(2) says 0.)"""
    how, template = OPTIONS[option]
    sid = str(os.getsid(terminal[0]))
    assert sid != "0", f"the terminal's session has no id in our namespace: {terminal}"
    args = [a.replace(PID, str(family["pid"])).replace(SID, sid) for a in template]
    if how == "same":
        same(*args)
    elif how == "rows":
        same_rows(*args)
    elif how == "refused":
        theirs, ours = run(["ps", *args]), tidscope("ps", *args)
        assert theirs.stdout and "error" not in theirs.stderr, theirs.stderr  # procps takes it
        assert ours.returncode == 2 and "not supported by tidscope ps: " in one_error_line(ours)
    else:
        ours = tidscope("ps", *args)
        assert ours.returncode in (0, 2) and "tidscope" in ours.stdout + ours.stderr


def test_the_version_alone(family: dict[str, Any]) -> None:
    from tidscope import __version__

    for args in (["-V"], ["--version"], ["V"]):
        proc = tidscope("ps", *args)
        assert (proc.returncode, proc.stdout) == (0, f"tidscope, version {__version__}\n")
    for args in (["-V", "-p", "1"], ["Vx"], ["-Vx"], ["V", "1"]):
        theirs, proc = run(["ps", *args]), tidscope("ps", *args)
        assert theirs.returncode and "exclusive" in theirs.stderr  # procps refuses them too
        assert proc.returncode == 2 and "V prints the version alone" in one_error_line(proc)
