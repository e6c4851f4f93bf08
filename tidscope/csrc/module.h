/* tidscope.core._rawclone: what its Python faces share (private).
 *
 * The extension holds the raw-clone core (rawclone.h: child.c, childloop.c,
 * stacks.c, group.c, which touch no Python object) and, beside it, two
 * helpers that are no part of the raw-clone path but are C for a reason of
 * their own: bench.c (pthreads timed in C) and command.c (vfork and exec
 * with a chosen signal state).  Each face parses its arguments, calls the C
 * and turns -errno into OSError; policy and messages live in Python:
 *
 *   module.c   the module: its constants, the stack cache, and the rest added
 *   pygroup.c  the Group type (tidscope/core/clone.py is its typed face)
 *   bench.c    pthread_bench (tidscope/spawn/bench.py)
 *   command.c  spawn_command (tidscope/core/shell.py)
 *
 * The raw syscall gateway is an extension of its own, tidscope.core._syscall
 * (syscall.c): it needs nothing of the core.
 */
#ifndef TIDSCOPE_MODULE_H
#define TIDSCOPE_MODULE_H

#define PY_SSIZE_T_CLEAN
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <Python.h>

/* A guard page and two pages of stack: children use none of it (see
 * childloop.c), but a stack smaller than this is surely a mistake. */
#define MIN_STACK_PAGES 3

/* OSError for a -errno; NULL. */
PyObject *ts_errno_error(int neg_errno);

extern PyTypeObject ts_group_type;  /* pygroup.c */
extern PyMethodDef ts_bench_methods[];   /* bench.c */
extern PyMethodDef ts_command_methods[]; /* command.c */

#endif
