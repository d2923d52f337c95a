"""Writing outputs: atomically (a temporary sibling renamed into place), as JSON, with hashes.

A failure part-way leaves the previous output (or nothing) behind, never a half-written one.
Where a command may write at all is decided before, by :mod:`prognosis.output_folders`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from prognosis.exceptions import OutputError
from prognosis.output_folders import OutputKind, is_private

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "atomic_directory",
    "atomic_file",
    "package_versions",
    "sha256_file",
    "write_json",
    "write_parquet_output",
]


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target``.

    The folder is created owner-only (0700) and stays so when ``target`` holds person-level
    data (:func:`prognosis.output_folders.is_private`); report folders get the usual umask
    permissions. A failure (a full or read-only disk included) removes the temporary folder,
    leaves the previous ``target`` as it was, and raises :class:`OutputError`.
    """
    target = Path(target)
    with _write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        with _write_errors(target):
            yield staging
            _settle_modes(staging, private=is_private(target))
            _replace_directory(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _settle_modes(staging: Path, *, private: bool) -> None:
    for path in (staging, *staging.rglob("*")):
        if private:
            _permit(path, 0o700 if path.is_dir() else 0o600, umask=False)
        else:
            _permit(path, 0o777 if path.is_dir() else 0o666)


def _replace_directory(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; a previous ``target`` is moved aside first and removed
    after (a crash between the two renames is repaired by the next writer's clean-up)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(staging, target)
    if old is not None:
        shutil.rmtree(old)


@contextlib.contextmanager
def atomic_file(target: Path, *, private: bool | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it is flushed to disk and replaces
    ``target``.

    The temporary file is created 0600 (``mkstemp``) and stays so when ``private`` (default:
    when ``target`` holds person-level data, :func:`prognosis.output_folders.is_private`); its
    mode is never widened otherwise before it is complete. See :func:`atomic_directory` for the
    errors.
    """
    private = is_private(target) if private is None else private
    target = Path(target)
    with _write_errors(target):
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
        os.close(handle)
    temporary = Path(name)
    try:
        with _write_errors(target):
            yield temporary
            with temporary.open("rb") as written:
                os.fsync(written.fileno())
            if not private:
                _permit(temporary, 0o666)
            os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _write_errors(target: Path) -> Iterator[None]:
    """Turn an operating-system error while writing (full disk, read-only file system, no
    permission) into one clear :class:`OutputError`."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(
            f"{target}: could not write the output ({reason}); nothing was replaced"
        ) from None


def write_parquet_output(frame: pd.DataFrame, path: Path, kind: OutputKind) -> None:
    """Write ``frame`` atomically as Parquet, marked as an output of ``kind`` (schema metadata
    ``prognosis.kind``), so that a later ``--overwrite`` recognises it."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = {**(table.schema.metadata or {}), b"prognosis.kind": kind.name.lower().encode()}
    with atomic_file(Path(path)) as temporary:
        pq.write_table(table.replace_schema_metadata(metadata), temporary)


def write_json(path: Path, data: Any) -> None:
    """Pretty, UTF-8 JSON with a trailing newline."""
    Path(path).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in chunks; of a folder (a Parquet dataset written as
    part files), SHA-256 of its files' relative names and hashes, in name order."""
    path = Path(path)
    if path.is_dir():
        listing = "".join(
            f"{child.relative_to(path).as_posix()}\t{sha256_file(child)}\n"
            for child in sorted(p for p in path.rglob("*") if p.is_file())
        )
        return hashlib.sha256(listing.encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _permit(path: Path, mode: int, *, umask: bool = True) -> None:
    """Give a temporary path ``mode`` (less the process umask, like a normal create, unless
    ``umask`` is false); mkstemp and mkdtemp create 0600 and 0700."""
    mask = 0
    if umask:
        mask = os.umask(0)
        os.umask(mask)
    os.chmod(path, mode & ~mask)


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and each package's installed version, for manifests."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
