"""Build the raw-clone C core; everything else is in pyproject.toml."""

from setuptools import Extension, setup

CSRC = "tidscope/csrc/"

setup(
    ext_modules=[
        Extension(
            "tidscope._rawclone",
            sources=[CSRC + f for f in ("module.c", "group.c", "stacks.c", "child.c")],
            depends=[CSRC + "rawclone.h"],
            # The child path runs on a raw stack with the parent's TLS register:
            # no stack protector (it reads %fs:0x28), no sanitizers, no builtins.
            extra_compile_args=[
                "-std=gnu11",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fno-stack-protector",
                "-fno-builtin",
                "-fno-jump-tables",
                "-fvisibility=hidden",
            ],
        )
    ]
)
