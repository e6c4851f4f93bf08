"""Build the raw-clone C core; everything else is in pyproject.toml."""

import platform

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CSRC = "tidscope/csrc/"

# Each extension's sources under CSRC (tests/test_child_object.py cross-builds
# them for aarch64).  The raw-clone core's childloop.c is compiled apart, below.
SOURCES = {
    "tidscope.core._rawclone": [
        "module.c",
        "pygroup.c",
        "group.c",
        "stacks.c",
        "child.c",
        "bench.c",
        "command.c",
    ],
    "tidscope.core._syscall": ["syscall.c"],
    "tidscope.proc._procread": ["procread.c", "reader_io.c", "stat_parse.c", "walker.c"],
    "tidscope.watch._ptrace": ["ptrace.c"],
}

# The child path runs on a raw stack with the parent's TLS register: no
# stack protector (it reads %fs:0x28), no builtins, no jump tables (an
# indirect branch into .rodata), warnings are errors.
CFLAGS = [
    "-std=gnu11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fno-stack-protector",
    "-fno-builtin",
    "-fno-jump-tables",
    "-fvisibility=hidden",
]

# The other modules run only in the parent: ordinary flags, warnings are errors;
# what one file of an extension gives another stays inside the extension.
PLAIN_CFLAGS = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-O2", "-fvisibility=hidden"]

# The child's loop never returns, so it need not save the registers its
# caller would expect preserved: declared call-clobbered, they are used
# freely and nothing is pushed - the loop touches no stack at all.
CALL_USED = {
    "x86_64": ["rbx", "r12", "r13", "r14", "r15"],
    "aarch64": ["x19", "x20", "x21", "x22", "x23", "x24", "x25", "x26", "x27", "x28"],
}


class BuildExt(build_ext):
    """Compile childloop.c with its own flags, then the raw-clone core as usual."""

    def build_extension(self, ext: Extension) -> None:
        if ext.name != "tidscope.core._rawclone":
            super().build_extension(ext)
            return
        regs = CALL_USED.get(platform.machine(), [])
        objects = self.compiler.compile(
            [CSRC + "childloop.c"],
            output_dir=self.build_temp,
            extra_postargs=CFLAGS + [f"-fcall-used-{r}" for r in regs],
            depends=[CSRC + "rawclone.h"],
        )
        ext.extra_objects = objects
        super().build_extension(ext)


def sources(name: str) -> list[str]:
    return [CSRC + f for f in SOURCES[name]]


setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=[
        Extension(
            "tidscope.core._rawclone",
            sources=sources("tidscope.core._rawclone"),
            depends=[CSRC + "rawclone.h", CSRC + "module.h", CSRC + "childloop.c"],
            extra_compile_args=CFLAGS,
        ),
        Extension(
            "tidscope.core._syscall",
            sources=sources("tidscope.core._syscall"),
            extra_compile_args=PLAIN_CFLAGS,
        ),
        Extension(
            "tidscope.proc._procread",
            sources=sources("tidscope.proc._procread"),
            depends=[CSRC + "procread.h"],
            extra_compile_args=PLAIN_CFLAGS,
            extra_link_args=["-pthread"],
        ),
        Extension(
            "tidscope.watch._ptrace",
            sources=sources("tidscope.watch._ptrace"),
            extra_compile_args=PLAIN_CFLAGS,
        ),
    ],
)
