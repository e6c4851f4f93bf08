"""The one /proc reader: how a file is read and what an unreadable one means
(files.py), the ``stat`` line (task.py) and ``status`` (status.py), what is
mounted where (mounts.py), whether a proc root shows our own pid namespace
(pidns.py), machine-wide facts (system.py), walks of every
process or task (snapshot.py, with the C reader _procread), one task's
directory held open (taskdir.py), the other per-task files (taskfiles.py),
signal and capability masks by name (masks.py) and syscall numbers by name
(syscall_names.py).  Imports only the floor."""
