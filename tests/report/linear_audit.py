"""An attacker's view of a published table, solved with ``scipy.optimize.linprog``.

Independent of :mod:`prognosis.report.privacy`: it reads only the text a report shows
("1,234", "<5", "hidden", "12 (3.4%)", "n <5"), writes down what every reader knows (row and
column totals, consecutive differences, at least as many index events as persons), and finds
the least and greatest integer value each unknown count can take.

The criterion (also in docs/security.md): a count whose true value is 1 to 4 is
protected when the integer values the published figures leave possible for it span at least
four (greatest - least >= 3): it is known no better than "<5" (1 to 4) alone would tell. Zeros
are shown.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linprog

SMALL_MIN, SMALL_MAX = 1, 4  # "<5": 1 to 4 (zero is shown)
_CAP = 10**7  # stands for "no upper bound" (no table here counts that many)
_NUMBER = re.compile(r"^([\d,]+)(?: \(([\d.]+)%\))?$")


@dataclass
class System:
    """Unknown integer counts >= 0, their bounds, and linear relations between them."""

    known: dict[str, int] = field(default_factory=dict)
    lower: dict[str, float] = field(default_factory=dict)
    upper: dict[str, float] = field(default_factory=dict)
    equal: list[dict[str, float]] = field(default_factory=list)  # sum(w * x) == 0
    at_least: list[dict[str, float]] = field(default_factory=list)  # sum(w * x) >= 0

    def unknown(self, name: str) -> None:
        self.lower.setdefault(name, 0.0)
        self.upper.setdefault(name, math.inf)

    def read(self, name: str, text: str, of: str | None = None) -> None:
        """What the cell ``name`` shows: a number (with a percentage of ``of``), <5, hidden."""
        text = text.strip()
        if text in ("<5", "n <5"):
            self.lower[name], self.upper[name] = SMALL_MIN, SMALL_MAX
            return
        if text in ("hidden", "n hidden"):  # any count: small ones too can show so
            self.unknown(name)
            return
        text = text.removeprefix("n ")  # "n 0": a summary over no values
        match = _NUMBER.match(text)
        assert match, f"cannot read {text!r}"
        self.known[name] = int(match.group(1).replace(",", ""))
        if match.group(2) is not None and of is not None:
            share = float(match.group(2)) / 100
            count = self.known[name]
            # count / total rounds to the percentage shown (one decimal)
            self.at_least.append({of: share + 0.0005, "1": -count})
            self.at_least.append({"1": count, of: -(share - 0.0005)})

    def sum_of(self, total: str, parts: list[str]) -> None:
        self.equal.append({total: 1.0, **{p: -1.0 for p in parts}})

    def not_less(self, big: str, small: str) -> None:
        self.at_least.append({big: 1.0, small: -1.0})

    def _matrices(self) -> tuple[list[str], dict[str, list]]:
        for terms in self.equal + self.at_least:
            for n in terms:
                if n != "1" and n not in self.known:
                    self.unknown(n)
        names = sorted(set(self.lower) - set(self.known))
        index = {n: k for k, n in enumerate(names)}

        def row(terms: dict[str, float]) -> tuple[np.ndarray, float]:
            coefficients, constant = np.zeros(len(names)), 0.0
            for n, w in terms.items():
                if n in index:
                    coefficients[index[n]] += w
                else:  # the constant "1" or a shown count
                    constant += w * (1 if n == "1" else self.known[n])
            return coefficients, constant

        equal = [row(terms) for terms in self.equal]
        at_least = [row(terms) for terms in self.at_least]  # c.x + k >= 0  <=>  -c.x <= k
        problem = {
            "A_eq": np.array([c for c, _ in equal]) if equal else None,
            "b_eq": [-k for _, k in equal] or None,
            "A_ub": np.array([-c for c, _ in at_least]) if at_least else None,
            "b_ub": [k for _, k in at_least] or None,
            "bounds": [(self.lower[n], min(self.upper[n], _CAP)) for n in names],
        }
        return names, problem

    def range_of(self, name: str) -> tuple[float, float]:
        """The least and greatest integer value of ``name`` consistent with everything."""
        if name in self.known:
            return float(self.known[name]), float(self.known[name])
        names, problem = self._matrices()
        found = []
        for sign in (1.0, -1.0):
            objective = np.zeros(len(names))
            objective[names.index(name)] = sign
            result = linprog(objective, **problem, integrality=np.ones(len(names)), method="highs")
            assert result.status == 0, result.message
            found.append(sign * result.fun)
        return found[0], found[1]


def exposed(system: System, truth: dict[str, int], structural: set[str] = frozenset()) -> list[str]:
    """The cells with a true value under 5 that the published figures narrow down."""
    weak = []
    for name, value in truth.items():
        if not SMALL_MIN <= value <= SMALL_MAX or name in structural:
            continue
        least, most = system.range_of(name)
        assert least <= value <= most, (name, value, least, most)
        if most - least < SMALL_MAX - SMALL_MIN:
            weak.append(f"{name}={value} in [{least:g}, {most:g}]")
    return weak
