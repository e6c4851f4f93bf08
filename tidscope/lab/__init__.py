"""``tidscope verify-flags``: each CLONE_* flag proved by experiment.  A lab is
a forked process an experiment runs in (runner.py); probes.py observes a
child from outside; experiments/ holds one experiment per flag; verify.py
runs and judges them."""
