"""Names as procps prints them, in every kind of locale: tidscope against
the installed ``ps`` on held threads and processes whose names and command
lines hold control bytes, invalid UTF-8, zero-width, wide, unassigned and
line-separator characters."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import python, readline

from tidscope import text

# Thread names (comm holds at most 15 bytes)
NAMES = [
    b"ctl\x01\x1b\x7fx\tz",
    b"inv\xffa\xc3",  # a stray byte, a sequence cut short by the end
    b"zw\xe2\x80\x8bx\xef\xbb\xbfy",  # U+200B, U+FEFF: printed, no cells
    b"ls\xe2\x80\xa8ps\xe2\x80\xa9",  # U+2028, U+2029: "?"
    b"un\xcd\xb8\xef\xbf\xbf",  # U+0378, U+FFFF: unassigned
    b"wide\xe4\xb8\xad\xe4\xb8\xad",  # two cells each
    b"c1\xc2\x80\xc2\x9f",  # C1 controls
    b"mix\xc3\xa9\xff\x01\xe4\xb8\xad",  # after \xff: the non-UTF-8 rules
    b"comb e\xcc\x81",  # a combining accent
    b"\xe4\xff\xffab\x01",
]
# Command lines: argc 0 and argv of one empty string (cmdline "\0": procps
# prints "?"), then odd arguments
ARGVS: list[list[bytes]] = [
    [],
    [b""],
    [b"a\x01b", b"\xff", b"\xe4\xb8\xad\xe2\x80\x8b", b"x\ny\tz"],
    [b"\xe2\x80\xa8\xe4\xb8\xad" * 6, b"e\xcc\x81" * 4],
    [b"ok", b"\xc3\xa9\xe4\xb8\xad\xcc\x81\xe2\x80\x8b" * 5],
]

HOLDER = r"""
import ctypes, json, os, sys, threading
names = [bytes.fromhex(h) for h in json.loads(sys.argv[1])]
argvs = [[bytes.fromhex(a) for a in argv] for argv in json.loads(sys.argv[2])]
stop = threading.Event()
tids = []
named = threading.Semaphore(0)

def hold(name):
    tid = threading.get_native_id()
    with open(f"/proc/self/task/{tid}/comm", "wb") as f:
        f.write(name)
    tids.append(tid)
    named.release()
    stop.wait()

for name in names:
    threading.Thread(target=hold, args=(name,), daemon=True).start()
    named.acquire()
kids = []
for argv in argvs:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(r, 0)
        exe = os.fsencode(sys.executable)
        if argv in ([], [b""]):  # python reads its program from stdin
            arr = (ctypes.c_char_p * (len(argv) + 1))(*argv, None)
            ctypes.CDLL(None).execv(exe, arr)
            os._exit(127)
        os.execv(exe, [exe, b"-c", b"import sys; sys.stdin.read()", *argv])
    os.close(r)
    if argv in ([], [b""]):
        os.write(w, b"import sys; sys.stdin.read()\n")
    kids.append((pid, w))
print(json.dumps({"pid": os.getpid(), "tids": tids, "kids": [k for k, _ in kids]}), flush=True)
sys.stdin.read()
stop.set()
for pid, w in kids:
    os.close(w)
    os.waitpid(pid, 0)
"""


@contextlib.contextmanager
def held_names(
    names: list[bytes] = NAMES, argvs: list[list[bytes]] = ARGVS
) -> Iterator[dict[str, Any]]:
    """A process with threads named ``names`` and children run with ``argvs``."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER,
            json.dumps([n.hex() for n in names]),
            json.dumps([[a.hex() for a in argv] for argv in argvs]),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = readline(proc.stdout, proc=proc, seen="the holder's line")
        assert line, proc.communicate(timeout=30)[1]
        info: dict[str, Any] = json.loads(line)
        info["all"] = ",".join(map(str, [info["pid"], *info["kids"]]))
        yield info
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


def environment(**locale: str) -> dict[str, str]:
    """Our environment without any locale variable, plus ``locale``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.pop("PYTHONIOENCODING", None)
    return {**env, **locale}


def both(args: list[str], env: dict[str, str]) -> tuple[bytes, bytes]:
    """stdout of procps ``ps ARGS`` and of ``tidscope ps ARGS``, as bytes."""
    theirs = subprocess.run(["ps", *args], capture_output=True, env=env, timeout=60, check=False)
    ours = subprocess.run(
        [sys.executable, "-m", "tidscope", "ps", *args],
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ours.stderr == b"", ours.stderr
    assert ours.returncode == theirs.returncode
    return theirs.stdout, ours.stdout


def iso_8859_1() -> str | None:
    """An installed ISO-8859-1 locale, if any."""
    found = subprocess.run(
        ["locale", "-a"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return next((n for n in found.split() if re.search(r"8859-?1$", n, re.I)), None)


LOCALES: dict[str, dict[str, str]] = {
    "C": {"LANG": "C"},
    "unset": {},
    "POSIX": {"LC_ALL": "POSIX"},
    "C.UTF-8": {"LANG": "C.UTF-8"},
    "LC_CTYPE": {"LANG": "C", "LC_CTYPE": "C.UTF-8"},
    "LC_ALL-wins": {"LC_ALL": "C.UTF-8", "LANG": "no_SUCH.UTF-8"},
    "not-installed": {"LANG": "no_SUCH.UTF-8"},
    "one-bad-category": {"LANG": "C.UTF-8", "LC_TIME": "no_SUCH.UTF-8"},
}
SPECS = [
    "pid,tid,comm,tid",
    "comm:3,tid",
    "comm:4,tid,comm:1,tid",
    "tid,comm",
    "args,pid",
    "pid,args",
    "comm,args",
    "args:5,comm:4,pid",
    "pid,user:2,args:9,comm:7,tid",
]


@pytest.fixture(scope="module")
def names() -> Iterator[dict[str, Any]]:
    with held_names() as info:
        yield info


@pytest.mark.procps
@pytest.mark.slow
@pytest.mark.parametrize("where", LOCALES, ids=list(LOCALES))
def test_names_print_as_procps_prints_them(names: dict[str, Any], where: str) -> None:
    full = where in ("C", "unset", "C.UTF-8")  # the others differ only in the locale chosen
    for spec in SPECS if full else ["pid,tid,comm,tid", "comm,args"]:
        for columns in (None, "12", "22") if full else (None,):
            env = environment(**LOCALES[where], **({"COLUMNS": columns} if columns else {}))
            theirs, ours = both(["-T", "-o", spec, "-p", names["all"]], env)
            assert ours == theirs, (spec, columns, ours.decode(errors="replace"))


@pytest.mark.procps
def test_an_iso_8859_1_locale_prints_as_procps(names: dict[str, Any]) -> None:
    name = iso_8859_1()
    if name is None:
        pytest.skip("no ISO-8859-1 locale: localedef -i en_US -f ISO-8859-1 en_US.ISO-8859-1")
    for spec in ("pid,tid,comm,tid", "comm,args", "pid,args"):
        theirs, ours = both(["-T", "-o", spec, "-p", names["all"]], environment(LANG=name))
        assert ours == theirs
        assert max(ours) < 0x80  # nothing that locale could misread


@pytest.mark.procps
def test_the_test_names_are_what_they_claim(names: dict[str, Any]) -> None:
    """The held names reach ps as set, and procps shows both kinds of rule."""
    env = environment(LANG="C.UTF-8")
    theirs, _ = both(["-T", "-o", "comm:20=", "-p", str(names["pid"])], env)
    rows = [r.rstrip() for r in theirs.splitlines()]
    assert "zw\u200bx\ufeffy".encode() in rows and b"ls?ps?" in rows and b"un??" in rows
    assert b"mix\xc3\xa9?.???" in rows  # from \xff on: controls ".", bytes "?"
    theirs, _ = both(["-o", "args=", "-p", ",".join(map(str, names["kids"][:2]))], env)
    assert theirs == b"?\n?\n"  # cmdline "\0": not [comm]


@pytest.mark.procps
def test_tree_names_are_the_ones_ps_prints(names: dict[str, Any]) -> None:
    for where in ("C", "C.UTF-8"):
        env = environment(**LOCALES[where])
        theirs, _ = both(["-T", "-o", "tid=,comm:40=", "-p", str(names["pid"])], env)
        expected = {
            int(tid): name.rstrip()
            for tid, name in (row.split(None, 1) for row in theirs.splitlines())
        }
        tree = subprocess.run(
            [sys.executable, "-m", "tidscope", "tree", "--ascii", str(names["pid"])],
            capture_output=True,
            env=env,
            timeout=60,
            check=True,
        ).stdout
        shown = {int(m[1]): m[2] for m in re.finditer(rb"(\d+) \{(.*)\} thread of ", tree)}
        assert shown == {t: expected[t] for t in names["tids"]}


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_an_output_encoding_without_the_characters_prints_question_marks(
    names: dict[str, Any], encoding: str
) -> None:
    env = environment(LANG="C.UTF-8", PYTHONIOENCODING=encoding)
    pid = str(names["pid"])
    for args in (
        ["ps", "-T", "-o", "tid,comm,args", "-p", names["all"]],
        ["ps", "-T", "-o", "tid,comm,args", "-p", names["all"], "--format", "csv"],
        ["ps", "-T", "-o", "tid,comm,args", "-p", names["all"], "--format", "json"],
        ["tree", pid],
        ["tree", pid, "--format", "table"],
        ["tree", pid, "--format", "csv"],
        ["tree", pid, "--format", "json"],
        ["tree", pid, "--format", "dot"],
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "tidscope", *args],
            capture_output=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert (proc.returncode, proc.stderr) == (0, b""), (args, proc.stderr)
        proc.stdout.decode(encoding)  # all of it in the output's encoding
        if "json" in args:
            rows = json.loads(proc.stdout)  # \u escapes: the text itself
            found = json.dumps(rows, ensure_ascii=False)
            assert "wide\u4e2d\u4e2d" in found and "\ufffd" in found
        elif encoding == "ascii":
            assert b"wide????" in proc.stdout or b"wide??" in proc.stdout


@pytest.mark.parametrize("where", ["C", "C.UTF-8"])
def test_json_and_csv_carry_the_text_not_its_escapes(names: dict[str, Any], where: str) -> None:
    env = environment(**LOCALES[where])
    args = ["ps", "-T", "-o", "tid,comm", "-p", str(names["pid"]), "--format", "json"]
    proc = subprocess.run(
        [sys.executable, "-m", "tidscope", *args],
        capture_output=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert max(proc.stdout) < 0x80
    comms = {row["comm"] for row in json.loads(proc.stdout)}
    assert {"wide\u4e2d\u4e2d", "zw\u200bx\ufeffy", "ctl\x01\x1b\x7fx\tz"} <= comms
    assert "inv\ufffda\ufffd" in comms


# -- the escaper itself ----------------------------------------------------------


def test_printable_and_cells_agree_with_the_c_library() -> None:
    """iswprint and wcwidth in C.UTF-8, code point by code point."""
    mismatches = python(
        """
        import ctypes, json, locale
        from tidscope import text
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        libc = ctypes.CDLL(None)
        text._MODE[:] = [(True, "utf-8")]  # the locale and encoding escape() assumes
        ranges = [range(0x80, 0xD800), range(0xE000, 0x40000), range(0xE0000, 0xE1000),
                  range(0xF0000, 0xF0010), range(0x10FFF0, 0x110000)]
        bad = []
        for r in ranges:
            for cp in r:
                ch = chr(cp)
                printable = libc.iswprint(cp) != 0
                ours = text.escape(ch)
                cells = libc.wcwidth(cp) if printable else 1
                if printable != (ours == ch) or cells != text.cells(ours):
                    bad.append(hex(cp))
        print(json.dumps(bad[:20]))
        """
    )
    assert mismatches == []


@pytest.mark.parametrize(
    ("raw", "utf8", "shown", "width"),
    [
        (b"plain", False, "plain", 5),
        (b"a\x01\x7fb", False, "a..b", 4),
        (b"a\xc3\xa9b", False, "a??b", 4),
        (b"a\x01\x7fb", True, "a??b", 4),
        (b"a\xc3\xa9b", True, "a\xe9b", 3),
        (b"\xe4\xb8\xad", True, "\u4e2d", 2),
        (b"e\xcc\x81\xe2\x80\x8b", True, "e\u0301\u200b", 1),
        (b"\xe2\x80\xa8\xcd\xb8\xef\xbf\xbf\xc2\x80", True, "????", 4),
        (b"\xc3\xa9\xff\x01\xe4\xb8\xad", True, "\xe9?.???", 6),
        (b"ab\xe4\xb8", True, "ab??", 4),
        (b"\xe4ab\x01", True, "?ab?", 4),
    ],
)
def test_escape(raw: bytes, utf8: bool, shown: str, width: int) -> None:
    try:
        text._MODE[:] = [(utf8, "utf-8")]
        escaped = text.escape(raw.decode("utf-8", "surrogateescape"))
    finally:
        text._MODE.clear()
    assert (escaped, text.cells(escaped)) == (shown, width)


def test_clip_cuts_as_procps_cuts() -> None:
    assert text.clip("ab\u4e2dc", 3) == "ab"  # no half of a wide character
    assert text.clip("abc\u200b", 3) == "abc"  # a full room takes no zero-width
    assert text.clip("a\u200bbc", 2) == "a\u200bb"
    assert text.clip("plain", 3) == "pla"


@pytest.mark.procps
@pytest.mark.parametrize("where", list(LOCALES))
def test_the_locale_is_the_one_procps_would_use(names: dict[str, Any], where: str) -> None:
    env = environment(**LOCALES[where])
    theirs, _ = both(["-T", "-o", "comm=", "-p", str(names["pid"])], env)
    procps_utf8 = b"wide\xe4\xb8\xad\xe4\xb8\xad" in theirs.split()
    assert text.procps_utf8(env) == procps_utf8
    code = "import json; from tidscope import text; print(json.dumps(text.procps_utf8()))"
    ours = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=env, timeout=60, check=True
    )
    assert json.loads(ours.stdout) == procps_utf8  # from the environment we started with


def test_plain_names_do_not_import_unicodedata_or_locale() -> None:
    loaded = python(
        textwrap.dedent(
            """
            import json, sys
            from tidscope.cli import main
            assert main(["ps", "-p", "1", "-o", "pid,comm,args,user"]) == 0
            print(json.dumps([m for m in ("unicodedata", "locale") if m in sys.modules]))
            """
        ),
        env={"LANG": "C.UTF-8"},
    )
    assert loaded == []
