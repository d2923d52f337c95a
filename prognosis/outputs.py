"""Writing outputs: atomically (a temporary sibling renamed into place), as JSON, with hashes.

A failure part-way leaves the previous output (or nothing) behind, never a half-written one.
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
from typing import Any

__all__ = ["atomic_directory", "atomic_file", "package_versions", "sha256_file", "write_json"]


@contextlib.contextmanager
def atomic_directory(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        _permit(staging, 0o777)
        for path in staging.rglob("*"):
            _permit(path, 0o777 if path.is_dir() else 0o666)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        _permit(temporary, 0o666)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


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


def _permit(path: Path, mode: int) -> None:
    """Give a temporary path the permissions a normal create would (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def package_versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and each package's installed version, for manifests."""
    versions = {"python": platform.python_version()}
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
