"""One wording of a horizon, as a noun ("1 year") and before a noun ("the 1-year risk")."""

from __future__ import annotations

import pytest

from prognosis.horizons import horizon_text


@pytest.mark.parametrize(
    ("days", "noun", "before_noun"),
    [
        (365, "1 year", "1-year"),
        (730, "2 years", "2-year"),
        (730.5, "2 years", "2-year"),  # two years of 365.25 days
        (1825, "5 years", "5-year"),
        (30, "30 days", "30-day"),
        (180, "180 days", "180-day"),
        (182.5, "182.5 days", "182.5-day"),  # half a year is not a whole year
        (1826, "1826 days", "1826-day"),  # 5 x 365.25 = 1826.25: not whole years either way
    ],
)
def test_horizon_in_words(days: float, noun: str, before_noun: str) -> None:
    assert horizon_text(days) == noun
    assert horizon_text(days, before_noun=True) == before_noun
