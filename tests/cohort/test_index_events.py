"""Index events take the person and the observation period in one join when nobody has two
periods (the work table ``person_periods`` of the data-quality checks), and by grouping the
periods that hold each index record otherwise; both forms must give the same table.

Truth from outside the fast form: the general form, run on the same staging views, and the
planted periods of a synthetic CDM.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import duckdb
import pytest

from prognosis.cohort import load_definition, parse_source
from prognosis.cohort.build import StepRunner
from prognosis.cohort.compile import cohort_steps
from prognosis.cohort.engines import open_engine
from prognosis.synth import generate_cdm

_DEFINITION = Path("cohorts/synth_af_stroke.yaml")


@pytest.fixture(scope="module")
def cdm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("index_events") / "cdm.duckdb"
    generate_cdm(path, persons=2000, seed=5)
    return path


def _index_events(cdm: Path) -> tuple[bool, list[tuple], list[tuple]]:
    """Whether ``person_periods`` was made; index events by the form the build chose, and by
    the general form."""
    definition = load_definition(_DEFINITION)
    with open_engine(parse_source(f"duckdb:///{cdm}")) as engine:
        runner = StepRunner(engine, lambda _message: None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner.stage(definition, dt.date(2026, 12, 1))
        tables = []
        for person_periods in (runner.person_periods, False):
            steps = cohort_steps(definition, person_periods=person_periods)[:3]
            runner.run_steps(steps)
            tables.append(sorted(engine.fetch_rows("SELECT * FROM index_events"), key=repr))
            for step in reversed(steps):
                engine.execute(f"DROP TABLE {step.name}")
    return runner.person_periods, tables[0], tables[1]


def test_one_period_each_takes_the_person_periods_join(cdm: Path) -> None:
    made, fast, general = _index_events(cdm)
    assert made
    assert fast == general
    assert len(fast) > 100
    # a record outside its person's period has no period dates, one inside has them
    assert any(row[3] is None for row in fast) and any(row[3] is not None for row in fast)


def test_two_periods_take_the_general_form(cdm: Path, tmp_path: Path) -> None:
    copy = tmp_path / "two_periods.duckdb"
    copy.write_bytes(cdm.read_bytes())
    with duckdb.connect(str(copy)) as con:
        # one person gains a second period: the one-join form would no longer hold
        con.execute(
            "INSERT INTO observation_period SELECT observation_period_id + 10000000, person_id, "
            "DATE '1950-01-01', DATE '1950-12-31', period_type_concept_id "
            "FROM observation_period LIMIT 1"
        )
    made, chosen, general = _index_events(copy)
    assert not made
    assert chosen == general
