"""The patient waterfall's labels and values: whole words, risk points that read as printed."""

from __future__ import annotations

import re

import pytest

from prognosis.report import svg

LONG = (
    "tetanus and diphtheria toxoids, adsorbed, preservative free, for adult use from 365 days "
    "before index to 1 day before index: no"
)


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ("Index drug: celecoxib", ["Index drug: celecoxib"]),
        (
            "Peptic ulcer any time up to 1 day before index: yes, 3 records",
            ["Peptic ulcer any time up to 1 day before index: yes,", "3 records"],
        ),
        (
            LONG,
            [
                "tetanus and diphtheria toxoids, adsorbed,",
                "preservative free, for adult use from 365 days…",
            ],
        ),
    ],
)
def test_labels_wrap_and_shorten_between_words(text: str, lines: list[str]) -> None:
    assert svg.wrap_label(text) == lines
    words = text.split()
    for line in lines:
        assert len(line) <= 52
        assert all(w in words or (w.endswith("…") and w[:-1] in words) for w in line.split())


def test_risk_points_waterfall_prints_percentages_and_points_with_full_labels() -> None:
    bars = [svg.WaterfallBar(LONG, 0.0644, 0.064), svg.WaterfallBar("Other", -0.0493, -0.049)]
    chart = str(svg.waterfall_svg(0.105, bars, 0.1201, scale="1-year risk", points=True))
    assert ">10.5%</text>" in chart and ">12.0%</text>" in chart
    assert "▲ +6.4 pp" in chart and "▼ \u22124.9 pp" in chart
    assert f"<title>{LONG}: +6.4 pp</title>" in chart  # the whole label in the tooltip
    assert "Cohort average" in chart  # the default first row
    tspans = re.findall(r'<tspan x="8" y="[\d.]+">([^<]*)</tspan>', chart)
    assert tspans == svg.wrap_label(LONG)
