"""tidscope.proc.syscall_names against the kernel headers installed, through the C
preprocessor: every ``__NR_*`` a header defines must have that number in our
table (ours may know newer syscalls than the headers do)."""

from __future__ import annotations

import platform
import shutil
import subprocess

import pytest

from tidscope.proc import masks, syscall_names

COMPILERS = {
    "x86_64": ("x86_64-linux-gnu-gcc", "gcc" if platform.machine() == "x86_64" else ""),
    "aarch64": ("aarch64-linux-gnu-gcc", "gcc" if platform.machine() == "aarch64" else ""),
}
SKIP = {"syscalls", "arch_specific_syscall"}  # counts and bases, not syscalls


def _cpp(cc: str, source: str, *flags: str) -> str:
    proc = subprocess.run(
        [cc, "-E", *flags, "-"],
        input=source,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def header_table(cc: str) -> dict[int, str]:
    """Number -> name of every ``__NR_`` macro ``<asm/unistd.h>`` defines for ``cc``."""
    include = "#include <asm/unistd.h>\n"
    names = [
        words[1][5:]
        for words in (line.split() for line in _cpp(cc, include, "-dM").splitlines())
        if len(words) > 2 and words[1].startswith("__NR_") and words[1][5:] not in SKIP
    ]
    expanded = _cpp(cc, include + "".join(f'@@ "{n}" __NR_{n}\n' for n in names), "-P")
    table = {}
    for line in expanded.splitlines():
        words = line.split()
        if words[:1] == ["@@"] and len(words) == 3 and words[2].isdigit():
            table[int(words[2])] = words[1].strip('"')
    return table


@pytest.mark.parametrize("arch", sorted(syscall_names.RUNS))
def test_every_number_the_headers_define_is_ours(arch: str) -> None:
    cc = next((c for c in COMPILERS[arch] if c and shutil.which(c)), None)
    if cc is None:
        pytest.skip(f"no C compiler for {arch}")
    theirs = header_table(cc)
    assert len(theirs) > 250, "the headers define too few syscalls to be believed"
    ours = syscall_names.table(arch)
    assert {nr: ours.get(nr) for nr in theirs} == theirs


def test_names_and_numbers() -> None:
    assert syscall_names.name(202, "x86_64") == syscall_names.name(98, "aarch64") == "futex"
    assert syscall_names.number("setuid", "x86_64") == 105
    assert syscall_names.name(99999, "x86_64") is None
    assert syscall_names.name(0, "riscv64") is None  # no table: no name, not a guess


def test_capability_names_are_the_headers() -> None:
    cc = "gcc" if shutil.which("gcc") else None
    if cc is None:
        pytest.skip("no C compiler")
    source = "#include <linux/capability.h>\n" + "".join(
        f'@@ "{n}" {n}\n' for n in masks.CAPABILITIES
    )
    numbers = {}
    for line in _cpp(cc, source, "-P").splitlines():
        words = line.split()
        if words[:1] == ["@@"]:
            numbers[words[1].strip('"')] = words[2]
    known = {n: str(i) for i, n in enumerate(masks.CAPABILITIES) if numbers[n] != n}
    assert known == {n: numbers[n] for n in known}
    assert len(known) >= 38  # headers older than ours may lack the newest


def test_masks_read_as_the_kernel_writes_them() -> None:
    raw_thread = masks.parse("fffffffffffbfeff")  # every signal but SIGKILL and SIGSTOP
    assert raw_thread is not None
    assert masks.signal_summary(raw_thread) == "all but SIGKILL,SIGSTOP"
    assert masks.signal_names(masks.parse("0000000000000000") or 0) == []
    assert masks.signal_names(1 << 9 | 1 << 14 | 3 << 31 | 1 << 33 | 1 << 63) == [
        "SIGUSR1", "SIGTERM", "SIG32", "SIG33", "SIGRTMIN", "SIGRTMAX"
    ]  # fmt: skip
    assert masks.capability_summary(masks.parse("000001ffffffffff") or 0, 40) == "all (41)"
    assert masks.capability_summary(1 | 1 << 8, 40) == "CAP_CHOWN,CAP_SETPCAP"
    assert masks.capability_names(1 << 45) == ["bit 45"]
    for bad in ("", "0x1", "-1", "xyz", "\u0661"):
        assert masks.parse(bad) is None
