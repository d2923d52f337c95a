"""Helpers the tests share: a throwaway PostgreSQL server and a DuckDB-to-PostgreSQL loader."""
