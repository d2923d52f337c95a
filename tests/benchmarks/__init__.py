"""Benchmarks run by ``make bench`` (``tests/benchmarks/run.py``); not part of ``make test``."""
