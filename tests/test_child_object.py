"""The child's code, as built: only raw syscalls, nothing outside its section.

A raw child runs on a stack we mapped, with the parent's TLS register: a
call into libc, a PLT stub, a stack-protector canary (%fs:0x28) or any other
thread-pointer access would be a bug even if it happened to work.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tidscope.core import _rawclone

SECTION = "tidscope_child"
ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump")


def _disassembly() -> str:
    path = _rawclone.__file__
    assert path is not None
    return subprocess.check_output(
        ["objdump", "-d", "--no-show-raw-insn", "-j", SECTION, path], text=True, timeout=120
    )


def _section_bounds() -> tuple[int, int]:
    out = subprocess.check_output(
        ["objdump", "-h", str(_rawclone.__file__)], text=True, timeout=120
    )
    for line in out.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[1] == SECTION:
            size, vma = int(parts[2], 16), int(parts[3], 16)
            return vma, vma + size
    raise AssertionError(f"no {SECTION} section in the extension")


def _instructions() -> list[tuple[int, str]]:
    out = []
    for line in _disassembly().splitlines():
        m = re.match(r"\s+([0-9a-f]+):\s+(.*)", line)
        if m:
            out.append((int(m.group(1), 16), m.group(2).strip()))
    return out


def test_child_section_holds_the_trampoline_and_the_loop() -> None:
    text = _disassembly()
    assert "<ts_clone>:" in text
    assert "<ts_child_main>:" in text
    mnemonics = {ins.split()[0] for _, ins in _instructions() if ins}
    assert mnemonics & {"syscall", "svc"}


BRANCH = re.compile(r"^(call[a-z]*|j[a-z]+|bl?|b\.[a-z]+|cbn?z|tbn?z|br|blr)$")


def test_child_code_never_leaves_its_section() -> None:
    """Every branch is direct and lands inside the section: no libc, no PLT."""
    low, high = _section_bounds()
    for addr, ins in _instructions():
        op, _, rest = ins.partition(" ")
        assert "@plt" not in ins, f"{addr:#x}: {ins}"
        if BRANCH.match(op):
            target = re.match(r"([0-9a-f]+) <", rest.strip())
            assert target, f"indirect branch at {addr:#x}: {ins}"
            assert low <= int(target.group(1), 16) < high, f"{addr:#x}: {ins} leaves the section"


def test_child_code_never_touches_the_thread_pointer() -> None:
    for addr, ins in _instructions():
        assert "%fs" not in ins and "%gs" not in ins, f"TLS access at {addr:#x}: {ins}"
        assert "tpidr_el0" not in ins, f"TLS access at {addr:#x}: {ins}"


def _function(name: str) -> list[str]:
    """The instructions of one function of the section."""
    body, inside = [], False
    for line in _disassembly().splitlines():
        if line.endswith(f"<{name}>:"):
            inside = True
        elif inside and line.endswith(">:"):
            break
        elif inside and re.match(r"\s+[0-9a-f]+:", line):
            body.append(line.split(":", 1)[1].strip())
    assert body, f"{name} not found"
    return body


def test_child_loop_never_touches_its_stack() -> None:
    """No push, pop, call or stack-pointer access: the stack we map for a
    child stays untouched, so a held thread costs only its slot."""
    for ins in _function("ts_child_main"):
        op = ins.split()[0]
        assert op not in ("push", "pop", "call", "ret", "stp", "ldp", "bl"), ins
        assert "%rsp" not in ins and "sp," not in ins and "[sp" not in ins, ins


CROSS = "aarch64-linux-gnu-gcc"


def _python_headers_or_skip() -> None:
    """Skip, saying why, when this Python's headers do not build for aarch64
    (Debian's pyconfig.h includes the target's own, from libpython3.x-dev:arm64)."""
    import sysconfig

    probe = subprocess.run(
        [CROSS, f"-I{sysconfig.get_paths()['include']}", "-E", "-x", "c", "-", "-o", "/dev/null"],
        input="#include <pyconfig.h>\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if probe.returncode != 0:
        errors = [ln.split("error: ", 1)[1] for ln in probe.stderr.splitlines() if "error: " in ln]
        pytest.skip(
            f"{CROSS} cannot read this Python's pyconfig.h: {(errors or [probe.stderr])[0]}"
        )


def _cross_compile(flags: list[str], name: str, out: Path) -> None:
    """One C file of ours compiled for aarch64, against this Python's headers."""
    import sysconfig

    _python_headers_or_skip()
    subprocess.run(
        [
            CROSS,
            *flags,
            "-O2",
            "-fPIC",
            f"-I{sysconfig.get_paths()['include']}",
            "-c",
            str(ROOT / "tidscope" / "csrc" / name),
            "-o",
            str(out / f"{name}.o"),
        ],
        check=True,
        timeout=120,
    )


@pytest.mark.skipif(shutil.which(CROSS) is None, reason=f"needs {CROSS}")
def test_aarch64_core_builds_and_its_loop_is_stackless(tmp_path: Path) -> None:
    """The same sources, cross-compiled for aarch64 with the flags setup.py
    uses: no warning, and the child's loop stores nothing on the stack."""
    setup = _setup_module()
    sources = setup.SOURCES["tidscope.core._rawclone"]
    assert {"child.c", "stacks.c", "group.c", "module.c"} <= set(sources)
    for name in sources:
        _cross_compile(setup.CFLAGS, name, tmp_path)
    csrc = ROOT / "tidscope" / "csrc"
    loop = tmp_path / "childloop.o"
    regs = [f"-fcall-used-{r}" for r in setup.CALL_USED["aarch64"]]
    subprocess.run(
        [
            CROSS,
            *setup.CFLAGS,
            *regs,
            "-O2",
            "-fPIC",
            "-c",
            str(csrc / "childloop.c"),
            "-o",
            str(loop),
        ],
        check=True,
        timeout=120,
    )
    dump = subprocess.check_output(
        ["aarch64-linux-gnu-objdump", "-d", "--no-show-raw-insn", str(loop)], text=True, timeout=120
    )
    body = [
        " ".join(ln.split(":", 1)[1].split())
        for ln in dump.splitlines()
        if re.match(r"\s+[0-9a-f]+:", ln)
    ]
    assert any(ins.startswith("svc") for ins in body)
    for ins in body:
        assert not ins.startswith(("stp", "ldp", "str x30", "bl ", "blr", "ret")), ins
        assert "sp" not in re.split(r"[\s,\[\]!#]+", ins), ins


def _setup_module() -> Any:
    """setup.py's CFLAGS, PLAIN_CFLAGS, CALL_USED and SOURCES, read without running setup()."""
    import ast

    values: dict[str, Any] = {}
    for node in ast.parse((ROOT / "setup.py").read_text()).body:
        if not isinstance(node, ast.Assign):
            continue
        target = node.targets[0]
        names = ("CFLAGS", "PLAIN_CFLAGS", "CALL_USED", "SOURCES")
        if isinstance(target, ast.Name) and target.id in names:
            values[target.id] = ast.literal_eval(node.value)
    return type("Setup", (), values)


@pytest.mark.skipif(shutil.which(CROSS) is None, reason=f"needs {CROSS}")
def test_aarch64_parent_side_extensions_build(tmp_path: Path) -> None:
    """The other extensions (the syscall gateway, the /proc reader, the
    tracer, whose ptrace requests read aarch64's registers by regset)
    compile for aarch64, without a warning, with setup.py's flags."""
    setup = _setup_module()
    others = {k: v for k, v in setup.SOURCES.items() if k != "tidscope.core._rawclone"}
    assert {"tidscope.core._syscall", "tidscope.proc._procread", "tidscope.watch._ptrace"} <= set(
        others
    )
    for sources in others.values():
        for name in sources:
            _cross_compile(setup.PLAIN_CFLAGS, name, tmp_path)
