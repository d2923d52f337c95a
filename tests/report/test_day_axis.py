"""The one tick ladder of day axes, used by the SVG patient charts and the matplotlib charts."""

from __future__ import annotations

import pytest

from prognosis.report.svg import day_step


@pytest.mark.parametrize(
    ("span", "step"),
    [
        (0, 30),  # an empty axis still gets a step
        (240, 30),  # 8 intervals of 30 days
        (300, 60),  # 300 / 30 = 10 > 8; 300 / 60 = 5
        (600, 90),  # 600 / 60 = 10 > 8; 600 / 90 = 6.7
        (1000, 180),
        (1826, 365),  # 5-year follow-up: yearly ticks
        (5000, 730),
        (10000, 1825),
        (20000, 2500),  # past the ladder: 20000 / 8 = 2500, a round number (2.5 x 1000)
        (30000, 5000),  # 30000 / 8 = 3750, rounded up to 5 x 1000
    ],
)
def test_day_step_ladder(span: float, step: float) -> None:
    assert day_step(span) == step
