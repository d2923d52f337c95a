"""Charts of the model report: matplotlib (Agg, no pyplot) figures as inline SVG text.

Each function takes plain numbers and returns a :class:`Chart`: SVG markup ready to place in a
page, and a one-line text alternative. Text stays text (``svg.fonttype: none``), escaped by
matplotlib; the XML prolog, metadata, comments and namespace URLs are stripped, so a chart
names no network address, and ids are prefixed (and hashes salted) with the chart's name, so
that several charts share a page and the output is the same on every run. Lines differ by dash
pattern and marker as well as colour (Okabe-Ito palette): no meaning rests on colour alone.
Legends sit below the axes, outside them, never on the data.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure
from matplotlib.ticker import MultipleLocator, PercentFormatter

from prognosis.artifacts import CalibrationGroup, DecisionCurve
from prognosis.report import svg

__all__ = [
    "Chart",
    "Curve",
    "beeswarm_chart",
    "calibration_chart",
    "decision_chart",
    "importance_chart",
    "interval_chart",
    "risk_curves_chart",
]

PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")

_STYLE = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # a '$' in a concept name is a dollar sign
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "legend.frameon": False,
}
_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)
_NAMESPACE = re.compile(r'\s+xmlns(?::\w+)?="[^"]*"')
_SIZE = re.compile(r'\s+(?:width|height)="[^"]*"')


@dataclass(frozen=True)
class Chart:
    """An inline SVG chart and its text alternative."""

    svg: Markup
    alt: str


@dataclass(frozen=True)
class Curve:
    """One line of a risk-over-time chart, with an optional pointwise interval."""

    label: str
    times: np.ndarray
    estimate: np.ndarray
    lower: np.ndarray | None = None
    upper: np.ndarray | None = None


def _figure(width: float, height: float) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig: Figure, name: str, alt: str) -> Chart:
    """Serialise ``fig`` to SVG text fit for inlining (see the module docstring)."""
    buffer = io.StringIO()
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", dpi=150, metadata={"Date": None, "Creator": None})
    text = _PROLOG.sub("", buffer.getvalue(), count=1)
    text = _METADATA.sub("", _COMMENT.sub("", text))
    text = _prefix_ids(text, f"chart-{name}")
    head, rest = text.split(">", 1)
    head = _SIZE.sub("", _NAMESPACE.sub("", head))
    svg = f'{head} class="chart-svg" focusable="false" aria-hidden="true">{rest.strip()}'
    return Chart(svg=Markup(svg), alt=alt)


_ID = re.compile(r'\bid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|href="#)([^)"]+)')


def _prefix_ids(text: str, prefix: str) -> str:
    """Prefix every id (and every reference to one), so that charts on a page never clash."""
    ids = set(_ID.findall(text))
    text = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', text)
    return _REFERENCE.sub(
        lambda m: m.group(1) + (f"{prefix}-{m.group(2)}" if m.group(2) in ids else m.group(2)),
        text,
    )


def _styled(function: Any) -> Any:
    """Build the figure under the report style (rc parameters apply while artists are made)."""

    def wrapper(*args: Any, **kwargs: Any) -> Chart:
        with matplotlib.rc_context(_STYLE):
            return function(*args, **kwargs)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


@_styled
def risk_curves_chart(
    curves: Sequence[Curve], *, ylabel: str, name: str, xlabel: str = "Days since index"
) -> Chart:
    """Step curves of cumulative risk over time, each with its interval as a band."""
    fig = _figure(6.4, 3.4)
    ax = fig.add_subplot()
    for i, curve in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        ax.step(
            curve.times,
            curve.estimate,
            where="post",
            color=colour,
            linestyle=DASHES[i % len(DASHES)],
            linewidth=1.6,
            label=curve.label,
        )
        if curve.lower is not None and curve.upper is not None:
            ax.fill_between(
                curve.times, curve.lower, curve.upper, step="post", color=colour, alpha=0.12
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    span = max(float(np.max(c.times)) for c in curves) if curves else 1.0
    ax.xaxis.set_major_locator(MultipleLocator(svg.day_step(span)))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    _legend_below(fig, ncols=2)
    labels = ", ".join(curve.label for curve in curves)
    return _finish(fig, name, f"{ylabel} over time: {labels}")


@_styled
def calibration_chart(
    groups: Sequence[CalibrationGroup],
    curve: Sequence[Sequence[float | None]],
    *,
    horizon: str,
    name: str,
) -> Chart:
    """Observed against predicted risk: groups with intervals, a smoothed curve, the diagonal."""
    fig = _figure(4.6, 4.0)
    ax = fig.add_subplot()
    predicted = np.array([g.mean_predicted for g in groups], dtype=float)
    observed = np.array([g.observed for g in groups], dtype=float)
    lower = np.array([_or_nan(g.observed_lower) for g in groups], dtype=float)
    upper = np.array([_or_nan(g.observed_upper) for g in groups], dtype=float)
    smooth = np.asarray(curve, dtype=float).reshape(-1, 2)
    # the axes hold every group and the whole smoothed curve: none of it drawn past an edge
    top = float(np.nanmax(np.r_[predicted, observed, upper, smooth.ravel(), 0.05])) * 1.08
    ax.plot([0, top], [0, top], linestyle=":", color="#555555", label="Perfect calibration")
    if len(smooth):
        ax.plot(
            smooth[:, 0],
            smooth[:, 1],
            color=PALETTE[1],
            linestyle="--",
            label="Smoothed (1st\u201399th percentile of predictions)",
        )
    ax.errorbar(
        predicted,
        observed,
        yerr=[np.clip(observed - lower, 0, None), np.clip(upper - observed, 0, None)],
        fmt="o",
        color=PALETTE[0],
        markersize=4,
        capsize=2,
        label="Risk groups (95% CI)",
    )
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(f"Predicted risk by {horizon}")
    ax.set_ylabel(f"Observed risk by {horizon}")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    _legend_below(fig, ncols=1)
    return _finish(fig, name, f"Calibration plot at {horizon}: observed against predicted risk")


def _legend_below(fig: Figure, *, ncols: int) -> None:
    """The legend under the axes, outside them (constrained layout makes room): never on the
    data."""
    fig.legend(loc="outside lower center", ncols=ncols)


def _or_nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


@_styled
def interval_chart(
    rows: Sequence[tuple[str, float | None, float | None, float | None]],
    *,
    xlabel: str,
    name: str,
    reference: float | None = None,
    reference_label: str = "",
) -> Chart:
    """Estimates with 95% intervals, one row each (e.g. time-dependent AUC per horizon)."""
    fig = _figure(6.0, 0.6 + 0.45 * max(len(rows), 1))
    ax = fig.add_subplot()
    for i, (_label, estimate, lower, upper) in enumerate(rows):
        if estimate is None:
            continue
        if lower is not None and upper is not None:
            ax.plot([lower, upper], [i, i], color=PALETTE[0], linewidth=2)
        ax.plot([estimate], [i], marker="o", color=PALETTE[0])
        ax.annotate(
            f"{estimate:.3f}",
            (estimate, i),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    if reference is not None:
        ax.axvline(reference, color="#555555", linestyle=":", label=reference_label)
        _legend_below(fig, ncols=1)
    ax.set_yticks(range(len(rows)), [row[0] for row in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return _finish(fig, name, f"{xlabel}: " + "; ".join(_alt_row(row) for row in rows))


def _alt_row(row: tuple[str, float | None, float | None, float | None]) -> str:
    label, estimate, lower, upper = row
    if estimate is None:
        return f"{label} n/a"
    if lower is None or upper is None:
        return f"{label} {estimate:.3f}"
    return f"{label} {estimate:.3f} ({lower:.3f} to {upper:.3f})"


@_styled
def decision_chart(
    curve: DecisionCurve, *, horizon: str, name: str, up_to: float | None = None
) -> Chart:
    """Net benefit of the model, of treating everyone and of treating no one, by threshold.

    ``up_to`` limits the thresholds shown (e.g. to a little above the highest predicted risk,
    where the curves end in zero anyway)."""
    fig = _figure(6.0, 3.4)
    ax = fig.add_subplot()
    thresholds = np.asarray(curve.thresholds, dtype=float)
    model = np.array([_or_nan(v) for v in curve.model])
    treat_all = np.array([_or_nan(v) for v in curve.treat_all])
    lower = np.array([_or_nan(v) for v in curve.model_lower or curve.model])
    upper = np.array([_or_nan(v) for v in curve.model_upper or curve.model])
    ax.fill_between(thresholds, lower, upper, color=PALETTE[0], alpha=0.15)
    ax.plot(thresholds, model, color=PALETTE[0], linewidth=1.8, label="Model (95% CI)")
    ax.plot(thresholds, treat_all, color=PALETTE[1], linestyle="--", label="Treat everyone")
    ax.plot(
        thresholds, np.zeros_like(thresholds), color="#333333", linestyle=":", label="Treat no one"
    )
    rate = curve.event_rate or float(np.nanmax(np.r_[model, 0.01]))
    ax.set_ylim(-0.25 * rate, 1.1 * max(rate, float(np.nanmax(np.r_[model, 0.0]))))
    ax.set_xlim(float(thresholds.min()), min(float(thresholds.max()), up_to or 1.0))
    ax.set_xlabel(f"Threshold probability of the outcome by {horizon}")
    ax.set_ylabel("Net benefit")
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    _legend_below(fig, ncols=3)
    return _finish(fig, name, f"Decision curve at {horizon}: net benefit by threshold")


@_styled
def importance_chart(
    labels: Sequence[str], values: Sequence[float], *, xlabel: str, name: str
) -> Chart:
    """Horizontal bars, largest on top, each labelled with its value."""
    fig = _figure(6.4, 0.5 + 0.3 * max(len(labels), 1))
    ax = fig.add_subplot()
    positions = np.arange(len(labels))
    ax.barh(positions, values, color=PALETTE[0], height=0.6)
    for y, value in zip(positions, values, strict=True):
        ax.annotate(
            f"{value:.3g}",
            (value, y),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(positions, [_short(label) for label in labels])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.15)
    return _finish(fig, name, f"{xlabel}, largest first: " + ", ".join(labels))


@_styled
def beeswarm_chart(
    labels: Sequence[str],
    values: np.ndarray,
    data: np.ndarray,
    *,
    xlabel: str,
    name: str,
) -> Chart:
    """One row of points per feature: contribution (x) coloured by the feature's value.

    Values in the upper half of the feature's range are filled circles, the others hollow
    ones, so the reading does not depend on colour.
    """
    fig = _figure(6.4, 0.7 + 0.38 * max(len(labels), 1))
    ax = fig.add_subplot()
    cmap = matplotlib.colormaps["cividis"]
    for j in range(len(labels)):
        x = np.asarray(values[:, j], dtype=float)
        scaled, high = _scaled(np.asarray(data[:, j], dtype=float))
        y = j + _swarm(x)
        colours = cmap(scaled)
        # thousands of points: drawn as one embedded image (a data: URL), the text stays text
        ax.scatter(
            x[high],
            y[high],
            s=9,
            c=colours[high],
            linewidths=0.6,
            edgecolors=colours[high],
            rasterized=True,
        )
        ax.scatter(
            x[~high],
            y[~high],
            s=9,
            facecolors="none",
            edgecolors=colours[~high],
            linewidths=0.6,
            rasterized=True,
        )
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(range(len(labels)), [_short(label) for label in labels])
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(xlabel)
    mappable = matplotlib.cm.ScalarMappable(cmap=cmap)
    bar = fig.colorbar(mappable, ax=ax, ticks=[0, 1], shrink=0.6, aspect=25)
    bar.ax.set_yticklabels(["low", "high"])
    bar.set_label("Feature value")
    return _finish(fig, name, f"Beeswarm of contributions ({xlabel}) for: " + ", ".join(labels))


def _scaled(column: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Values min-max scaled to [0, 1] (missing at 0.5), and which lie in the upper half."""
    finite = np.isfinite(column)
    scaled = np.full(column.shape, 0.5)
    if finite.any():
        low, high = np.nanmin(column), np.nanmax(column)
        if high > low:
            scaled[finite] = (column[finite] - low) / (high - low)
    return scaled, finite & (scaled >= 0.5)


def _swarm(x: np.ndarray, width: float = 0.36, bins: int = 50) -> np.ndarray:
    """Vertical offsets that spread points sharing an x bin, alternately up and down."""
    if x.size == 0:
        return x
    span = float(x.max() - x.min()) or 1.0
    index = np.minimum(((x - x.min()) / span * bins).astype(int), bins - 1)
    offsets = np.zeros(x.size)
    order = np.argsort(index, kind="stable")
    sorted_index = index[order]
    starts = np.searchsorted(sorted_index, sorted_index, side="left")
    rank = np.arange(x.size) - starts
    offsets[order] = np.where(rank % 2 == 0, 1, -1) * ((rank + 1) // 2)
    biggest = np.abs(offsets).max()
    return offsets * (width / biggest) if biggest else offsets


def _short(label: str, limit: int = 60) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
