"""Where a command may write: checks on an output path before any work, and a lock while writing.

A command writes only into a path it creates, or into a previous output of its own kind
(recognised by the manifest that every prognosis output carries). Anything else is refused
before the work starts, with a message naming the path and what is in it:

* a folder or file that is not a prognosis output of this kind (a thesis, a CDM, ``/``);
* a previous output of this kind, unless ``overwrite`` is set (``--overwrite``);
* a symbolic link, a file where a folder is expected (or the reverse), a parent that is a file;
* a path that is, contains or lies inside a protected path (the source data, the dataset a model
  is fitted on, a model directory).

While a command writes, it holds an exclusive lock (``fcntl.flock`` on ``.NAME.lock`` beside the
output, removed when done): a second writer to the same output stops at once with "being written
by another process". The lock dies with its process, ``kill -9`` included, and the next writer to
hold it cleans up what a crashed run left behind (``.NAME.tmp-*`` staging copies, ``.NAME.old-*``
copies of a previous output; a previous output caught between the two renames is put back first).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from prognosis.exceptions import OutputError
from prognosis.json_files import read_json

__all__ = [
    "OutputKind",
    "check_output",
    "claim_output",
    "clean_leftovers",
    "is_private",
    "output_kind_of",
    "write_marker",
]

#: The marker file of outputs that have no manifest of their own (report folders).
MARKER = "prognosis-output.json"


class OutputKind(enum.Enum):
    """What a command writes; ``private`` outputs hold person-level data (owner-only)."""

    DATASET = ("cohort dataset", True, True)
    MODEL = ("model directory", True, True)
    MODEL_SET = ("folder of models, one per outcome", True, True)
    MODEL_REPORT = ("model report folder", True, False)
    PATIENT_REPORTS = ("patient report folder", True, False)
    PREDICTIONS = ("predictions file", False, True)
    SHAP_VALUES = ("SHAP values file", False, True)
    METRICS = ("metrics file", False, False)
    SYNTHETIC_CDM = ("synthetic CDM file", False, False)

    def __init__(self, label: str, folder: bool, private: bool) -> None:
        self.label = label
        self.folder = folder
        self.private = private


@dataclass(frozen=True)
class _Held:
    handle: int
    kind: OutputKind


_held: dict[Path, _Held] = {}  # outputs this process holds the lock of (claims nest)


def output_kind_of(path: Path) -> OutputKind | None:
    """The kind of prognosis output at ``path``, or None when it is not one."""
    path = Path(path)
    if path.is_dir():
        return _folder_kind(path)
    if path.is_file():
        return _file_kind(path)
    return None


def _read_object(path: Path) -> dict | None:
    try:
        return read_json(path, dict, OutputError)
    except OutputError:  # a probe: anything but a JSON object is "not one of ours"
        return None


def _folder_kind(path: Path) -> OutputKind | None:
    manifest = _read_object(path / "manifest.json") or {}
    files = manifest.get("files")
    if str(manifest.get("format", "")).startswith("prognosis-model/"):
        return OutputKind.MODEL
    if "cohort" in manifest and isinstance(files, dict) and "dataset.parquet" in files:
        return OutputKind.DATASET
    marker = _read_object(path / MARKER) or {}
    for kind in OutputKind:
        if marker.get("kind") == kind.name.lower():
            return kind
    return None


def _file_kind(path: Path) -> OutputKind | None:
    if path.suffix == ".parquet":
        return _parquet_kind(path)
    if path.suffix == ".json":
        data = _read_object(path)
        return OutputKind.METRICS if data is not None and "horizons" in data else None
    if path.suffix == ".duckdb":
        return _synthetic_kind(path)
    return None


def _parquet_kind(path: Path) -> OutputKind | None:
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, ValueError):
        return None
    kind = metadata.get(b"prognosis.kind", b"").decode()
    return next((k for k in OutputKind if k.name.lower() == kind), None)


def _synthetic_kind(path: Path) -> OutputKind | None:
    from prognosis.synth import truth_path

    truth = _read_object(truth_path(path)) or {}
    return OutputKind.SYNTHETIC_CDM if {"seed", "persons"} <= set(truth) else None


def write_marker(folder: Path, kind: OutputKind) -> None:
    """Mark ``folder`` as an output of ``kind`` (for outputs without a manifest of their own)."""
    (Path(folder) / MARKER).write_text(
        json.dumps({"kind": kind.name.lower()}) + "\n", encoding="utf-8"
    )


def check_output(
    path: Path, kind: OutputKind, *, overwrite: bool = False, protect: Iterable[Path] = ()
) -> Path:
    """Check that a command may write ``kind`` at ``path``; return the path.

    Raises
    ------
    OutputError
        Naming the path and why it is refused (see the module docstring).
    """
    path = Path(path)
    if path in _held:  # checked when it was claimed
        return path
    _check_shape(path, kind)
    _check_protected(path, protect)
    if not (path.exists() or path.is_symlink()):
        return path
    if kind.folder and _harmless_folder(path, kind):
        return path
    found = output_kind_of(path)
    if found is not kind:
        raise OutputError(
            f"--out {path}: {_contents(path)}, not a previous {kind.label} of prognosis; "
            "refusing to replace it. Choose a new path (or an empty folder)."
        )
    if not overwrite:
        raise OutputError(
            f"--out {path} holds a previous {kind.label}; pass --overwrite to replace it, "
            "or choose a new path"
        )
    return path


def _check_shape(path: Path, kind: OutputKind) -> None:
    if path.is_symlink():
        raise OutputError(
            f"--out {path} is a symbolic link (to {os.readlink(path)}); give the real path"
        )
    resolved = path.resolve()
    if resolved == Path(resolved.anchor):
        raise OutputError(f"--out {path} is the root of the file system; choose a new folder")
    if path.exists() and path.is_dir() != kind.folder:
        expected = "a folder" if kind.folder else "a file"
        found = "a folder" if path.is_dir() else "a file"
        raise OutputError(f"--out {path} is {found}; the {kind.label} is {expected}")
    for parent in resolved.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"--out {path}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise OutputError(f"--out {path}: {parent} is not writable")
            break


def _check_protected(path: Path, protect: Iterable[Path]) -> None:
    target = path.resolve()
    for protected in protect:
        other = Path(protected).resolve()
        if target == other or other.is_relative_to(target) or target.is_relative_to(other):
            raise OutputError(
                f"--out {path} would overlap {protected}, which this command reads; "
                "write the output somewhere else"
            )


def _harmless_folder(path: Path, kind: OutputKind) -> bool:
    """An empty folder, or (for report folders) one holding only other prognosis outputs."""
    entries = list(path.iterdir())
    if not entries:
        return True
    if kind is not OutputKind.MODEL_REPORT or output_kind_of(path) is kind:
        return False
    return all(entry.is_dir() and output_kind_of(entry) is not None for entry in entries)


def _contents(path: Path) -> str:
    if path.is_file():
        return "an existing file"
    names = sorted(entry.name for entry in path.iterdir())
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"an existing folder holding {shown}"


@contextlib.contextmanager
def claim_output(
    path: Path, kind: OutputKind, *, overwrite: bool = False, protect: Iterable[Path] = ()
) -> Iterator[Path]:
    """Check ``path`` (:func:`check_output`), lock it, clean up after crashed runs, and yield it.

    Claims nest: inside a claim of ``path``, claiming it again (as a library function called by
    a command does) neither re-checks nor re-locks it.
    """
    path = Path(path)
    if path in _held:
        yield path
        return
    check_output(path, kind, overwrite=overwrite, protect=protect)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = _lock(path)
    _held[path] = _Held(handle, kind)
    try:
        clean_leftovers(path)
        yield path
    finally:
        del _held[path]
        _unlock(path, handle)


def _lock(path: Path) -> int:
    lock = path.with_name(f".{path.name}.lock")
    try:
        handle = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as error:
        raise OutputError(f"--out {path}: cannot create {lock.name} ({error.strerror})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The holder removes the lock file when it is done: a lock taken on a file that is
        # no longer at its path (or was replaced meanwhile) is no lock at all.
        held = os.fstat(handle).st_ino == os.stat(lock).st_ino
    except OSError as error:
        os.close(handle)
        if error.errno not in (errno.EAGAIN, errno.EACCES, errno.ENOENT):
            raise
        held = False
    if not held:
        raise OutputError(
            f"--out {path} is being written by another process; wait for it to finish"
        )
    return handle


def _unlock(path: Path, handle: int) -> None:
    path.with_name(f".{path.name}.lock").unlink(missing_ok=True)
    os.close(handle)


def clean_leftovers(path: Path) -> None:
    """Remove what crashed writers of ``path`` left beside it; restore an output caught between
    its two renames. Call only while holding the lock of ``path``."""
    path = Path(path)
    old = sorted(path.parent.glob(f".{path.name}.old-*"))
    if old and not (path.exists() or path.is_symlink()):
        os.replace(old.pop(), path)  # the previous output, moved aside before the crash
    for leftover in [*old, *path.parent.glob(f".{path.name}.tmp-*")]:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


def is_private(path: Path) -> bool:
    """Whether ``path`` (an output, or a file inside one) must be owner-only: true unless it
    lies in a claimed output of a kind that holds no person-level data (reports, metrics)."""
    path = Path(path)
    for candidate in (path, *path.parents):
        held = _held.get(candidate)
        if held is not None:
            return held.kind.private
    return True
