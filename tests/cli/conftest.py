"""Fixtures of the CLI tests: the report tests' cohort and model, and the headless browser
(tests/report/conftest.py)."""

from __future__ import annotations

from tests.report.conftest import browser, built

__all__ = ["browser", "built"]
