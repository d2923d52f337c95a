"""The Jinja2 environment, the filters, the charts' SVG: escaping, determinism, no URLs."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import numpy as np
import pytest

from prognosis.artifacts import Interval
from prognosis.report import charts, svg
from prognosis.report.render import environment, render_page, write_page

LABEL = "<script>alert(1)</script> Zzyzx"


def test_one_environment_autoescaping_and_strict() -> None:
    env = environment()
    assert env is environment()
    assert isinstance(env.loader, jinja2.PackageLoader)
    assert env.from_string("{{ x }}").render(x="<b>&") == "&lt;b&gt;&amp;"
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ missing }}").render()
    assert {
        "base.html.jinja2",
        "model.html.jinja2",
        "patient.html.jinja2",
        "patients_index.html.jinja2",
    } <= set(env.list_templates())


def test_filters_format_numbers_and_hide_small_counts() -> None:
    env = environment()
    text = env.from_string(
        "{{ 3 | count }} {{ 1234 | count }} {{ 0.1234 | percent }} {{ v | interval }} "
        "{{ 365 | horizon }} {{ 180 | horizon }}"
    ).render(v=Interval(0.71234, 0.7, 0.72, failed_resamples=0, extended_to_estimate=False))
    assert text == "&lt;5 1,234 12.3% 0.712 (0.700 to 0.720) 1 year 180 days"


def test_page_is_written_atomically(tmp_path: Path) -> None:
    html = render_page("base.html.jinja2", title=LABEL)
    assert "<title>&lt;script&gt;alert(1)&lt;/script&gt; Zzyzx</title>" in html
    assert "default-src 'none'" in html  # the page may fetch nothing
    path = write_page(tmp_path / "a" / "page.html", html)
    assert path.read_text(encoding="utf-8") == html
    assert [p.name for p in path.parent.iterdir()] == ["page.html"]


def _curve_chart(name: str) -> charts.Chart:
    times = np.linspace(0, 365, 20)
    curve = charts.Curve(LABEL, times, times / 1000, times / 1200, times / 900)
    return charts.risk_curves_chart([curve], ylabel="Observed risk", name=name)


def test_matplotlib_chart_is_inline_svg_escaped_and_deterministic() -> None:
    chart = _curve_chart("one")
    text = str(chart.svg)
    assert text.startswith("<svg") and "viewBox" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Zzyzx" in text
    assert "<script" not in text and "http" not in text and "<?xml" not in text
    assert text == str(_curve_chart("one").svg)
    ids = set(re.findall(r'id="([^"]+)"', text))
    assert ids and not ids & set(re.findall(r'id="([^"]+)"', str(_curve_chart("two").svg)))


def test_hand_written_charts_escape_labels() -> None:
    times = np.linspace(0, 365, 5)
    curve = svg.risk_curve_svg(times, times / 1000, times / 2000, [365.0], ylabel=LABEL)
    bars = [svg.WaterfallBar(LABEL, 0.4), svg.WaterfallBar("Other", -0.1)]
    waterfall = svg.waterfall_svg(-0.2, bars, 0.1, scale="log hazard")
    for text in (str(curve), str(waterfall)):
        assert "<script" not in text and "&lt;script&gt;" in text and "http" not in text
    assert "▲ +0.400" in str(waterfall) and "▼ \u22120.100" in str(waterfall)


def test_the_report_filter_words_horizons_as_explanations_do() -> None:
    # the one wording (prognosis.horizons): 730.5 days are two years of 365.25 days
    assert environment().from_string("{{ 730.5 | horizon }}").render() == "2 years"
