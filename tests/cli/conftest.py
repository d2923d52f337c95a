"""Fixtures of the CLI tests: the report tests' cohort and model (tests/report/conftest.py)."""

from __future__ import annotations

from tests.report.conftest import built

__all__ = ["built"]
