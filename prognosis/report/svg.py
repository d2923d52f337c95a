"""Hand-written SVG: the two charts of a patient page (risk curve, waterfall) and the
model report's attrition flow diagram.

Patient pages are rendered by the thousand (``make bench`` asks for 1,000 in under a minute),
and a matplotlib figure costs about a hundred times more than these few lines of SVG, so these
two simple charts are drawn directly. Every text is escaped (:func:`markupsafe.escape`); the
result names no URL, and meaning never rests on colour alone: the patient's line is solid and
the cohort's dashed, both labelled at their ends, and each waterfall bar carries ▲ or ▼ and a
signed number. The flow diagram shows only the texts it is given (the attrition table's,
already protected), wrapped to fit its boxes.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup, escape

__all__ = [
    "FlowStep",
    "WaterfallBar",
    "attrition_flow_svg",
    "day_step",
    "risk_curve_svg",
    "waterfall_svg",
    "wrap_label",
]

UP, DOWN, PATIENT, COHORT = "#B23A00", "#0060A0", "#0060A0", "#555555"


def _f(value: float) -> str:
    return f"{value:.1f}"


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)


def day_step(span: float) -> float:
    """Tick spacing for a day axis of ``span`` days, at most eight intervals: months (30, 60
    or 90 days), half years, years, two or five years, past that a round number of days.

    The one ladder of every day axis (SVG and matplotlib charts alike)."""
    for step in (30, 60, 90, 180, 365, 730, 1825):
        if span / step <= 8:
            return float(step)
    return _nice_step(span, 8)


def risk_curve_svg(
    times: np.ndarray,
    patient: np.ndarray,
    cohort: np.ndarray,
    horizons: Sequence[float],
    *,
    ylabel: str,
    xlabel: str = "Days since index",
    horizon_labels: Sequence[str] | None = None,
) -> Markup:
    """The patient's cumulative risk (solid) against the cohort's average (dashed); the
    horizons as dotted lines, named by ``horizon_labels``."""
    width, height = 640, 290
    left, right, top, bottom = 58, 150, 14, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    t_max = float(times[-1]) or 1.0
    y_max = max(float(np.max(patient)), float(np.max(cohort)), 0.01) * 1.12
    y_step = _nice_step(y_max)
    y_max = math.ceil(y_max / y_step) * y_step

    def x(t: float) -> float:
        return left + plot_w * t / t_max

    def y(p: float) -> float:
        return top + plot_h * (1.0 - p / y_max)

    out = [
        f'<svg viewBox="0 0 {width} {height}" class="chart-svg" role="img" '
        f'aria-label="{escape(ylabel)}: this patient against the cohort average">',
        '<g class="grid" stroke="#dddddd" stroke-width="1">',
    ]
    labels = []
    for k in range(round(y_max / y_step) + 1):
        value = k * y_step
        out.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{_f(y(value))}" y2="{_f(y(value))}"/>'
        )
        labels.append(
            f'<text x="{left - 6}" y="{_f(y(value) + 3.5)}" text-anchor="end">'
            f"{100 * value:.{0 if y_step >= 0.01 else 1}f}%</text>"
        )
    step = day_step(t_max)
    ticks = np.arange(0.0, t_max + 1e-9, step)
    for t in ticks:
        labels.append(
            f'<text x="{_f(x(t))}" y="{top + plot_h + 15}" text-anchor="middle">{t:g}</text>'
        )
    out.append("</g>")
    out.append(f'<g font-size="11" fill="#333333">{"".join(labels)}</g>')
    for horizon, name in zip(horizons, horizon_labels or [], strict=False):
        out.append(
            f'<line x1="{_f(x(horizon))}" x2="{_f(x(horizon))}" y1="{top}" '
            f'y2="{top + plot_h}" stroke="#888888" stroke-dasharray="2 3"/>'
            f'<text x="{_f(x(horizon) - 4)}" y="{top + 11}" text-anchor="end" font-size="10" '
            f'fill="#555555">{escape(name)}</text>'
        )
    out.append(_polyline(times, cohort, x, y, COHORT, 'stroke-dasharray="7 4" stroke-width="2"'))
    out.append(_polyline(times, patient, x, y, PATIENT, 'stroke-width="2.6"'))
    for horizon in horizons:
        value = float(np.interp(horizon, times, patient))
        out.append(f'<circle cx="{_f(x(horizon))}" cy="{_f(y(value))}" r="3.5" fill="{PATIENT}"/>')
    end_patient, end_cohort = y(float(patient[-1])), y(float(cohort[-1]))
    if abs(end_patient - end_cohort) < 26:  # keep the two end labels apart
        middle = (end_patient + end_cohort) / 2
        shift = 13 if end_patient >= end_cohort else -13
        end_patient, end_cohort = middle + shift, middle - shift
    out.append(_end_label(left + plot_w + 6, end_patient, "This patient", patient[-1], PATIENT))
    out.append(_end_label(left + plot_w + 6, end_cohort, "Cohort average", cohort[-1], COHORT))
    out.append(
        f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#333333"/>'
        f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#333333"/>'
        f'<text x="{left + plot_w / 2}" y="{height - 8}" text-anchor="middle" font-size="12">'
        f"{escape(xlabel)}</text>"
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle" '
        f'font-size="12">{escape(ylabel)}</text>'
        "</svg>"
    )
    return Markup("".join(out))


def _polyline(
    times: np.ndarray,
    values: np.ndarray,
    x: Callable[[float], float],
    y: Callable[[float], float],
    colour: str,
    style: str,
) -> str:
    points = " ".join(f"{_f(x(t))},{_f(y(v))}" for t, v in zip(times, values, strict=True))
    return f'<polyline fill="none" stroke="{colour}" {style} points="{points}"/>'


def _end_label(x: float, y: float, text: str, value: float, colour: str) -> str:
    return (
        f'<text x="{_f(x)}" y="{_f(y + 4)}" font-size="12" fill="{colour}">'
        f'{escape(text)} <tspan font-weight="bold">{100 * value:.1f}%</tspan></text>'
    )


@dataclass(frozen=True)
class WaterfallBar:
    """One bar: a factor's contribution, positive = towards higher risk."""

    label: str
    contribution: float
    shown: float | None = None  # the value printed, when rounded apart (same unit)


def waterfall_svg(
    base: float,
    bars: Sequence[WaterfallBar],
    final: float,
    *,
    scale: str,
    points: bool = False,
    start_label: str = "Cohort average",
) -> Markup:
    """Bars from the reference to this patient's value, one per factor, in order.

    Parameters
    ----------
    base, final : float
        Where the bars start (the reference) and end (this patient).
    bars : sequence of WaterfallBar
        The factors; ``base + sum(contributions) == final``.
    scale : str
        The unit, named under the axis.
    points : bool
        Values are probabilities: ``base`` and ``final`` read as percentages, the bars as
        percentage points ("+2.3 pp"); otherwise all read as signed numbers (``+0.400``).
    start_label : str
        The first row's name.
    """
    row, left, bar_left, bar_right, width = 26, 8, 330, 590, 680
    height = row * (len(bars) + 2) + 40
    path = np.cumsum([base, *[bar.contribution for bar in bars]])
    low, high = float(min(path.min(), final)), float(max(path.max(), final))
    pad = (high - low) * 0.08 or (0.005 if points else 0.5)
    low, high = low - pad, high + pad
    level, move = (_percent, _points) if points else (_signed, _unsigned)

    def x(value: float) -> float:
        return bar_left + (bar_right - bar_left) * (value - low) / (high - low)

    out = [
        f'<svg viewBox="0 0 {width} {height}" class="chart-svg" role="img" '
        f"aria-label=\"Waterfall of the factors that move this patient's prediction, "
        f'{escape(scale)}">',
        f'<line x1="{_f(x(base))}" x2="{_f(x(base))}" y1="{row // 2}" y2="{height - 30}" '
        'stroke="#999999" stroke-dasharray="3 3"/>',
        _row_label(left, row, start_label, bold=True),
        f'<text x="{width - 4}" y="{row - 9}" text-anchor="end" font-size="11">'
        f"{level(base)}</text>",
    ]
    start = base
    for i, bar in enumerate(bars, start=1):
        out.append(_bar(bar, i, row, width, (x(start), x(start + bar.contribution)), move))
        start += bar.contribution
    y_final = row * (len(bars) + 1) + 6
    out.append(_row_label(left, row * (len(bars) + 2), "This patient", bold=True))
    out.append(
        f'<line x1="{_f(x(final))}" x2="{_f(x(final))}" y1="{y_final}" y2="{y_final + row - 10}" '
        f'stroke="#000000" stroke-width="3"/>'
        f'<text x="{width - 4}" y="{row * (len(bars) + 2) - 9}" text-anchor="end" '
        f'font-size="11" font-weight="bold">{level(final)}</text>'
        f'<text x="{(bar_left + bar_right) / 2}" y="{height - 8}" text-anchor="middle" '
        f'font-size="11">{escape(scale)} (right = higher risk)</text>'
        "</svg>"
    )
    return Markup("".join(out))


def _bar(
    bar: WaterfallBar,
    i: int,
    row: int,
    width: int,
    ends: tuple[float, float],
    move: Callable[[float], str],
) -> str:
    """Row ``i``: the label (full text in the tooltip), the bar, and its signed value."""
    y_top = row * i + 6
    up = bar.contribution >= 0
    colour, mark = (UP, "▲") if up else (DOWN, "▼")
    x0, x1 = sorted(ends)
    printed = bar.contribution if bar.shown is None else bar.shown
    sign = "+" if printed > 0 or (printed == 0 and up) else "\u2212"
    value = f"{mark} {sign}{move(abs(printed))}"
    return (
        f"<g><title>{escape(bar.label)}: {sign}{move(abs(printed))}</title>"
        + _row_label(8, row * (i + 1), bar.label)
        + f'<rect x="{_f(x0)}" y="{y_top}" width="{_f(max(x1 - x0, 1.0))}" height="{row - 10}"'
        f' fill="{colour}"/>'
        # the values in a column of their own, right of the bars
        f'<text x="{width - 4}" y="{row * (i + 1) - 9}" text-anchor="end" '
        f'font-size="11" fill="{colour}">{value}</text></g>'
    )


def _percent(value: float) -> str:
    return f"{100 * value:.1f}%"


def _points(value: float) -> str:
    return f"{100 * value:.1f} pp"


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def _unsigned(value: float) -> str:
    return f"{value:.3f}"


#: Characters of a label line that fit left of the bars at font size 11.
_LINE = 52


def wrap_label(text: str, width: int = _LINE, lines: int = 2) -> list[str]:
    """``text`` in at most ``lines`` lines of ``width`` characters, broken between words; a
    longer text ends its last line with "…" after a whole word (never inside one).

    Parameters
    ----------
    text : str
    width, lines : int

    Returns
    -------
    list of str
        The lines, at least one.
    """
    words, out, current = text.split(), [], ""
    for k, word in enumerate(words):
        joined = f"{current} {word}" if current else word
        if len(joined) <= width or not current:
            current = joined
            continue
        out.append(current)
        current = word
        if len(out) == lines - 1 and len(" ".join([current, *words[k + 1 :]])) > width:
            return [*out, _cut(" ".join([current, *words[k + 1 :]]), width)]
    return [*out, _cut(current, width)] if current else out or [""]


def _cut(text: str, width: int) -> str:
    """``text`` shortened to whole words within ``width - 1`` characters, then "…"."""
    if len(text) <= width:
        return text
    head = text[: width - 1]
    space = head.rfind(" ")
    return (head[:space] if space > 0 else head).rstrip(" ,;:") + "…"


def _row_label(x: float, y_bottom: float, text: str, *, bold: bool = False) -> str:
    weight = ' font-weight="bold"' if bold else ""
    parts = wrap_label(text)
    if len(parts) == 1:
        return f'<text x="{x}" y="{y_bottom - 9}" font-size="11"{weight}>{escape(parts[0])}</text>'
    spans = "".join(
        f'<tspan x="{x}" y="{y_bottom - 15 + 11 * k}">{escape(part)}</tspan>'
        for k, part in enumerate(parts)
    )
    return f'<text font-size="10.5"{weight}>{spans}</text>'


@dataclass(frozen=True)
class FlowStep:
    """One box of the flow diagram: the criterion, the persons left, the persons it dropped
    (texts as the attrition table shows them: ``1,234``, ``<5``, ``hidden``)."""

    description: str
    persons: str
    dropped: str | None = None  # None for the first step, which drops no one


_FLOW_WIDTH, _BOX_W, _SIDE_X, _LINE, _GAP, _WRAP = 360, 210, 236, 14, 40, 32


def attrition_flow_svg(steps: Sequence[FlowStep]) -> Markup:
    """Boxes and arrows, top to bottom: one box per step with the persons left after it, and
    from each arrow between two boxes a side arrow to the persons that step excluded.

    360 units wide, scaled to its container (``chart-svg``), so it fits a 390-px phone screen;
    every text is escaped, and descriptions are wrapped to the boxes (three lines at most).
    """
    out: list[str] = []
    y = 4.0
    for k, step in enumerate(steps):
        lines = textwrap.wrap(step.description, _WRAP) or [""]
        if len(lines) > 3:
            lines = [*lines[:2], lines[2][: _WRAP - 1] + "\u2026"]
        if k:  # the arrow down into this box, and the side arrow to the excluded persons
            top, middle = y - _GAP, y - _GAP / 2
            out.append(_arrow_down(_BOX_W / 2 + 4, top, y))
            out.append(_arrow_right(_BOX_W / 2 + 4, _SIDE_X, middle))
            out.append(
                _box(
                    _SIDE_X,
                    middle - 17,
                    _FLOW_WIDTH - 4 - _SIDE_X,
                    34,
                    ["Persons excluded"],
                    str(step.dropped),
                    fill="#f4f4f4",
                )
            )
        height = _LINE * (len(lines) + 1) + 12
        out.append(_box(4, y, _BOX_W, height, lines, f"{step.persons} persons", fill="#ffffff"))
        y += height + _GAP
    total = y - _GAP + 4
    label = "; ".join(f"{s.description}: {s.persons} persons" for s in steps)
    return Markup(
        f'<svg viewBox="0 0 {_FLOW_WIDTH} {_f(total)}" class="chart-svg flow" role="img" '
        f'aria-label="Attrition flow: {escape(label)}">{"".join(out)}</svg>'
    )


def _box(x: float, y: float, w: float, h: float, lines: list[str], count: str, *, fill: str) -> str:
    texts = [
        f'<text x="{_f(x + 8)}" y="{_f(y + _LINE * (i + 1))}">{escape(line)}</text>'
        for i, line in enumerate(lines)
    ]
    texts.append(
        f'<text x="{_f(x + 8)}" y="{_f(y + _LINE * (len(lines) + 1) + 2)}" '
        f'font-weight="bold">{escape(count)}</text>'
    )
    return (
        f'<g class="flow-box" font-size="11" fill="#1a1a1a"><rect x="{_f(x)}" y="{_f(y)}" '
        f'width="{_f(w)}" height="{_f(h)}" rx="3" fill="{fill}" stroke="#333333"/>'
        f"{''.join(texts)}</g>"
    )


def _arrow_down(x: float, y1: float, y2: float) -> str:
    return (
        f'<line x1="{_f(x)}" x2="{_f(x)}" y1="{_f(y1)}" y2="{_f(y2 - 5)}" stroke="#333333"/>'
        f'<polygon points="{_f(x - 4)},{_f(y2 - 6)} {_f(x + 4)},{_f(y2 - 6)} {_f(x)},{_f(y2)}" '
        'fill="#333333"/>'
    )


def _arrow_right(x1: float, x2: float, y: float) -> str:
    return (
        f'<line x1="{_f(x1)}" x2="{_f(x2 - 5)}" y1="{_f(y)}" y2="{_f(y)}" stroke="#333333"/>'
        f'<polygon points="{_f(x2 - 6)},{_f(y - 4)} {_f(x2 - 6)},{_f(y + 4)} {_f(x2)},{_f(y)}" '
        'fill="#333333"/>'
    )
