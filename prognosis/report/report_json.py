"""``report.json``: a report's numbers as data, beside its HTML.

Each report writes the same values its pages show into ``report.json``, for a journal table or
a dashboard: the model report beside ``index.html``, the patient reports beside their
``index.html``. The document is versioned (``"format": "prognosis-report/1"``) and described
in docs/reports.md.

It is generic: :func:`report_data` turns the report's own dataclasses (a
:class:`~prognosis.report.model_report.ModelReport`, the patient pages) into JSON field by
field, so a section added to a report appears in ``report.json`` with no code here. It drops
what is presentation only (charts, SVG and other markup) and the fields named in
:data:`EXCLUDED`; the typed artifacts (``Interval`` and the rest of
:mod:`prognosis.artifacts`) go through :func:`prognosis.artifacts.to_json`, as in
``metrics.json``. A value of a kind it does not know (a DataFrame, a set) is an error, so
that nothing person-level slips in unnoticed: a new field holds dataclasses, lists, text and
numbers, or is listed in :data:`EXCLUDED`. Counts are the report's own text, already protected
(``<5``, ``hidden``), never the raw numbers behind it.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from markupsafe import Markup

from prognosis.artifacts import ModelInfo, to_json
from prognosis.horizons import horizon_text
from prognosis.outputs import atomic_file
from prognosis.report.charts import Chart

__all__ = ["EXCLUDED", "FORMAT", "Predicts", "predicts", "report_data", "write_report_json"]

#: The version of the ``report.json`` document; raised when a key changes meaning or goes.
FORMAT = "prognosis-report/1"

#: Fields of the reports' dataclasses left out of ``report.json`` (class name -> field names),
#: each with its reason in a comment. Charts and markup are dropped wherever they are.
EXCLUDED: dict[str, frozenset[str]] = {
    # todo: the marker printed before what the authors must add (a word, not data);
    # predicts: written once, at the top of the document;
    # attrition_flow: the attrition table drawn as SVG (its texts are those of ``attrition``)
    "ModelReport": frozenset({"todo", "predicts", "attrition_flow"}),
    # rows, third: each dataset row's position and third of predicted risk, person-level (the
    # report shows only the curves and the protected numbers at risk drawn from them)
    "RiskCurves": frozenset({"rows", "third"}),
}

_DROPPED = object()


@dataclasses.dataclass(frozen=True)
class Predicts:
    """What the model predicts: the outcome, from when, by which horizons, as what quantity."""

    model: str
    cohort: str
    outcome: str
    entry: str
    quantity: str  # "risk", "cumulative incidence", or "risk ignoring competing events"
    horizons_days: tuple[float, ...]
    horizons: tuple[str, ...]


def predicts(info: ModelInfo, *, cohort: str, outcome: str, entry: str, quantity: str) -> Predicts:
    """The :class:`Predicts` of a model (``model.json``) and the words of its definition."""
    return Predicts(
        model=str(info.model),
        cohort=str(cohort),
        outcome=str(outcome),
        entry=str(entry),
        quantity=str(quantity),
        horizons_days=tuple(float(h) for h in info.horizons),
        horizons=tuple(horizon_text(h) for h in info.horizons),
    )


def report_data(value: Any, where: str = "report") -> Any:
    """``value`` as JSON-ready Python values, charts and markup dropped.

    Dataclasses become objects (their fields in order, less :data:`EXCLUDED`), named tuples
    objects, tuples and lists arrays, numpy arrays and numbers plain lists and numbers, and a
    float that is not finite ``null``. A dataclass of :mod:`prognosis.artifacts` goes through
    :func:`~prognosis.artifacts.to_json`.

    Raises
    ------
    TypeError
        For a value of any other kind, naming where it sits (``report.metrics.rows[0]``).
    """
    converted = _convert(value, where)
    return None if converted is _DROPPED else converted


_SCALARS = (type(None), bool, int, str, float, np.floating, np.integer, np.bool_)


def _convert(value: Any, where: str) -> Any:
    if isinstance(value, Chart | Markup):
        return _DROPPED
    if isinstance(value, _SCALARS):
        return _scalar(value)
    if isinstance(value, np.ndarray):
        return _convert(value.tolist(), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if type(value).__module__ == "prognosis.artifacts":
            return _convert(to_json(value), where)
        return _dataclass(value, where)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return _mapping(value._asdict(), where)
    if isinstance(value, tuple | list):
        items = (_convert(item, f"{where}[{i}]") for i, item in enumerate(value))
        return [item for item in items if item is not _DROPPED]
    if isinstance(value, Mapping):
        return _mapping(value, where)
    raise TypeError(
        f"report.json cannot hold {where}: a {type(value).__name__}; give the report a "
        "dataclass of text and numbers there, or list the field in report_json.EXCLUDED"
    )


def _scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dataclass(value: Any, where: str) -> dict[str, Any]:
    excluded = EXCLUDED.get(type(value).__name__, frozenset())
    fields = {
        spec.name: getattr(value, spec.name)
        for spec in dataclasses.fields(value)
        if spec.name not in excluded
    }
    return _mapping(fields, where)


def _mapping(value: Mapping[Any, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, item in value.items():
        converted = _convert(item, f"{where}.{key}")
        if converted is not _DROPPED:
            out[str(key)] = converted
    return out


def write_report_json(
    path: Path, kind: str, what: Predicts | Sequence[Predicts], report: Any
) -> Path:
    """Write ``report.json`` atomically to ``path``, with the same permissions as the pages.

    Pretty, UTF-8, strict JSON (no ``NaN``). ``<``, ``>`` and ``&`` are written as ``\\u003c``,
    ``\\u003e`` and ``\\u0026`` (the same text once parsed), so that the file, pasted into a
    page, opens no tag: a label such as ``<script>`` stays text.

    Parameters
    ----------
    path : the file, beside the report's ``index.html``
    kind : ``"model"`` or ``"patients"``
    what : what the model predicts; a list for the pages of a folder of models, one per
        outcome (each model's, in definition order)
    report : the report's data (converted by :func:`report_data`)
    """
    document = {
        "format": FORMAT,
        "kind": kind,
        "predicts": report_data(what, "predicts"),
        "report": report_data(report),
    }
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False)
    for character, escaped in _HTML_SAFE.items():  # only inside strings: JSON has them nowhere else
        text = text.replace(character, escaped)
    with atomic_file(Path(path)) as temporary:
        temporary.write_text(text + "\n", encoding="utf-8")
    return Path(path)


_HTML_SAFE = {"&": "\\u0026", "<": "\\u003c", ">": "\\u003e"}
