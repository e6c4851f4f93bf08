"""Reproducible performance comparisons of tidscope against its peers."""
