"""tidscope: see Linux threads and processes as the kernel makes them."""

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.1.0"
