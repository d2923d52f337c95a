"""Small counts in reports: none from 1 to 4 can be read, nor worked out from the figures shown.

(Pseudonyms and the private mapping folder: :mod:`prognosis.report.pseudonyms`.)

Small counts
    A count of persons or events from 1 to 4 (under :data:`MIN_CELL`) shows as ``<5``, and it
    cannot be worked out from what else is shown. Zero is shown: that no one is in a cell
    identifies no one, and hiding the zeros would hide most of an attrition table (every step
    that drops nobody), as OHDSI's minimum cell count leaves zeros shown too.
    Each table of counts is described as a :class:`CountTable`: its values and the relations
    every reader knows (totals, consecutive differences, ordering), including counts never
    shown but implied (persons without a feature, index events a step dropped). :func:`protect`
    marks the small counts, then hides further counts (shown as ``hidden``) until an integer
    linear programme over what remains shown (:func:`exposed`) leaves every small count at
    least four possible values (greatest - least >= 3), as ``<5`` (1 to 4) alone does. A
    percentage is shown only where its count and its denominator both are. Sentences with
    counts go through :func:`suppress_small_counts_in_text`. docs/security.md gives the rules
    table by table.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from prognosis.exceptions import PrognosisError

__all__ = [
    "HIDDEN",
    "MIN_CELL",
    "SUPPRESSED",
    "CountTable",
    "Published",
    "exposed",
    "is_small",
    "percent_of",
    "protect",
    "redact_source",
    "suppress",
    "suppress_small_counts_in_text",
]

MIN_CELL = 5
SUPPRESSED = f"<{MIN_CELL}"
HIDDEN = "hidden"


def suppress(count: int | float | None) -> str:
    """A count as text, ``<5`` from 1 to 4 (under :data:`MIN_CELL`; ``n/a`` when unknown)."""
    if count is None:
        return "n/a"
    value = int(count)
    return SUPPRESSED if is_small(value) else f"{value:,}"


def is_small(count: float) -> bool:
    """Whether a count must not be shown: 1 to 4 (zero identifies no one)."""
    return 0 < count < MIN_CELL


def percent_of(count: int, total: int, digits: int = 1) -> str:
    """``n (p%)``, or ``<5`` alone when the count is suppressed."""
    if is_small(count):
        return SUPPRESSED
    share = 100.0 * count / total if total else 0.0
    return f"{count:,} ({share:.{digits}f}%)"


_SMALL_COUNT = re.compile(
    r"\b[1-4]\b(?= (?:rows?|duplicates?|duplicate|periods?|persons?|values?|records?|of)\b)"
)


def suppress_small_counts_in_text(text: str) -> str:
    """Replace counts from 1 to 4 in a sentence ("3 rows ...", "2 of 10 ...") with ``<5``."""
    return _SMALL_COUNT.sub(SUPPRESSED, text)


def redact_source(source: str | None) -> str:
    """A data source as text fit for a report: a URL loses its user name and password."""
    if not source:
        return "not recorded"
    if "://" not in source:
        return source
    parts = urlsplit(source)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=host))


# --- Small-count suppression over a table of counts and the relations between them ----------


@dataclass(frozen=True)
class CountTable:
    """Counts a report publishes, and what a reader knows about how they relate.

    Parameters
    ----------
    values : every count by cell name, in table order: the shown ones and ``implicit`` ones
    sums : ``(total, parts)``: ``values[total] == sum(values[p] for p in parts)`` (a row or
        column total, or a consecutive difference written as ``before = after + dropped``)
    at_least : ``(a, b)``: ``values[a] >= values[b]`` is known to every reader
    implicit : cells that are never shown but follow from the others (the persons without a
        feature, the index events a step dropped); still protected when small
    structural : counts that are what they are by construction (a zero no data could change);
        shown as they are and never suppressed
    keep : cells that the report shows elsewhere as they are; hidden only when nothing else can be
    five_or_more : implicit cells every reader knows to be 5 or more (a mean is shown only
        over 5 or more persons)
    """

    values: Mapping[str, int]
    sums: Sequence[tuple[str, tuple[str, ...]]] = ()
    at_least: Sequence[tuple[str, str]] = ()
    implicit: frozenset[str] = frozenset()
    structural: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()
    five_or_more: frozenset[str] = frozenset()

    @functools.cached_property
    def relations(self) -> tuple[list[tuple[dict[str, float], bool]], dict[str, list[int]]]:
        """The relations as ``(weights, equal)`` (sum of weight * value == 0, or >= 0 when
        not ``equal``), and for each cell the indices of the relations that name it."""
        terms = [({t: 1.0, **{p: -1.0 for p in parts}}, True) for t, parts in self.sums]
        terms += [({big: 1.0, little: -1.0}, False) for big, little in self.at_least]
        by_cell: dict[str, list[int]] = {}
        for k, (weights, _) in enumerate(terms):
            for name in weights:
                by_cell.setdefault(name, []).append(k)
        return terms, by_cell


@dataclass(frozen=True)
class Published:
    """What :func:`protect` decided for each cell: shown, ``<5`` (small) or ``hidden``."""

    values: Mapping[str, int]
    small: frozenset[str]
    hidden: frozenset[str]

    def shown(self, cell: str) -> bool:
        """Whether ``cell`` is shown as its number."""
        return cell not in self.small and cell not in self.hidden

    def text(self, cell: str) -> str:
        """``1,234``, ``<5`` or ``hidden``."""
        if cell in self.small:
            return SUPPRESSED
        if cell in self.hidden:
            return HIDDEN
        return f"{int(self.values[cell]):,}"

    def percent(self, cell: str, of: str, digits: int = 1) -> str:
        """``n (p%)`` when both ``cell`` and its denominator ``of`` are shown, else as
        :meth:`text` (a percentage beside a hidden total would give the total away)."""
        if not (self.shown(cell) and self.shown(of)):
            return self.text(cell)
        total = self.values[of]
        share = 100.0 * self.values[cell] / total if total else 0.0
        return f"{self.values[cell]:,} ({share:.{digits}f}%)"


def protect(table: CountTable) -> Published:
    """Suppress the small counts of ``table`` so that none can be read or worked out.

    Every count from 1 to 4 (:func:`is_small`) that is not structural is *small*: shown
    as ``<5``, or, when implicit, never shown. Then, small cell by small cell, while the shown
    figures and the relations of ``table`` still narrow that cell down (it is *exposed*, see
    :func:`exposed`), one more shown count is *hidden*: the smallest one in a relation that
    touches the cell or the hidden cells linked to it (the later one on a tie; a ``keep``
    cell only when no other is left). Hiding a count never exposes another, so one pass
    suffices. When every cell linked to a small one is hidden and it is still exposed (a few
    persons split many ways: the ``<5`` marks themselves pin it), its small cells too show as
    ``hidden``, so that ``hidden`` says nothing about the size of a count.

    Parameters
    ----------
    table : the counts and their relations

    Returns
    -------
    Published : the small cells and the hidden ones, and the text of each cell
    """
    small = {
        cell
        for cell, value in table.values.items()
        if is_small(value) and cell not in table.structural
    }
    hidden: set[str] = set()
    order = {cell: k for k, cell in enumerate(table.values)}
    for cell in sorted(small, key=order.__getitem__):
        while exposed(table, cell, small, hidden):
            choice = _complement(table, cell, small | hidden | table.implicit, order)
            if choice is None:  # all linked cells hidden: "<5" itself would tell too much
                hidden |= _component(table, cell, small | hidden | set(table.implicit))
                break
            hidden.add(choice)
    hidden -= table.implicit
    return Published(table.values, frozenset(small - hidden - table.implicit), frozenset(hidden))


def _terms(table: CountTable) -> list[tuple[dict[str, float], bool]]:
    """Each relation as ``(weights, equal)``: sum of weight * value == 0 (or >= 0)."""
    return table.relations[0]


def _touching(table: CountTable, cells: set[str]) -> list[int]:
    """The relations (indices into :func:`_terms`) that name any of ``cells``."""
    by_cell = table.relations[1]
    return sorted({k for cell in cells for k in by_cell.get(cell, ())})


def _component(table: CountTable, cell: str, unknown: set[str]) -> set[str]:
    """The unknown cells linked to ``cell`` through relations over unknown cells."""
    terms = _terms(table)
    found, frontier = {cell}, [cell]
    while frontier:
        for k in _touching(table, {frontier.pop()}):
            for other in terms[k][0]:
                if other in unknown and other not in found:
                    found.add(other)
                    frontier.append(other)
    return found


def _complement(
    table: CountTable, cell: str, unknown: set[str], order: dict[str, int]
) -> str | None:
    terms = _terms(table)
    candidates = {
        other
        for k in _touching(table, _component(table, cell, unknown))
        for other in terms[k][0]
        if other not in unknown
        and other not in table.structural
        and table.values[other] >= MIN_CELL  # "hidden" always stands for 5 or more
    }
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c in table.keep, table.values[c], -order[c]))


def exposed(table: CountTable, cell: str, small: set[str], hidden: set[str]) -> bool:
    """Whether the shown figures narrow the small ``cell`` down beyond "under 5".

    A reader knows every shown count, that each ``<5`` cell is 0 to 4, that each hidden
    cell is 5 or more, that implicit cells are 0 or more (5 or more if ``five_or_more``), and
    every relation of ``table``.
    ``cell`` is safe when the values still possible for it span at least :data:`MIN_CELL`
    integers (greatest - least >= 4), as "<5" itself does: the figures pin it down no more
    than that (worked out by integer linear programming over the cells linked to it).
    """
    unknown = small | hidden | set(table.implicit)
    names = sorted(_component(table, cell, unknown))
    index = {name: k for k, name in enumerate(names)}
    terms = _terms(table)
    touching = _touching(table, set(names))
    rows = np.zeros((len(touching), len(names)))
    lower, upper = np.zeros(len(touching)), np.zeros(len(touching))
    for r, k in enumerate(touching):
        weights, equal = terms[k]
        constant = 0.0
        for name, weight in weights.items():
            if name in index:
                rows[r, index[name]] += weight
            else:
                constant += weight * table.values[name]
        lower[r], upper[r] = -constant, -constant if equal else np.inf
    shown_small = small - set(table.implicit) - hidden
    known = hidden | set(table.five_or_more)
    # A hidden complement is 5 or more (never a zero: see _complement); a cell hidden with
    # its whole linked group can be anything, but those of 5 or more are taken as known to be.
    at_least_five = {n for n in known - small if table.values[n] >= MIN_CELL}
    low = [
        float(MIN_CELL) if n in at_least_five else 1.0 if n in shown_small else 0.0 for n in names
    ]
    ceiling = float(sum(table.values.values()) + 2 * MIN_CELL)  # keeps every problem bounded
    high = [float(MIN_CELL - 1) if n in shown_small else ceiling for n in names]
    constraints = [LinearConstraint(rows, lower, upper)] if touching else []
    objective = np.zeros(len(names))
    objective[index[cell]] = 1.0
    least = _optimum(objective, constraints, Bounds(low, high))
    most = -_optimum(-objective, constraints, Bounds(low, high))
    return most - least < MIN_CELL - 2  # "<5" alone leaves the four values 1 to 4


def _optimum(objective: np.ndarray, constraints: list, bounds: Bounds) -> float:
    """The least value of ``objective`` over integers within ``bounds`` and ``constraints``."""
    result = milp(
        objective, constraints=constraints, bounds=bounds, integrality=np.ones(objective.size)
    )
    if result.status != 0:  # the true counts satisfy every constraint: this is a bug
        raise PrognosisError(f"the small-count audit found no solution: {result.message}")
    return float(result.fun)
