"""Privacy rules every report follows: pseudonyms instead of person ids, small counts hidden.

Pseudonyms
    A patient report names its patient by :func:`pseudonym`: the first 64 bits of
    HMAC-SHA256(key, person_id), written ``P-`` and 16 hex digits. Without the key the
    pseudonym cannot be reversed or recomputed from a guessed id; with the same key the same
    person always gets the same pseudonym, so reports written on different days agree.
    The key is 32 random bytes (:mod:`secrets`) kept, hex-encoded, in a key file that
    :func:`load_key` creates on first use. ``prognosis report patients`` keeps it beside the
    mapping file (pseudonym → person_id, :func:`update_mapping`), outside the report folder;
    reports never link to either. Whoever holds the key file and the mapping can re-identify
    patients: store both as you store the source data.

The mapping folder and its files
    The folder is owner-only (0700): created so, or tightened (:func:`private_folder`). The
    key and the mapping are written to a temporary file that :func:`tempfile.mkstemp` creates
    with mode 0600, flushed to disk and renamed into place (:func:`private_file`); no chmod
    follows, so neither is ever readable by others, not even for a moment or after a crash.
    Every change happens under an exclusive ``fcntl.flock`` on ``.lock`` in the folder
    (:func:`folder_lock`): the mapping is read, merged and replaced inside the lock, so runs
    sharing the folder keep each other's pseudonyms, and the key is created once.

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
    least five possible values (greatest - least >= 4), as ``<5`` alone does. A percentage is
    shown only where its count and its denominator both are. Sentences with counts go through
    :func:`suppress_small_counts_in_text`. docs/security.md gives the rules table by table.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import functools
import hashlib
import hmac
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
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
    "folder_lock",
    "is_small",
    "load_key",
    "percent_of",
    "private_file",
    "private_folder",
    "protect",
    "pseudonym",
    "redact_source",
    "suppress",
    "suppress_small_counts_in_text",
    "update_mapping",
]

MIN_CELL = 5
SUPPRESSED = f"<{MIN_CELL}"
HIDDEN = "hidden"
MAPPING_FILE = "mapping.csv"
LOCK_FILE = ".lock"
_KEY_BYTES = 32


def pseudonym(person_id: int | str, key: bytes) -> str:
    """The pseudonym of ``person_id`` under ``key``: ``P-`` and 16 hex digits of HMAC-SHA256."""
    if len(key) < 16:
        raise PrognosisError("a pseudonym key needs at least 16 bytes; use load_key()")
    digest = hmac.new(key, str(int(person_id)).encode("ascii"), hashlib.sha256).hexdigest()
    return f"P-{digest[:16]}"


def load_key(path: Path, *, create: bool = True) -> bytes:
    """Read the pseudonym key at ``path``; create it (32 random bytes, mode 0600) if absent.

    Its folder is made owner-only (:func:`private_folder`); the key is created under the
    folder's lock and appears whole, by a rename, so that concurrent runs agree on one key.
    """
    path = Path(path)
    if not path.exists():
        if not create:
            raise PrognosisError(f"{path}: no pseudonym key file")
        with folder_lock(private_folder(path.parent)):
            if not path.exists():
                with private_file(path) as temporary:
                    temporary.write_text(secrets.token_hex(_KEY_BYTES) + "\n", encoding="ascii")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise PrognosisError(f"{path}: a pseudonym key file holds hex digits only") from None
    if len(key) < 16:
        raise PrognosisError(f"{path}: the pseudonym key is {len(key)} bytes; 16 or more needed")
    return key


def private_folder(path: Path) -> Path:
    """``path`` as an owner-only folder (mode 0700): created so, or tightened if it exists
    with permissions for group or others. Its parents are created as usual."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not path.is_dir():
            raise PrognosisError(
                f"{path} is not a folder; give a folder for the pseudonym key and mapping"
            ) from None
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            os.chmod(path, mode & 0o700)
    return path


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[Path]:
    """Hold an exclusive lock (``fcntl.flock`` on ``folder/.lock``, mode 0600) while inside.

    Leftover temporary files of crashed writers (``.*.tmp-*``) are removed once it is held:
    every writer holds the lock while its temporary file exists.
    """
    folder = Path(folder)
    handle = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        for leftover in folder.glob(".*.tmp-*"):
            leftover.unlink(missing_ok=True)
        yield folder
    finally:
        os.close(handle)  # releases the lock


@contextlib.contextmanager
def private_file(target: Path) -> Iterator[Path]:
    """Yield a new temporary file beside ``target``, owner-only (0600) from its creation
    (:func:`tempfile.mkstemp`); on success it is flushed to disk and renamed to ``target``.
    Its mode is never changed, so no one else can open it at any moment."""
    target = Path(target)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def update_mapping(
    folder: Path, entries: Mapping[str, Mapping[str, str]], fields: Sequence[str]
) -> Path:
    """Merge ``entries`` (pseudonym → row of ``fields``) into ``folder/mapping.csv``.

    The file is read, merged and replaced under :func:`folder_lock`, so that runs sharing the
    folder lose none of each other's pseudonyms; it is owner-only (0600) from its creation,
    in an owner-only folder. A pseudonym already recorded takes the new row. Returns the path.
    """
    folder = private_folder(folder)
    path = folder / MAPPING_FILE
    with folder_lock(folder):
        known: dict[str, dict[str, str]] = {}
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as handle:
                known = {row[fields[0]]: row for row in csv.DictReader(handle)}
        known.update({name: dict(row) for name, row in entries.items()})
        with (
            private_file(path) as temporary,
            temporary.open("w", newline="", encoding="utf-8") as out,
        ):
            writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(known[name] for name in sorted(known))
    return path


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
