"""PostgreSQL URLs reach libpq exactly as written, and no message or manifest holds a password.

The server tests log in with a real password: a role whose password holds ``&``, ``%``, ``@``
and ``:`` is created on the test server, with a ``pg_hba.conf`` line that makes the server ask
that role (and only it) for its password.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg
import pytest
from psycopg import sql

from prognosis.cohort import build_cohort, parse_source
from prognosis.cohort.engines.postgres import PostgresEngine
from prognosis.cohort.sources import SourceKind
from prognosis.exceptions import SourceError
from tests.cohort.test_source_errors import BASE, EXPECTED, TODAY, _definition, _rows
from tests.support.cdm import write_cdm
from tests.support.postgres import load_duckdb_into_postgres
from tests.support.sources import assert_clean_failure, cli_build

PASSWORD = "p&ss%w@rd:1 x'y"
ROLE = "prognosis_pw_user"


def test_query_values_round_trip_encoded_once() -> None:
    source = parse_source(
        "postgresql://alice@db:5432/ehr?password=p%26ss&sslmode=require"
        "&application_name=a b&options=-c%20search_path%3Dcdm&schema=cdm"
    )
    assert source.kind is SourceKind.POSTGRES
    assert source.password == "p&ss"
    assert source.schema == "cdm"
    assert source.location == (
        "postgresql://alice@db:5432/ehr?sslmode=require&application_name=a%20b"
        "&options=-c%20search_path%3Dcdm"
    )
    assert psycopg.conninfo.conninfo_to_dict(source.location) == {
        "user": "alice",
        "host": "db",
        "port": "5432",
        "dbname": "ehr",
        "sslmode": "require",
        "application_name": "a b",
        "options": "-c search_path=cdm",
    }


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://alice:{quote(PASSWORD, safe='')}@db/ehr?schema=cdm",
        f"postgresql://alice@db/ehr?password={quote(PASSWORD, safe='')}&schema=cdm",
    ],
    ids=["user-info", "query"],
)
def test_password_is_kept_apart_from_location_label_and_repr(url: str) -> None:
    source = parse_source(url)
    assert source.password == PASSWORD
    for text in (source.location, source.describe(), repr(source)):
        assert PASSWORD not in text
        assert quote(PASSWORD, safe="") not in text
        assert "p&ss" not in text
    assert "***" in source.describe()


def test_service_file_url_needs_no_database_in_the_path() -> None:
    source = parse_source("postgresql:///?service=cdm_ro&schema=cdm")
    assert (source.location, source.schema, source.password) == (
        "postgresql:///?service=cdm_ro",
        "cdm",
        None,
    )


@pytest.fixture(scope="module")
def password_url(postgres_url: str) -> Iterator[str]:
    """A URL (no password in it) for a role that must log in with PASSWORD over TCP."""
    parts = urlsplit(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as con:
        hba = Path(con.execute("SHOW hba_file").fetchone()[0])
        if not os.access(hba, os.W_OK):
            pytest.skip("the test server's pg_hba.conf is not on this machine")
        con.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))
        con.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(PASSWORD)
            )
        )
        original = hba.read_text(encoding="utf-8")
        rules = "".join(
            f"host all {ROLE} {net} scram-sha-256\n" for net in ("127.0.0.1/32", "::1/128")
        )
        hba.write_text(rules + original, encoding="utf-8")
        con.execute("SELECT pg_reload_conf()")
        try:
            yield f"postgresql://{ROLE}@{parts.hostname}:{parts.port}{parts.path}"
        finally:
            hba.write_text(original, encoding="utf-8")
            con.execute("SELECT pg_reload_conf()")
            con.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))


def _user_of(url: str) -> str:
    engine = PostgresEngine(parse_source(url))
    try:
        ((user, application),) = engine.fetch_rows(
            "SELECT current_user, current_setting('application_name')"
        )
    finally:
        engine.close()
    return f"{user} {application}"


@pytest.mark.postgres
def test_password_with_url_special_characters_logs_in_from_user_info(password_url: str) -> None:
    user, _, rest = password_url.removeprefix("postgresql://").partition("@")
    url = f"postgresql://{user}:{quote(PASSWORD, safe='')}@{rest}?application_name=a%20b%26c"
    assert _user_of(url) == f"{ROLE} a b&c"


@pytest.mark.postgres
def test_password_with_url_special_characters_logs_in_from_the_query(password_url: str) -> None:
    url = f"{password_url}?password={quote(PASSWORD, safe='')}&application_name=x y"
    assert _user_of(url) == f"{ROLE} x y"


@pytest.mark.postgres
def test_password_from_pgpassword_logs_in(
    password_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    assert _user_of(password_url).startswith(ROLE)


@pytest.mark.postgres
@pytest.mark.parametrize("where", ["user-info", "query", "PGPASSWORD"])
def test_wrong_password_is_a_clear_error_without_the_password(
    password_url: str, where: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wrong = "wr&ng%p@ss:1"
    encoded = quote(wrong, safe="")
    user, _, rest = password_url.removeprefix("postgresql://").partition("@")
    url = {
        "user-info": f"postgresql://{user}:{encoded}@{rest}",
        "query": f"{password_url}?password={encoded}",
        "PGPASSWORD": password_url,
    }[where]
    if where == "PGPASSWORD":
        monkeypatch.setenv("PGPASSWORD", wrong)
    with pytest.raises(
        SourceError, match=f'cannot connect .*password authentication failed for user "{ROLE}"'
    ) as raised:
        PostgresEngine(parse_source(url))
    message = str(raised.value)
    assert wrong not in message and encoded not in message and "p@ss" not in message
    result = cli_build(tmp_path, f"{url}{'&' if '?' in url else '?'}schema=cdm")
    output = assert_clean_failure(result, "password authentication failed")
    assert wrong not in output and encoded not in output


@pytest.mark.postgres
def test_manifest_names_the_source_without_its_password(postgres_url: str, tmp_path: Path) -> None:
    """The manifest stores ``Source.describe()``: the password is masked there."""
    load_duckdb_into_postgres(write_cdm(tmp_path / "cdm.duckdb", BASE), postgres_url, "tiny_pw")
    url = f"{postgres_url}?schema=tiny_pw&password=never-stored%26here"
    build_cohort(_definition(), parse_source(url), tmp_path / "out", today=TODAY)
    assert _rows(tmp_path / "out") == EXPECTED
    text = (tmp_path / "out" / "manifest.json").read_text(encoding="utf-8")
    assert "never-stored" not in text
    assert json.loads(text)["source"].endswith("?schema=tiny_pw&password=***")
