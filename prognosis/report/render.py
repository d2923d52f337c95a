"""The one Jinja2 environment of the reports, its filters, and atomic page writes.

Templates live in ``prognosis/report/templates`` (shipped with the package): ``base.html.jinja2``
holds the page frame and the whole style sheet, inline, so that every page is a single file;
``model.html.jinja2``, ``patient.html.jinja2`` and ``patients_index.html.jinja2`` extend it.
Autoescaping is on for every template and undefined names fail (``StrictUndefined``): a value
reaches a page as text unless the code marked it safe (only the SVG charts are).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import jinja2

from prognosis.artifacts import Interval
from prognosis.horizons import horizon_text
from prognosis.outputs import atomic_file
from prognosis.report.privacy import percent_of, suppress

__all__ = ["environment", "render_page", "write_page"]


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _percent(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100.0 * value:.{digits}f}%"


def _interval(value: Interval | None, digits: int = 3) -> str:
    """``0.712 (0.690 to 0.735)`` from an :class:`~prognosis.artifacts.Interval`."""
    if value is None or value.estimate is None:
        return "n/a"
    text = _number(value.estimate, digits)
    if value.lower is None or value.upper is None:
        return text
    return f"{text} ({_number(value.lower, digits)} to {_number(value.upper, digits)})"


def _sentence(text: str) -> str:
    """``text`` with its first letter in capitals, the rest as it is ("HbA1c" stays)."""
    return text[:1].upper() + text[1:]


@functools.cache
def environment() -> jinja2.Environment:
    """The Jinja2 environment every report page is rendered with (built once)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("prognosis.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        count=suppress,
        percent_of=percent_of,
        number=_number,
        percent=_percent,
        interval=_interval,
        horizon=horizon_text,
        sentence=_sentence,
    )
    return env


def render_page(template: str, **context: Any) -> str:
    """Render ``template`` (a file name in ``templates/``) with ``context``."""
    return environment().get_template(template).render(**context)


def write_page(path: Path, html: str) -> Path:
    """Write ``html`` to ``path`` atomically (UTF-8); return ``path``."""
    with atomic_file(Path(path)) as temporary:
        temporary.write_text(html, encoding="utf-8")
    return Path(path)
