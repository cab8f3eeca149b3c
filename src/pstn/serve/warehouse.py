"""Publishing the marts to the file BI tools open.

`$PSTN_WAREHOUSE` holds schema `marts` only, with the tables' and columns' descriptions; the
archive, staging and intermediate data stay in the private build warehouse. The published file
is written beside its final name and renamed over it in one step, so a reader sees the previous
state or the new one, never a half-written file, and a BI tool that holds the old file open
keeps reading it undisturbed (the rename swaps the directory entry, not the reader's inode). The
build never opens the published file, so no reader can block it with a lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

PUBLISHED_SCHEMA = "marts"
ALIAS = "pstn_publishing"


def sql_literal(text: str) -> str:
    """A SQL string literal (DuckDB)."""
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    """A quoted SQL identifier (DuckDB)."""
    return '"' + name.replace('"', '""') + '"'


def fsync_path(path: Path) -> None:
    """Flush a file's (or a folder's) data to disk. Windows cannot open a folder to flush it (its
    file system journals the rename itself): there a folder is left as it is."""
    if os.name == "nt" and path.is_dir():
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def publish_marts(con: duckdb.DuckDBPyConnection, target: Path, tables: Iterable[str]) -> list[tuple[str, int]]:
    """Copy `marts.<table>` of the database `con` is using into a new DuckDB file, with their
    comments, then rename it to `target`. Returns (table, rows) per table."""
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.publishing-{os.getpid()}")
    for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
        leftover.unlink(missing_ok=True)
    source = con.execute("select current_database()").fetchone()[0]
    published: list[tuple[str, int]] = []
    con.execute(f"attach {sql_literal(str(temporary))} as {ALIAS}")
    try:
        con.execute(f"create schema {ALIAS}.{PUBLISHED_SCHEMA}")
        for table in tables:
            origin = f"{sql_identifier(source)}.{PUBLISHED_SCHEMA}.{sql_identifier(table)}"
            copy = f"{ALIAS}.{PUBLISHED_SCHEMA}.{sql_identifier(table)}"
            con.execute(f"create table {copy} as select * from {origin}")
            published.append((table, con.execute(f"select count(*) from {copy}").fetchone()[0]))
            for (comment,) in con.execute(
                "select comment from duckdb_tables() where database_name = ? and schema_name = ? and table_name = ?"
                " and comment is not null",
                [source, PUBLISHED_SCHEMA, table],
            ).fetchall():
                con.execute(f"comment on table {copy} is {sql_literal(comment)}")
            for column, comment in con.execute(
                "select column_name, comment from duckdb_columns() where database_name = ? and schema_name = ?"
                " and table_name = ? and comment is not null",
                [source, PUBLISHED_SCHEMA, table],
            ).fetchall():
                con.execute(f"comment on column {copy}.{sql_identifier(column)} is {sql_literal(comment)}")
        con.execute(f"checkpoint {ALIAS}")
    except BaseException:
        con.execute(f"detach {ALIAS}")
        temporary.unlink(missing_ok=True)
        raise
    con.execute(f"detach {ALIAS}")
    fsync_path(temporary)
    os.replace(temporary, target)
    fsync_path(target.parent)
    return published
