"""The one /proc reader: how a file is read and what an unreadable one means
(files.py), a task's ``stat`` line, ``status`` and command line (task.py),
the proc root we read (root.py: whether it is a proc mount, hidepid, whether
it shows our own pid namespace, the machine's clock tick, boot time and pid
width), walks of every process or task (snapshot.py, with the C reader
_procread), each thread's files for readings an interval apart
(threads.py), procps's selection lists (selectors.py), one task's directory
held open (taskdir.py), the other per-task files (taskfiles.py), signal and
capability masks by name (masks.py) and syscall numbers by name
(syscall_names.py).  Imports only the floor."""
