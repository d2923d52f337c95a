"""Cohort definitions, their compilation to SQL, and builds on DuckDB, PostgreSQL and Spark."""

from prognosis.cohort.build import BuildResult, CohortError, build_cohort, compile_script
from prognosis.cohort.definition import CohortDefinition, load_definition, parse_definition
from prognosis.cohort.sources import Source, parse_source, spark_source

__all__ = [
    "BuildResult",
    "CohortDefinition",
    "CohortError",
    "Source",
    "build_cohort",
    "compile_script",
    "load_definition",
    "parse_definition",
    "parse_source",
    "spark_source",
]
