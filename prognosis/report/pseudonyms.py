"""Pseudonyms instead of person ids, and the private folder that can undo them.

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
    with mode 0600, flushed to disk and renamed into place
    (:func:`prognosis.outputs.atomic_file` with ``private=True``); no chmod
    follows, so neither is ever readable by others, not even for a moment or after a crash.
    Every change happens under an exclusive ``fcntl.flock`` on ``.lock`` in the folder
    (:func:`folder_lock`): the mapping is read, merged and replaced inside the lock, so runs
    sharing the folder keep each other's pseudonyms, and the key is created once.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from prognosis.exceptions import PrognosisError
from prognosis.outputs import atomic_file

__all__ = [
    "LOCK_FILE",
    "MAPPING_FILE",
    "folder_lock",
    "load_key",
    "private_folder",
    "pseudonym",
    "update_mapping",
]

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
                with atomic_file(path, private=True) as temporary:
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
            atomic_file(path, private=True) as temporary,
            temporary.open("w", newline="", encoding="utf-8") as out,
        ):
            writer = csv.DictWriter(out, fieldnames=list(fields), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(known[name] for name in sorted(known))
    return path
