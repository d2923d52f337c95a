"""Reading the JSON files that stages pass to one another: one reader, one wording of its errors.

Each caller names its own error type (``DatasetError`` for a dataset folder,
``ModelDirectoryError`` for a model directory, ...), so the user sees the file and what to do in
the words of the command that read it, never a ``JSONDecodeError`` traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from prognosis.exceptions import PrognosisError

__all__ = ["json_kind", "parse_json", "read_json"]

T = TypeVar("T", dict, list)

_JSON_KINDS = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def json_kind(value: Any) -> str:
    """A parsed JSON value's kind, in words: "an object", "an array", "a number", ..."""
    return _JSON_KINDS.get(type(value), type(value).__name__)


def read_json(path: Path, kind: type[T], error: type[PrognosisError], *, hint: str = "") -> T:
    """Read and parse the UTF-8 JSON file at ``path``, which must hold ``kind``.

    Parameters
    ----------
    path : Path
        The file.
    kind : dict or list
        What the document must be (a JSON object or array).
    error : type of PrognosisError
        Raised, naming ``path``, when the file cannot be read, is not UTF-8 JSON or is not
        ``kind``.
    hint : str
        What to do, appended to the message after "; " (e.g. "rebuild the dataset with ...").

    Returns
    -------
    dict or list
        The document.
    """
    try:
        raw = path.read_bytes()
    except OSError as problem:
        raise error(f"{path}: cannot read ({problem.strerror or problem}){_tail(hint)}") from None
    return parse_json(path, raw, kind, error, hint=hint)


def parse_json(
    path: Path, raw: bytes, kind: type[T], error: type[PrognosisError], *, hint: str = ""
) -> T:
    """Parse ``raw``, the bytes of the file ``path``, as :func:`read_json` does.

    For a caller that needs the bytes too (to check a hash or a signature before trusting them).
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as problem:  # not UTF-8, or not JSON
        raise error(f"{path}: cannot read ({_first_line(problem)}){_tail(hint)}") from None
    if not isinstance(data, kind):
        raise error(
            f"{path}: expected a JSON {_JSON_KINDS[kind].split()[-1]}, found "
            f"{json_kind(data)}{_tail(hint)}"
        )
    return data


def _tail(hint: str) -> str:
    return f"; {hint}" if hint else ""


def _first_line(problem: Exception) -> str:
    return (str(problem).strip().splitlines() or [type(problem).__name__])[0]
