"""Fuzzing cohort definitions (hypothesis): whatever a definition file holds, loading it gives a
CohortDefinition or a DefinitionError, never another exception, and what loads round-trips.

The mutations start from the shipped cohorts/*.yaml: keys dropped, renamed, duplicated or given
random values and random nesting, and random characters and bytes written into the file.
"""

from __future__ import annotations

import contextlib
import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from prognosis.cohort import CohortDefinition, load_definition, parse_definition
from prognosis.cohort.definition import definition_hash
from prognosis.exceptions import DefinitionError

COHORTS = Path(__file__).resolve().parents[2] / "cohorts"
TEXTS = {path.name: path.read_text(encoding="utf-8") for path in sorted(COHORTS.glob("*.yaml"))}
# PyYAML's own (YAML 1.1) reading, only as a source of shapes to mutate.
TREES = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path inside ``node``, parents before children."""
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    else:
        return
    for key, child in children:
        yield (*prefix, key)
        yield from _paths(child, (*prefix, key))


def _keys(node: Any) -> set[str]:
    found: set[str] = set()
    for path in _paths(node):
        found |= {key for key in path if isinstance(key, str)}
    return found


KEYS = sorted(set().union(*(_keys(tree) for tree in TREES.values())))
# Spellings that YAML 1.1 would have turned into something else.
YAML_1_1 = ["yes", "no", "on", "off", "y", "n", "0777", "0o17", "0x1F", "1_000", "1:30", ".inf"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=12),
    st.dates(),
    st.sampled_from(KEYS + YAML_1_1 + ["2018-02-30", "death", "drug_exposure", "first"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

SAME_KIND: dict[type, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: st.integers(-400, 2000),
    float: st.floats(0, 1),
    str: st.sampled_from(KEYS) | st.text(max_size=12),
    list: st.lists(st.integers(-400, 2000), max_size=3),
}


@st.composite
def mutated_trees(draw: st.DrawFn) -> Any:
    """A shipped definition with one to three values dropped, renamed, retyped, perturbed or
    nested."""
    tree = copy.deepcopy(TREES[draw(st.sampled_from(sorted(TREES)))])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(tree))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _at(tree, path[:-1]), path[-1]
        action = draw(st.sampled_from(["drop", "retype", "perturb", "nest", "rename"]))
        if action == "drop":
            del parent[key]
        elif action == "retype":
            parent[key] = draw(values)
        elif action == "perturb":  # another value of the same kind
            parent[key] = draw(SAME_KIND.get(type(parent[key]), values))
        elif action == "nest":
            inside = parent[key]
            parent[key] = [inside] if draw(st.booleans()) else {draw(st.sampled_from(KEYS)): inside}
        elif isinstance(parent, dict):
            parent[draw(st.sampled_from(KEYS))] = parent.pop(key)
    return tree


def _at(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        tree = tree[key]
    return tree


def _loads_or_refuses(path: Path) -> CohortDefinition | None:
    """Load ``path``: a definition that round-trips through JSON, or a DefinitionError."""
    try:
        definition = load_definition(path)
    except DefinitionError as error:
        assert str(error).startswith(f"{path}: ")
        event("refused")
        return None
    event("loaded")
    _round_trips(definition)
    return definition


def _round_trips(definition: CohortDefinition) -> None:
    again = parse_definition(definition.model_dump(mode="json"))
    assert again == definition
    assert definition_hash(again) == definition_hash(definition)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_shipped_definition_round_trips(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text(TEXTS[name], encoding="utf-8")
    _round_trips(load_definition(path))


@FUZZ
@given(tree=mutated_trees(), unicode=st.booleans())
def test_mutated_definition_loads_or_raises_definition_error(
    folder: Path, tree: Any, unicode: bool
) -> None:
    path = folder / "mutated.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False, allow_unicode=unicode), encoding="utf-8")
    _loads_or_refuses(path)
    # The same tree as Python objects, as a definition stored in a manifest arrives.
    with contextlib.suppress(DefinitionError):
        _round_trips(parse_definition(tree))


KEY_LINE = re.compile(r"^ *([a-z_]+):(?: |$)")


@FUZZ
@given(name=st.sampled_from(sorted(TEXTS)), data=st.data())
def test_any_key_line_written_twice_is_refused_naming_it_and_both_lines(
    folder: Path, name: str, data: st.DataObject
) -> None:
    lines = TEXTS[name].splitlines(keepends=True)
    candidates = [number for number, line in enumerate(lines) if KEY_LINE.match(line)]
    number = data.draw(st.sampled_from(candidates))
    key = KEY_LINE.findall(lines[number])[0]
    path = folder / "twice.yaml"
    path.write_text("".join([*lines[: number + 1], *lines[number:]]), encoding="utf-8")
    lines_at = rf"\(lines {number + 1} and {number + 2}\)"
    expected = rf"^{re.escape(str(path))}: key '{key}' appears twice .*{lines_at}"
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@FUZZ
@given(
    name=st.sampled_from(sorted(TEXTS)),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.integers(0, 4), st.binary(max_size=6)), min_size=1, max_size=4
    ),
)
def test_random_bytes_in_the_file_load_or_raise_definition_error(
    folder: Path, name: str, edits: list[tuple[float, int, bytes]]
) -> None:
    raw = bytearray(TEXTS[name].encode("utf-8"))
    for where, cut, insert in edits:  # at a relative position: remove ``cut`` bytes, insert some
        at = int(where * len(raw))
        raw[at : at + cut] = insert
    path = folder / "bytes.yaml"
    path.write_bytes(bytes(raw))
    _loads_or_refuses(path)


@FUZZ
@given(
    name=st.sampled_from(sorted(TEXTS)),
    edits=st.lists(
        st.tuples(st.floats(0, 1), st.text(alphabet=":-?[]{},&*!|>'\"%@#~ \t\n\\0aZ", max_size=4)),
        min_size=1,
        max_size=4,
    ),
)
def test_yaml_syntax_characters_in_the_file_load_or_raise_definition_error(
    folder: Path, name: str, edits: list[tuple[float, str]]
) -> None:
    text = TEXTS[name]
    for where, insert in edits:
        at = int(where * len(text))
        text = text[:at] + insert + text[at:]
    path = folder / "syntax.yaml"
    path.write_text(text, encoding="utf-8")
    _loads_or_refuses(path)
