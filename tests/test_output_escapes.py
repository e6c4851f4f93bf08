"""A name holding a terminal escape and an undecodable byte, in every
command's every format: escaped as procps escapes it in a table, CSV and
text, the text itself in JSON (the byte as U+FFFD), and never an ESC on
standard output (render.py's cell rules)."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from typing import Any

import pytest
from helpers import holding, read_rest, readline

from benchmarks.watch import socket_inode, until, waiting

BAD = b"\x1b[31mRED\xff"  # ESC [31m (red), and a byte that starts no character
SHOWN = {"C.UTF-8": "?[31mRED?", "C": ".[31mRED?"}  # procps: UTF-8 locale, and not
IN_JSON = "\x1b[31mRED\ufffd"

HOLDER = """
import json, os, sys, threading
with open("/proc/self/comm", "wb") as f:
    f.write(bytes.fromhex(sys.argv[1]))
stop = threading.Event()
thread = threading.Thread(target=stop.wait)  # named as its process was
thread.start()
print(json.dumps({"pid": os.getpid(), "tid": thread.native_id}), flush=True)
sys.stdin.read()
stop.set()
thread.join()
"""

# Renames itself (a comm event) when told to, then makes a thread that
# exits at once (a fork and an exit of its group), and waits to be let go.
RENAMER = """
import ctypes, json, sys, threading
sys.stdin.readline()
ctypes.CDLL(None).prctl(15, bytes.fromhex(sys.argv[1]), 0, 0, 0)  # PR_SET_NAME
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
print(json.dumps({"tid": thread.native_id}), flush=True)
sys.stdin.read()
"""


def environment(where: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG"))}
    env.pop("PYTHONIOENCODING", None)
    return {**env, "LANG": where}


def tidscope(args: list[str], where: str = "C.UTF-8") -> bytes:
    """``tidscope ARGS``'s standard output, as bytes: it must succeed."""
    proc = subprocess.run(
        [sys.executable, "-m", "tidscope", *args],
        capture_output=True,
        env=environment(where),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def assert_escaped(out: bytes, fmt: str, where: str = "C.UTF-8") -> None:
    """No ESC in ``out``; the name escaped, or in JSON the text itself."""
    assert b"\x1b" not in out, out
    if fmt in ("json", "jsonl"):
        assert b"\\udc" not in out  # an undecodable byte is U+FFFD, no lone surrogate
        docs = (
            [json.loads(line) for line in out.splitlines()] if fmt == "jsonl" else json.loads(out)
        )
        assert json.dumps(IN_JSON) in json.dumps(docs)
    else:
        assert SHOWN[where].encode() in out, out


@pytest.fixture(scope="module")
def named() -> Any:
    with holding(HOLDER, BAD.hex()) as info:
        yield info


COMMANDS = {
    "ps": lambda h: ["ps", "-T", "-p", str(h["pid"]), "-o", "pid,tid,comm"],
    "share": lambda h: ["share", str(h["pid"])],
    "inspect": lambda h: ["inspect", str(h["tid"])],
    "tree": lambda h: ["tree", str(h["pid"])],
}


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_escapes_the_name(named: dict[str, Any], command: str, fmt: str) -> None:
    out = tidscope([*COMMANDS[command](named), "--format", fmt])
    assert_escaped(out, fmt)


@pytest.mark.parametrize("command", COMMANDS)
def test_csv_escapes_as_procps_in_a_locale_that_is_not_utf8(
    named: dict[str, Any], command: str
) -> None:
    out = tidscope([*COMMANDS[command](named), "--format", "csv"], "C")
    assert_escaped(out, "csv", "C")
    assert out.isascii()


@pytest.mark.parametrize("fmt", ["text", "dot"])
def test_a_trees_drawing_escapes_the_name(named: dict[str, Any], fmt: str) -> None:
    assert_escaped(tidscope(["tree", str(named["pid"]), "--format", fmt]), fmt)


def test_csv_cells_are_the_tables(named: dict[str, Any]) -> None:
    """CSV: a row per task, the name escaped in its own field."""
    out = tidscope(["ps", "-T", "-p", str(named["pid"]), "-o", "tid,comm", "--format", "csv"])
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert rows == [["tid", "comm"], [str(named["pid"]), SHOWN["C.UTF-8"]],
                    [str(named["tid"]), SHOWN["C.UTF-8"]]]  # fmt: skip


@pytest.mark.net_admin
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_watch_and_its_summary_escape_the_name(fmt: str) -> None:
    """A process renames itself to the name and has a thread born and
    ended while a watch of it runs: the comm event's name and the
    summary's name of its group (read at the end: the process lives on)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RENAMER), BAD.hex()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None and holder.stdout is not None
    watcher = subprocess.Popen(
        [sys.executable, "-m", "tidscope", "watch", "--summary", "--format", fmt,
         "--pid", str(holder.pid), "--duration", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment("C.UTF-8"),
    )  # fmt: skip
    assert watcher.stdout is not None
    try:

        def subscribed() -> bool:
            assert watcher.poll() is None, watcher.communicate(timeout=60)
            return socket_inode(watcher.pid) is not None and waiting(watcher.pid)

        until("the watcher subscribed", subscribed)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        tid = str(json.loads(readline(holder.stdout, proc=holder))["tid"]).encode()
        lines: list[bytes] = []
        while not (lines and tid in lines[-1] and b"exit" in lines[-1]):
            lines.append(readline(watcher.stdout, proc=watcher, seen=lines[-20:]))
            assert lines[-1], f"the watch ended first: {watcher.communicate(timeout=60)}"
        watcher.send_signal(signal.SIGINT)
        rest = read_rest(watcher.stdout, proc=watcher)
        assert watcher.wait(timeout=120) == 128 + signal.SIGINT, watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate(timeout=60)
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    out = b"".join(lines) + rest
    assert_escaped(out, "jsonl" if fmt == "json" else fmt)  # a watch's JSON is JSON Lines
    pid = str(holder.pid)
    if fmt == "json":
        docs = [json.loads(line) for line in out.splitlines()]
        (comm,) = [d for d in docs if d.get("event") == "comm"]
        (group,) = next(d for d in docs if "summary" in d)["summary"]
        assert comm["name"] == group["name"] == IN_JSON and group["tgid"] == holder.pid
        return
    events, summary = out.decode().split("\n\n")
    if fmt == "csv":
        (comm,) = [r for r in csv.reader(io.StringIO(events)) if r[1] == "comm"]
        (group,) = [r for r in csv.reader(io.StringIO(summary)) if r[0] == pid]
    else:
        (comm,) = [r.split() for r in events.splitlines() if r.split()[1] == "comm"]
        (group,) = [r.split() for r in summary.splitlines() if r.split()[0] == pid]
    assert comm[-1] == group[-1] == SHOWN["C.UTF-8"]
    assert group[1:3] == ["1", "1"]  # one thread born, one ended
