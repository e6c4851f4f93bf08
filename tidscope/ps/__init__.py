"""``tidscope ps``: procps's ps, byte for byte.  The command line resolved
(request.py, with bsd.py, formats.py, selection.py, sort.py), the columns
(columns.py and the tables it gathers: stat_columns.py, file_columns.py,
signal_columns.py, nop_columns.py, with context.py's words and per-run
state, machine.py, task_times.py, ttys.py), and procps's table
layout (layout.py, forest.py); run.py reads the tasks (its Query: which
ids, and why they matched nothing) and ties them."""
