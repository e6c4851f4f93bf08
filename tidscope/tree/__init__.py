"""``tidscope tree``: processes under their parents, threads under their
process (hierarchy.py)."""
