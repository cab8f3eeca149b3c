"""Serving the marts to readers: the published DuckDB file, PostgreSQL, FOCUS files, read-only queries."""
