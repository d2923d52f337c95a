"""SQL engines a cohort runs on: DuckDB, PostgreSQL and Spark, one module each, found by
source kind (:mod:`prognosis.cohort.engines.registry`)."""

from prognosis.cohort.engines.base import ArrowDataset, AssembledDataset, Engine
from prognosis.cohort.engines.registry import engine_class, open_engine

__all__ = ["ArrowDataset", "AssembledDataset", "Engine", "engine_class", "open_engine"]
