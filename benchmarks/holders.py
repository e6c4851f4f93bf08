"""Processes that keep N threads alive while the peers list them.

``raw`` holds raw clone threads (tidscope's core) in a Python process;
``pthread`` holds pthreads with a given stack size in a C program compiled
on the fly.  Both report their own VmRSS before and after making the
threads, read from /proc/self/status, and hold until their stdin closes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from types import TracebackType

RAW = r"""
import sys
from tidscope.core.clone import Children
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
n, stack = int(sys.argv[1]), int(sys.argv[2])
before = rss()
with Children(n, program=(), stack_size=stack):
    print(f"ready {before} {rss()}", flush=True)
    sys.stdin.read()
"""

PTHREAD = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static int fds[2];
static void *hold(void *a) { char c; while (read(fds[0], &c, 1) > 0) ; return a; }
static long rss(void) {
    char line[256]; long kb = -1; FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f)) if (!strncmp(line, "VmRSS:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}
int main(int argc, char **argv) {
    int n = atoi(argv[1]); size_t stack = (size_t)atol(argv[2]);
    pthread_t *t = calloc((size_t)n, sizeof(*t)); pthread_attr_t attr; char c;
    if (pipe(fds)) return 1;
    pthread_attr_init(&attr);
    if (stack) pthread_attr_setstacksize(&attr, stack);
    long before = rss();
    for (int i = 0; i < n; i++) if (pthread_create(&t[i], &attr, hold, NULL)) return 2;
    printf("ready %ld %ld\n", before, rss()); fflush(stdout);
    while (read(0, &c, 1) > 0) ;
    close(fds[1]);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return 0;
}
"""


def compile_pthread_holder(workdir: str) -> str | None:
    """Build the C holder; None if there is no C compiler."""
    src = os.path.join(workdir, "holder.c")
    with open(src, "w") as f:
        f.write(PTHREAD)
    return compile_c(src, os.path.join(workdir, "holder"), "-lpthread")


FLOOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "floor.c")


def compile_floor(workdir: str) -> str | None:
    """Build benchmarks/floor.c (open, read, close every task's stat)."""
    return compile_c(FLOOR, os.path.join(workdir, "floor"))


def compile_c(src: str, exe: str, *libs: str) -> str | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    subprocess.run([cc, "-O2", "-o", exe, src, *libs], check=True)
    return exe


@dataclass
class Holder:
    """A running holder: ``pid``, and its RSS (KiB) before/after the threads."""

    proc: subprocess.Popen[str]
    rss_before: int
    rss_after: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Holder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(120)


def start(kind: str, n: int, stack: int = 65536, exe: str | None = None) -> Holder:
    """Start a holder of ``n`` threads and wait until they all exist."""
    if kind == "raw":
        cmd = [sys.executable, "-c", RAW, str(n), str(stack)]
    else:
        assert exe is not None
        cmd = [exe, str(n), str(stack)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{kind} holder of {n} threads did not start")
    return Holder(proc, int(line[1]), int(line[2]))


def workdir() -> str:
    return tempfile.mkdtemp(prefix="tidscope-bench-")
