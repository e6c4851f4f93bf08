"""The raw-clone core's typed face: clone(2)/clone3(2) children on stacks of
our own (clone.py over the C extension _rawclone), the CLONE_* flags by name
and the kernel's rules for them (flags.py), why a clone failed
(clone_errors.py), reaping what is ours (reaper.py), kcmp(2) (kcmp.py),
terminating signals as exceptions (signals.py) and ``sh -c`` with a clean
signal state (shell.py).  Imports proc/ and the floor, nothing above."""
