"""Privacy rules every report follows: pseudonyms instead of person ids, small counts hidden.

Pseudonyms
    A patient report names its patient by :func:`pseudonym`: the first 64 bits of
    HMAC-SHA256(key, person_id), written ``P-`` and 16 hex digits. Without the key the
    pseudonym cannot be reversed or recomputed from a guessed id; with the same key the same
    person always gets the same pseudonym, so reports written on different days agree.
    The key is 32 random bytes (:mod:`secrets`) kept, hex-encoded, in a key file that
    :func:`load_key` creates on first use (mode 0600). ``prognosis report patients`` keeps it
    beside the mapping file (pseudonym → person_id), outside the report folder; reports never
    link to either. Whoever holds the key file and the mapping can re-identify patients:
    store both as you store the source data.

Small cells
    Any count of persons or events under :data:`MIN_CELL` (5), zero included, shows as ``<5``
    (:func:`suppress`), and so does the percentage beside it. Note that a suppressed number
    can sometimes be recovered by subtraction (consecutive rows of an attrition table, or a
    total minus the other groups); readers of small cohorts should keep that in mind.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from prognosis.exceptions import PrognosisError

__all__ = [
    "MIN_CELL",
    "SUPPRESSED",
    "load_key",
    "percent_of",
    "pseudonym",
    "redact_source",
    "suppress",
    "suppress_small_counts_in_text",
]

MIN_CELL = 5
SUPPRESSED = f"<{MIN_CELL}"
_KEY_BYTES = 32


def pseudonym(person_id: int | str, key: bytes) -> str:
    """The pseudonym of ``person_id`` under ``key``: ``P-`` and 16 hex digits of HMAC-SHA256."""
    if len(key) < 16:
        raise PrognosisError("a pseudonym key needs at least 16 bytes; use load_key()")
    digest = hmac.new(key, str(int(person_id)).encode("ascii"), hashlib.sha256).hexdigest()
    return f"P-{digest[:16]}"


def load_key(path: Path, *, create: bool = True) -> bytes:
    """Read the pseudonym key at ``path``; create it (32 random bytes, mode 0600) if absent."""
    path = Path(path)
    if not path.exists():
        if not create:
            raise PrognosisError(f"{path}: no pseudonym key file")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # created meanwhile by another process: read theirs
            return load_key(path, create=False)
        with os.fdopen(handle, "w", encoding="ascii") as file:
            file.write(secrets.token_hex(_KEY_BYTES) + "\n")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise PrognosisError(f"{path}: a pseudonym key file holds hex digits only") from None
    if len(key) < 16:
        raise PrognosisError(f"{path}: the pseudonym key is {len(key)} bytes; 16 or more needed")
    return key


def suppress(count: int | float | None) -> str:
    """A count as text, ``<5`` when under :data:`MIN_CELL` (``n/a`` when unknown)."""
    if count is None:
        return "n/a"
    value = int(count)
    return SUPPRESSED if value < MIN_CELL else f"{value:,}"


def percent_of(count: int, total: int, digits: int = 1) -> str:
    """``n (p%)``, or ``<5`` alone when the count is suppressed."""
    if count < MIN_CELL:
        return SUPPRESSED
    share = 100.0 * count / total if total else 0.0
    return f"{count:,} ({share:.{digits}f}%)"


_SMALL_COUNT = re.compile(
    r"\b[0-4]\b(?= (?:rows?|duplicates?|duplicate|periods?|persons?|values?|records?|of)\b)"
)


def suppress_small_counts_in_text(text: str) -> str:
    """Replace counts under 5 in a sentence ("3 rows ...", "2 of 10 ...") with ``<5``."""
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
