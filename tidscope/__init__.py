"""tidscope: see Linux threads and processes as the kernel makes them."""

__version__ = "0.1.0"
