"""Running SQL a person typed against the published warehouse, strictly for reading.

Three locks, any one of which would refuse the known escapes on its own:
- the text must be exactly one statement and that statement a query (SELECT, or EXPLAIN of one);
  COPY, ATTACH, INSTALL/LOAD, EXPORT, SET, PRAGMA assignments, CALL and every write are refused
  before the database is opened;
- the database is opened read-only;
- DuckDB runs with external access off (no file, URL or other database can be read or written,
  nothing installed or loaded) and its configuration locked, so a query cannot switch either back.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

ALLOWED = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
LOCKED_DOWN = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "lock_configuration": True,
}


class QueryRefused(Exception):
    """The text is not one read-only query; the message says why."""


def check_read_only(sql: str) -> str:
    """The one statement in `sql`, or QueryRefused naming what is not allowed."""
    try:
        statements = duckdb.connect().extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryRefused(f"the SQL does not parse: {str(exc).splitlines()[0]}") from exc
    if len(statements) != 1:
        raise QueryRefused(f"give exactly one statement (found {len(statements)})")
    kind = statements[0].type
    if kind not in ALLOWED:
        name = str(kind).rsplit(".", 1)[-1]
        raise QueryRefused(f"{name} statements are not allowed: this command only reads (SELECT)")
    return sql


def open_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """The published warehouse, read-only, with nothing outside it reachable."""
    if not warehouse.is_file():
        raise QueryRefused(f"{warehouse} does not exist yet: run `make run` (or `pstn build`) first")
    try:
        return duckdb.connect(str(warehouse), read_only=True, config=dict(LOCKED_DOWN))
    except duckdb.IOException as exc:
        raise QueryRefused(f"{warehouse} cannot be opened for reading: {str(exc).splitlines()[0]}") from exc


def read_only_query(warehouse: Path, sql: str) -> tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyRelation]:
    """The connection and the result of `sql`, checked and run under every lock above."""
    check_read_only(sql)
    con = open_read_only(warehouse)
    try:
        return con, con.sql(sql)
    except duckdb.Error as exc:
        con.close()
        raise QueryRefused(str(exc).splitlines()[0]) from exc
