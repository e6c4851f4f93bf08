"""The package is whole (issue 18).

Every module of tidscope imports on its own, in a fresh interpreter.  And,
slow: the sdist made from this tree carries what its own tests need; a wheel
built from that sdist (not from the tree) with the oldest setuptools that
pyproject.toml declares installs a working ``tidscope``; the sdist's tests
import against that installed wheel; ``pip install .`` gives a working
``tidscope`` too.
"""

from __future__ import annotations

import concurrent.futures
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

import tidscope

ROOT = Path(__file__).resolve().parent.parent

# What a copy of the tree leaves out: VCS, build products, caches, venvs.
JUNK = (".git", "build", "dist", ".venv*", "*.so", "*.o", "*.egg-info", "*_cache", "__pycache__")
JUNK_FILE = re.compile(r".*\.(so|o|py[cod])$")

# The line `tidscope spawn` prints first, and one line per child.
PARENT_LINE = re.compile(r"parent thread, pid: (\d+), tid: \1")
CHILD_LINE = re.compile(r"child thread, pid: (\d+), tid: (\d+)")


def _run(
    cmd: Sequence[str | Path],
    *,
    timeout: float,
    cwd: Path | str = "/",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``cmd``, which must exit 0 within ``timeout`` seconds (else the test
    fails with its output).  PYTHONPATH and PYTHONHOME are left out, so
    that nothing of this tree leaks into an install under test."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    clean["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    proc = subprocess.run(
        [str(c) for c in cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**clean, **(env or {})},
        check=False,
    )
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


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
    for tidscope.lab.probes)."""
    names = _modules()
    assert {"tidscope.lab.probes", "tidscope.cli.app", "tidscope.lab.experiments.clone3"} <= set(
        names
    )
    extensions = {
        "tidscope.core._rawclone",
        "tidscope.core._syscall",
        "tidscope.proc._procread",
        "tidscope.watch._ptrace",
    }
    assert extensions <= set(names)
    workers = max(2, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(_import_alone, names))
    failed = {name: err.strip().splitlines()[-1:] for name, rc, err in results if rc != 0}
    assert not failed, failed


# -- the sdist, the oldest setuptools, the installs (slow) ---------------------------

# Each step below creates a venv and installs into it from the package index,
# or compiles the C core: together a minute or two on an idle machine, and
# several times that on a loaded one, so these tests get 600 s, not 180.
BUILD_TIMEOUT = 600


def _venv(where: Path) -> Path:
    """A fresh venv with the pip that ``python -m venv`` brings; its bin/."""
    _run([sys.executable, "-m", "venv", where], timeout=300)
    return where / "bin"


def _setuptools_floor() -> str:
    """The oldest setuptools pyproject.toml's build-system allows."""
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    (spec,) = [r for r in requires if re.match(r"setuptools\b", r)]
    floor = re.search(r">=\s*([0-9][0-9.]*)", spec)
    assert floor, f"no lower bound in {spec!r}"
    return floor.group(1)


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _tree_version() -> str:
    init = (ROOT / "tidscope" / "__init__.py").read_text()
    found = re.search(r'^__version__ = "([^"]+)"', init, re.MULTILINE)
    assert found
    return found.group(1)


def _check_command(bin_dir: Path) -> None:
    """``tidscope`` found on PATH in ``bin_dir`` is scripts/tidscope, run by
    the venv's python, and works: spawn prints the classic lines, ps lists
    pid 1, --version is the tree's."""
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    exe = shutil.which("tidscope", path=path)
    assert exe == str(bin_dir / "tidscope")
    shebang, body = Path(exe).read_text().split("\n", 1)
    assert shebang.startswith(f"#!{bin_dir}/python"), shebang
    assert body == (ROOT / "scripts" / "tidscope").read_text().split("\n", 1)[1]
    env = {"PATH": path}
    out = _run(["tidscope", "spawn", "-n", "2"], timeout=60, env=env).stdout.splitlines()
    assert PARENT_LINE.fullmatch(out[0]), out
    pid = int(out[0].split()[3].rstrip(","))
    children = [CHILD_LINE.fullmatch(line) for line in out[1:]]
    assert len(children) == 2 and all(children), out
    assert all(m and int(m.group(1)) == pid and int(m.group(2)) != pid for m in children), out
    ps = _run(["tidscope", "ps", "-p", "1"], timeout=60, env=env).stdout.splitlines()
    assert ps[0].split() == ["PID", "TTY", "TIME", "CMD"] and ps[1].split()[0] == "1", ps
    version = _run(["tidscope", "--version"], timeout=60, env=env).stdout
    assert version == f"tidscope, version {_tree_version()}\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tree: building writes egg-info and build/ into it."""
    dst = tmp_path_factory.mktemp("tree") / "tidscope"
    shutil.copytree(ROOT, dst, ignore=shutil.ignore_patterns(*JUNK))
    return dst


@pytest.fixture(scope="module")
def sdist(tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdist")
    _run([sys.executable, "-m", "build", "--sdist", "--outdir", out, tree], timeout=BUILD_TIMEOUT)
    (found,) = out.glob("tidscope-*.tar.gz")
    return found


@pytest.fixture(scope="module")
def unpacked(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dst = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(sdist) as tar:
        # filter= came with 3.11.4 (and 3.12): older 3.11s extract as before
        if hasattr(tarfile, "data_filter"):
            tar.extractall(dst, filter="data")
        else:
            tar.extractall(dst)  # our own sdist, just built
    (top,) = dst.iterdir()
    return top


@pytest.fixture(scope="module")
def floor_wheel(unpacked: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the unpacked sdist, without build isolation, in
    a venv with exactly the oldest setuptools we declare (and the rest of
    build-system.requires as declared)."""
    where = tmp_path_factory.mktemp("floor")
    bin_dir = _venv(where / "venv")
    floor = _setuptools_floor()
    requires = tomllib.loads((unpacked / "pyproject.toml").read_text())["build-system"]["requires"]
    others = [r for r in requires if not re.match(r"setuptools\b", r)]
    pip: list[str | Path] = [bin_dir / "python", "-m", "pip"]
    _run([*pip, "install", f"setuptools=={floor}", *others], timeout=BUILD_TIMEOUT)
    code = "import setuptools; print(setuptools.__version__)"
    used = _run([bin_dir / "python", "-c", code], timeout=60).stdout.strip()
    assert _release(used) == _release(floor), (used, floor)
    out = where / "wheels"
    cmd = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", out, unpacked]
    _run(cmd, timeout=BUILD_TIMEOUT)
    (wheel,) = out.glob("tidscope-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(floor_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with that wheel and its test extra installed; its bin/."""
    bin_dir = _venv(tmp_path_factory.mktemp("installed") / "venv")
    _run(
        [bin_dir / "python", "-m", "pip", "install", f"{floor_wheel}[test]"],
        timeout=BUILD_TIMEOUT,
    )
    return bin_dir


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)  # builds the sdist (see BUILD_TIMEOUT)
def test_the_sdist_holds_what_the_tests_need(tree: Path, sdist: Path) -> None:
    """Every file of the tree's package, C core, stubs, tests, benchmarks,
    man pages and launcher is in the sdist, and the licence and README."""
    with tarfile.open(sdist) as tar:
        top = f"{sdist.name.removesuffix('.tar.gz')}/"
        names = {n.removeprefix(top) for n in tar.getnames()}
    wanted = {"LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in"}
    for sub in ("benchmarks", "man", "scripts", "tests", "tidscope"):
        wanted |= {
            p.relative_to(tree).as_posix()
            for p in (tree / sub).rglob("*")
            if p.is_file() and not JUNK_FILE.match(p.name)
        }
    assert {"benchmarks/watch.py", "tests/conftest.py", "tidscope/csrc/rawclone.h"} <= wanted
    assert {"tidscope/core/_rawclone.pyi", "tidscope/core/_syscall.pyi"} <= wanted
    assert not wanted - names, sorted(wanted - names)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)  # builds the sdist, then a wheel in a venv of its own
def test_the_wheel_from_the_sdist_with_the_oldest_setuptools_works(
    floor_wheel: Path, installed: Path
) -> None:
    """Installed in a fresh venv, the wheel gives a ``tidscope`` on PATH
    that runs; it carries the licence and the man pages."""
    assert floor_wheel.name.startswith(f"tidscope-{_tree_version()}-")
    with zipfile.ZipFile(floor_wheel) as z:
        names = set(z.namelist())
    info = f"tidscope-{_tree_version()}.dist-info"
    assert any(n.startswith(f"{info}/") and n.endswith("LICENSE") for n in names), sorted(names)
    assert f"tidscope-{_tree_version()}.data/data/share/man/man1/tidscope.1" in names
    _check_command(installed)


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)  # the sdist, a wheel and a venv with the test extra
def test_the_sdists_tests_import_against_the_installed_wheel(
    unpacked: Path, installed: Path, tmp_path: Path
) -> None:
    """``python -m pytest --collect-only`` in the sdist's tree, with its
    tidscope/ sources left out so that what the tests import is the
    installed wheel (and benchmarks/, which they import too, the sdist's)."""
    tests = tmp_path / unpacked.name

    def ignore(directory: str, names: list[str]) -> set[str]:
        top = {"tidscope", "build"} if Path(directory) == unpacked else set()
        return top | set(shutil.ignore_patterns(*JUNK)(directory, names))

    shutil.copytree(unpacked, tests, ignore=ignore)
    python = installed / "python"
    where = _run([python, "-c", "import tidscope; print(tidscope.__file__)"], timeout=60, cwd=tests)
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    cmd: list[str | Path] = [
        python,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    proc = _run(cmd, timeout=300, cwd=tests)
    *_, summary = proc.stdout.splitlines()  # "N/M tests collected (K deselected) in S s"
    assert re.match(r"\d+(/\d+)? tests collected", summary), proc.stdout[-2000:]
    assert not re.search(r"\berrors?\b", summary), proc.stdout[-2000:]
    assert re.search(r"tests/test_watch\.py::", proc.stdout), proc.stdout


@pytest.mark.slow
@pytest.mark.timeout(BUILD_TIMEOUT)  # a venv, and pip builds the C core in isolation
def test_pip_install_dot_gives_a_working_command(tree: Path, tmp_path: Path) -> None:
    """``pip install .`` in a copy of the tree, into a fresh venv."""
    bin_dir = _venv(tmp_path / "venv")
    _run([bin_dir / "python", "-m", "pip", "install", "."], timeout=BUILD_TIMEOUT, cwd=tree)
    _check_command(bin_dir)
