"""Reading cohort definition files: UTF-8, YAML 1.2 meaning, strictly, and no key twice.

PyYAML's ``SafeLoader`` reads YAML 1.1, where ``no`` is false, ``0777`` is 511, ``1:30`` is 90 and
``2018-02-30`` a timestamp that raises; and it keeps the last of two equal keys, silently. Here a
plain scalar is null, ``true``/``false``, a decimal integer or a decimal float, and anything else
stays text (so the schema refuses it where a number is expected); tags outside the core schema
are refused, and a key given twice in one mapping, at any depth, is an error naming both lines.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import reprlib
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prognosis.exceptions import DefinitionError

__all__ = ["read_yaml", "spelled"]


def read_yaml(path: Path) -> Any:
    """The data of a YAML file read strictly (module docstring); DefinitionError otherwise."""
    if path.is_dir():
        raise DefinitionError(
            f"{path}: is a folder, not a cohort definition file; give a YAML file such as "
            "cohorts/NAME.yaml"
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DefinitionError(f"{path}: no such cohort definition file") from None
    except OSError as error:
        raise DefinitionError(f"{path}: cannot read ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DefinitionError(
            f"{path}: not UTF-8 text: byte 0x{raw[error.start]:02x} at byte offset "
            f"{error.start} (line {line}) cannot be decoded; save the file as UTF-8"
        ) from None
    try:
        return _parse_yaml(text, str(path))
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path}: {_yaml_problem(error, text)}") from None


def _parse_yaml(text: str, origin: str) -> Any:
    loader = _Loader(text)  # checks for control characters (ReaderError)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _refuse_duplicate_keys(node, loader, origin)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _yaml_problem(error: yaml.YAMLError, text: str) -> str:
    if isinstance(error, yaml.reader.ReaderError):
        line = text.count("\n", 0, error.position) + 1
        return (
            f"character #x{error.character:04x} at line {line} is not allowed in YAML "
            "(a control character); remove it"
        )
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    if context := getattr(error, "context", None):
        problem += f" ({context})"
    kind = (
        "unsupported YAML"
        if isinstance(error, yaml.constructor.ConstructorError)
        else "malformed YAML"
    )
    return f"{kind}{where}: {problem}"


# YAML 1.2 core schema, strictly: PyYAML's SafeLoader reads YAML 1.1, where `no` is false,
# `0777` is 511, `1:30` is 90 and `2018-02-30` a timestamp (that raises). Here a plain scalar is
# null, true/false, a decimal integer or a decimal float; anything else stays text, so the
# schema refuses it where a number is expected. Tags outside the core schema are refused.
_MAX_DEPTH = 64
_NULL = r"~|null|Null|NULL|"
_BOOL = r"true|True|TRUE|false|False|FALSE"
_INT = r"[-+]?(?:0|[1-9][0-9]*)"
_FLOAT = rf"(?:{_INT}(?:\.[0-9]*)?|[-+]?\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_TAG = "tag:yaml.org,2002:"


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 core-schema scalars and a nesting limit."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}
    yaml_constructors: ClassVar[dict[Any, Any]] = {}
    _depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > _MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {_MAX_DEPTH} levels deep",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def flatten_mapping(self, node: MappingNode) -> None:
        """No YAML 1.1 merge keys: ``<<`` is an ordinary (and here unknown) key."""

    def construct_strict(self, node: ScalarNode) -> Any:
        """``!!bool``, ``!!int`` and ``!!float``, implicit or explicit: YAML 1.2 spelling only."""
        value = self.construct_scalar(node)
        kind = node.tag.removeprefix(_TAG)
        pattern = {"bool": _BOOL, "int": _INT, "float": _FLOAT}[kind]
        if not re.fullmatch(pattern, value):
            problem = f"{value!r} is not a YAML 1.2 {kind}"
        elif kind == "bool":
            return value.lower() == "true"
        elif len(value) > 40 or math.isinf(float(value)):
            problem = f"the number {value[:40]!r} is too long"
        else:
            return int(value) if kind == "int" else float(value)
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)

    def construct_refused(self, node: Node) -> Any:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"the tag {node.tag!r} is not allowed; cohort definitions use plain YAML 1.2 values",
            node.start_mark,
        )


for _tag, _pattern, _first in [
    ("null", _NULL, ["~", "n", "N", ""]),
    ("bool", _BOOL, list("tTfF")),
    ("int", _INT, list("-+0123456789")),
    ("float", _FLOAT, list("-+.0123456789")),
]:
    _Loader.add_implicit_resolver(_TAG + _tag, re.compile(f"^(?:{_pattern})$"), _first)
for _tag in ("bool", "int", "float"):
    _Loader.add_constructor(_TAG + _tag, _Loader.construct_strict)
for _tag, _constructor in [
    ("null", yaml.SafeLoader.construct_yaml_null),
    ("str", yaml.SafeLoader.construct_yaml_str),
    ("seq", yaml.SafeLoader.construct_yaml_seq),
    ("map", yaml.SafeLoader.construct_yaml_map),
    (None, _Loader.construct_refused),
]:
    _Loader.add_constructor(None if _tag is None else _TAG + _tag, _constructor)


def _refuse_duplicate_keys(root: Node, loader: _Loader, origin: str) -> None:
    """A key twice in one mapping, at any depth, is an error naming it and both lines."""
    seen: set[int] = set()
    pending: list[tuple[Node, str]] = [(root, "")]
    while pending:  # depth first, in the order of the file
        node, where = pending.pop()
        if id(node) in seen:  # an alias (or a cycle): checked once
            continue
        seen.add(id(node))
        children: list[tuple[Node, str]] = []
        if isinstance(node, SequenceNode):
            children = [
                (item, f"{where}[{i}]{_item_name(item)}") for i, item in enumerate(node.value)
            ]
        elif isinstance(node, MappingNode):
            lines: dict[Any, int] = {}
            for key, value in node.value:
                name = loader.construct_object(key) if isinstance(key, ScalarNode) else id(key)
                if name in lines:
                    place = f"in {where}" if where else "at the top level"
                    raise DefinitionError(
                        f"{origin}: key {spelled(name)} appears twice {place} (lines "
                        f"{lines[name]} and {key.start_mark.line + 1}); keep one of them"
                    )
                lines[name] = key.start_mark.line + 1
                children.append((value, f"{where}.{name}" if where else str(name)))
        pending += reversed(children)


def _item_name(node: Node) -> str:
    """`` ('no_prior_bleed')`` for a list item with a ``name:``, as :func:`_field_path` says."""
    names = [
        value.value
        for key, value in (node.value if isinstance(node, MappingNode) else [])
        if isinstance(key, ScalarNode) and key.value == "name" and isinstance(value, ScalarNode)
    ]
    return f" ({spelled(names[0])})" if names else ""


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlevel = 1
_REPR.maxlist = _REPR.maxdict = 4


def spelled(value: Any) -> str:
    """A value as YAML spells it (``true``, ``null``, ``'no'``), cut short when long."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    text = _REPR.repr(value)
    return text if len(text) <= 80 else text[:76] + " ..."
