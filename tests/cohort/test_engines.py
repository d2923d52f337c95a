"""The engines package: found by source kind, imported only when needed, and no module of
the cohort layer importing another in a circle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from prognosis.cohort.engines import Engine, engine_class
from prognosis.cohort.engines.registry import ENGINES
from prognosis.cohort.sources import SourceKind

COHORT = Path(__file__).resolve().parents[2] / "prognosis" / "cohort"
DIALECTS = {
    SourceKind.DUCKDB: "duckdb",
    SourceKind.FILES: "duckdb",
    SourceKind.POSTGRES: "postgres",
    SourceKind.SPARK: "spark",
}


@pytest.mark.parametrize("kind", list(SourceKind))
def test_every_source_kind_has_an_engine_of_its_dialect(kind: SourceKind) -> None:
    assert set(ENGINES) == set(SourceKind)
    engine = engine_class(kind)
    assert issubclass(engine, Engine)
    assert engine.dialect == DIALECTS[kind]


def _module(path: Path) -> str:
    parts = path.relative_to(COHORT.parents[1]).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The prognosis.cohort modules that ``path`` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found |= {name for name in names if name.startswith("prognosis.cohort")}
    return found


def test_no_module_of_the_cohort_layer_imports_another_in_a_circle() -> None:
    paths = sorted(COHORT.rglob("*.py"))
    modules = {_module(path): path for path in paths}
    graph = {name: _imports(path) & set(modules) for name, path in modules.items()}
    graph["prognosis.cohort.engines.registry"] |= {module for module, _ in ENGINES.values()}
    done: set[str] = set()

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, "import circle: " + " -> ".join((*path, name))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*path, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
    assert "prognosis.cohort.catalog" in modules
    assert graph["prognosis.cohort.catalog"] <= {"prognosis.cohort.definition", "prognosis.cohort"}


def test_a_duckdb_build_imports_neither_spark_nor_postgres_code() -> None:
    code = (
        "import sys\n"
        "from prognosis.cohort import build_cohort\n"
        "from prognosis.cohort.engines import engine_class\n"
        "from prognosis.cohort.sources import SourceKind\n"
        "engine_class(SourceKind.DUCKDB)\n"
        "engines = ('prognosis.cohort.engines.spark', 'prognosis.cohort.engines.postgres')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'psycopg')"
        " or m.startswith(engines)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"
