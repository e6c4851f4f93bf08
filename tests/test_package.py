"""The package is whole (issue 18): every module of tidscope imports on
its own, in a fresh interpreter."""

from __future__ import annotations

import concurrent.futures
import os
import pkgutil
import subprocess
import sys

import tidscope

# -- every module on its own (fast) --------------------------------------------------


def _modules() -> list[str]:
    """Every module of the imported tidscope package (the installed one when
    the tests run against an install), found on disk: nothing is imported."""
    found = ["tidscope"]

    def walk(path: str, prefix: str) -> None:
        for info in pkgutil.iter_modules([path], prefix):
            found.append(info.name)
            if info.ispkg:
                walk(os.path.join(path, info.name.rpartition(".")[2]), info.name + ".")

    for path in tidscope.__path__:
        walk(path, "tidscope.")
    return sorted(found)


def _import_alone(name: str) -> tuple[str, int, str]:
    # __main__ runs the command line: it is given --version, which exits 0.
    code = f"import sys; sys.argv = ['tidscope', '--version']; import {name}"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
        check=False,
    )
    return name, proc.returncode, proc.stderr


def test_every_module_imports_on_its_own() -> None:
    """``import tidscope.X`` in a fresh interpreter, for every module X: an
    import cycle that only the usual import order hides fails here (it did
    for tidscope.probes)."""
    names = _modules()
    assert {"tidscope.probes", "tidscope.cli.app", "tidscope.experiments.clone3"} <= set(names)
    assert {"tidscope._rawclone", "tidscope._procread", "tidscope._ptrace"} <= set(names)
    workers = max(2, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(_import_alone, names))
    failed = {name: err.strip().splitlines()[-1:] for name, rc, err in results if rc != 0}
    assert not failed, failed
