"""A bad cohort definition fails with a DefinitionError naming the file and the field at fault."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from prognosis.cohort import load_definition
from prognosis.exceptions import DefinitionError

COHORTS = Path(__file__).resolve().parents[2] / "cohorts"

# A small valid definition; each test breaks one thing in a copy of it.
VALID: dict[str, Any] = {
    "name": "tiny",
    "concept_sets": {"drugs": [1], "bleed": [2], "ulcer": {"include": [3], "descendants": True}},
    "index": {"concept_set": "drugs", "domain": "drug_exposure", "min_prior_observation": 365},
    "rules": [
        {
            "name": "no_prior_bleed",
            "concept_set": "bleed",
            "domain": "condition_occurrence",
            "window": [None, -1],
            "max_count": 0,
        }
    ],
    "outcome": {
        "concept_set": "bleed",
        "domain": "condition_occurrence",
        "time_at_risk": [1, 365],
    },
    "features": {
        "windows": {"prior_year": [-365, -1], "all_before": [None, -1]},
        "items": [
            {
                "kind": "concept_set",
                "name": "ulcer",
                "concept_set": "ulcer",
                "domain": "condition_occurrence",
                "windows": ["prior_year"],
                "statistics": ["presence", "count"],
            }
        ],
    },
}


def _changed(*changes: tuple[tuple[Any, ...], Any]) -> dict[str, Any]:
    """A copy of VALID with the value at each key path replaced (``...`` as value: removed)."""
    data = copy.deepcopy(VALID)
    for keys, value in changes:
        parent = data
        for key in keys[:-1]:
            parent = parent[key]
        if value is ...:
            del parent[keys[-1]]
        else:
            parent[keys[-1]] = value
    return data


def _write(tmp_path: Path, content: dict[str, Any] | list[Any] | str) -> Path:
    path = tmp_path / "cohort.yaml"
    text = content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def _says(path: Path, pattern: str) -> str:
    """A pattern for a message that starts with the file's path and later matches ``pattern``."""
    return rf"(?s)^{re.escape(str(path))}: .*{pattern}"


def test_valid_definition_loads(tmp_path: Path) -> None:
    definition = load_definition(_write(tmp_path, VALID))
    assert definition.name == "tiny"
    assert definition.rules[0].window.start is None
    assert definition.rules[0].window.end == -1


@pytest.mark.parametrize("path", sorted(COHORTS.glob("*.yaml")), ids=lambda path: path.name)
def test_every_cohort_in_the_repository_loads(path: Path) -> None:
    assert load_definition(path).name


def test_cohorts_folder_is_not_empty() -> None:
    assert sorted(COHORTS.glob("*.yaml")), f"no definitions in {COHORTS}"


def test_missing_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(DefinitionError, match=_says(path, "no such cohort definition file")):
        load_definition(path)


@pytest.mark.parametrize(
    ("text", "where", "problem"),
    [
        (
            "name: tiny\nindex:\n  domain: drug_exposure\n   concept_set: drugs\n",
            "line 4, column 15",
            "mapping values are not allowed here",
        ),
        (
            "name: tiny\nconcept_sets:\n\tdrugs: [1]\n",
            "line 3, column 1",
            "found character '\\t' that cannot start any token",
        ),
    ],
    ids=["bad-indentation", "tab"],
)
def test_malformed_yaml_names_line_and_column(
    tmp_path: Path, text: str, where: str, problem: str
) -> None:
    path = _write(tmp_path, text)
    expected = _says(path, f"malformed YAML at {where}: {re.escape(problem)}")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_definition_that_is_not_a_mapping_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, ["name", "tiny"])
    with pytest.raises(DefinitionError, match=_says(path, "a cohort definition is a YAML mapping")):
        load_definition(path)


def test_empty_file_says_it_is_empty(tmp_path: Path) -> None:
    path = _write(tmp_path, "# nothing here yet\n")
    with pytest.raises(DefinitionError, match=_says(path, "empty")):
        load_definition(path)


def test_unknown_top_level_field_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("outcomes",), {"domain": "death"})))
    expected = _says(path, r"\n  - outcomes: unknown field \(check its spelling and indentation\)")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_unknown_nested_field_names_its_full_path(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("index", "min_prior_obs"), 365)))
    with pytest.raises(DefinitionError, match=_says(path, r"index\.min_prior_obs: unknown field")):
        load_definition(path)


def test_unknown_field_in_a_rule_names_the_rule_position(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("rules", 0, "windw"), [None, -1])))
    with pytest.raises(
        DefinitionError, match=_says(path, r"rules\[0\] \('no_prior_bleed'\)\.windw: unknown field")
    ):
        load_definition(path)


def test_unknown_domain_lists_the_known_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("index", "domain"), "drug_exposures")))
    expected = _says(
        path, r"index\.domain: unknown value 'drug_exposures'; expected 'condition_occurrence'"
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize("empty", [[], {"include": []}], ids=["list", "include"])
def test_empty_concept_set_raises(tmp_path: Path, empty: Any) -> None:
    path = _write(tmp_path, _changed((("concept_sets", "bleed"), empty)))
    expected = _says(path, r"concept_sets\.bleed\.include: must not be empty")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (
            ("rules", 0, "window"),
            [30, -1],
            r"rules\[0\] \('no_prior_bleed'\)\.window: window start 30 is after end -1",
        ),
        (
            ("features", "windows", "prior_year"),
            [-1, -365],
            r"features\.windows\.prior_year: window start -1 is after end -365",
        ),
        (
            ("outcome", "time_at_risk"),
            [365, 30],
            r"outcome\.time_at_risk: time_at_risk start 365 is after end 30",
        ),
    ],
    ids=["rule", "feature-window", "time-at-risk"],
)
def test_window_start_after_end_raises(
    tmp_path: Path, keys: tuple[Any, ...], value: list[int], message: str
) -> None:
    path = _write(tmp_path, _changed((keys, value)))
    with pytest.raises(DefinitionError, match=_says(path, message)):
        load_definition(path)


def test_rule_naming_an_undefined_concept_set_names_both(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("rules", 0, "concept_set"), "bleeding")))
    expected = _says(
        path,
        r"rule 'no_prior_bleed' names concept set 'bleeding', which is not defined under "
        r"concept_sets \(defined: \['bleed', 'drugs', 'ulcer'\]\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_feature_naming_an_undefined_window_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "items", 0, "windows"), ["last_year"])))
    expected = _says(
        path,
        r"features: feature 'ulcer' uses window 'last_year', which is not defined under "
        r"features\.windows \(defined: \['all_before', 'prior_year'\]\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_feature_naming_an_undefined_window_names_the_feature(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "items", 0, "windows"), ["last_year"])))
    with pytest.raises(DefinitionError, match=_says(path, r"feature 'ulcer'.*'last_year'")):
        load_definition(path)


def test_feature_window_ending_on_index_day_needs_include_index_day(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "windows", "prior_year"), [-365, 0])))
    expected = _says(
        path,
        r"features: feature window 'prior_year' ends at day 0; features may only use data up to "
        r"day -1 relative to index \(set include_index_day: true to use day 0\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_feature_window_ending_on_index_day_is_accepted_with_include_index_day(
    tmp_path: Path,
) -> None:
    path = _write(
        tmp_path,
        _changed(
            (("features", "windows", "prior_year"), [-365, 0]),
            (("features", "include_index_day"), True),
        ),
    )
    features = load_definition(path).features
    assert features.include_index_day is True
    assert features.windows["prior_year"].end == 0


@pytest.mark.parametrize("include_index_day", [False, True])
def test_feature_window_ending_after_index_raises(tmp_path: Path, include_index_day: bool) -> None:
    path = _write(
        tmp_path,
        _changed(
            (("features", "windows", "prior_year"), [-365, 5]),
            (("features", "include_index_day"), include_index_day),
        ),
    )
    latest = 0 if include_index_day else -1
    expected = _says(
        path,
        f"feature window 'prior_year' ends at day 5; features may only use data up to day {latest}",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_last_statistic_on_a_domain_without_values_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("features", "items", 0, "statistics"), ["last"])))
    expected = _says(
        path,
        r"feature 'ulcer': 'last' needs a domain with values \(measurement, observation\)",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "value", "field"),
    [
        (("features", "items", 0, "statistics"), ["last"], r"features\.items\[0\] \('ulcer'\): "),
        (
            ("features", "items", 0, "windos"),
            ["prior_year"],
            r"features\.items\[0\] \('ulcer'\)\.windos: ",
        ),
    ],
    ids=["last-statistic", "unknown-field"],
)
def test_error_in_a_feature_item_names_the_item_not_its_kind(
    tmp_path: Path, keys: tuple[Any, ...], value: Any, field: str
) -> None:
    path = _write(tmp_path, _changed((keys, value)))
    with pytest.raises(DefinitionError, match=_says(path, r"\n  - " + field)):
        load_definition(path)


def test_duplicate_rule_names_raise(tmp_path: Path) -> None:
    rule = VALID["rules"][0]
    path = _write(tmp_path, _changed((("rules",), [rule, {**rule, "window": [-30, -1]}])))
    with pytest.raises(
        DefinitionError, match=_says(path, "rule name 'no_prior_bleed' is used twice")
    ):
        load_definition(path)


@pytest.mark.parametrize(
    ("keys", "bad", "field"),
    [
        (("name",), "GI_bleed", "name"),
        (("name",), "gi bleed", "name"),
        (("rules", 0, "name"), "No_prior_bleed", r"rules\[0\] \('No_prior_bleed'\)\.name"),
        (("rules", 0, "name"), "no prior bleed", r"rules\[0\] \('no prior bleed'\)\.name"),
    ],
    ids=["cohort-upper", "cohort-space", "rule-upper", "rule-space"],
)
def test_invalid_name_raises(tmp_path: Path, keys: tuple[Any, ...], bad: str, field: str) -> None:
    path = _write(tmp_path, _changed((keys, bad)))
    expected = _says(
        path,
        rf"{field}: '{bad}' is not a valid name: use lower-case letters, digits and underscores",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_invalid_concept_set_name_raises(tmp_path: Path) -> None:
    data = _changed((("concept_sets", "Bleed Set"), [4]))
    path = _write(tmp_path, data)
    expected = _says(path, r"concept_sets\.Bleed Set.*'Bleed Set' is not a valid name")
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_death_as_index_domain_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("index", "domain"), "death")))
    with pytest.raises(
        DefinitionError, match=_says(path, "index.domain: death cannot be an index")
    ):
        load_definition(path)


def test_rule_without_min_or_max_count_raises(tmp_path: Path) -> None:
    path = _write(tmp_path, _changed((("rules", 0, "max_count"), ...)))
    expected = _says(
        path,
        r"rules\[0\] \('no_prior_bleed'\): rule 'no_prior_bleed' needs min_count and/or max_count",
    )
    with pytest.raises(DefinitionError, match=expected):
        load_definition(path)


def test_every_problem_is_listed_not_only_the_first(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        _changed((("index", "domain"), "drugs"), (("outcome", "time_at_risk"), [30, 1])),
    )
    with pytest.raises(DefinitionError) as raised:
        load_definition(path)
    message = str(raised.value)
    assert "index.domain: unknown value 'drugs'" in message
    assert "outcome.time_at_risk: time_at_risk start 30 is after end 1" in message
