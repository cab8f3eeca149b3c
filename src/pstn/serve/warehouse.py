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
import shutil
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


# Call-level facts re-rated by month: (tenant, month, the run stamp every re-rated row carries).
MONTH_KEYS = (("tenant_id", "billing_month", "rated_at"), ("x_tenant_id", "x_billing_month", "x_rated_at"))
# Above this share of a table's rows changed, the table is copied whole instead of month by month.
WHOLE_TABLE_SHARE = 0.5
CHANGED = "pstn_publish_changed_months"  # a temporary table of the connection


def publish_marts(
    con: duckdb.DuckDBPyConnection, target: Path, tables: Iterable[str], start_from: Path | None = None
) -> list[tuple[str, int]]:
    """Copy `marts.<table>` of the database `con` is using into a new DuckDB file, with their
    comments, then rename it to `target`. Returns (table, rows) per table.

    The new file starts as a byte copy of the file published last (when it is one this function
    wrote: schema `marts` and nothing else), so a build that re-rated a few months rewrites only
    those: a call-level fact with the same columns has only the (tenant, month)s whose newest run
    stamp or row count differ replaced; every other table is copied whole (they are small). A
    copy of the previous file costs its size in disk bandwidth, not the encoding of every row.
    `start_from`: the file published last when `target` is a new name (the nightly's)."""
    target = target.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.publishing-{os.getpid()}")
    _remove(temporary)
    source = con.execute("select current_database()").fetchone()[0]
    tables = list(tables)
    published: list[tuple[str, int]] = []
    _attach_previous(con, target if target.is_file() or start_from is None else start_from, temporary)
    try:
        held = _table_columns(con, ALIAS)
        origin = {table: f"{sql_identifier(source)}.{PUBLISHED_SCHEMA}.{sql_identifier(table)}" for table in tables}
        copy = {table: f"{ALIAS}.{PUBLISHED_SCHEMA}.{sql_identifier(table)}" for table in {*tables, *held}}
        whole = []
        for table in tables:
            columns = _table_columns(con, source, table).get(table, [])
            month_key = _month_key([name for name, _ in columns])
            if not (
                held.get(table) == columns
                and month_key
                and _replace_changed_months(con, origin[table], copy[table], month_key)
            ):
                whole.append(table)
        # The tables replaced whole, and those no longer published, are dropped and checkpointed
        # first, so the new rows reuse their blocks (`create or replace` writes them after the old
        # ones, and the file grows by the table's size).
        dropped = [table for table in held if table in whole or table not in tables]
        for table in dropped:
            con.execute(f"drop table {copy[table]}")
        if dropped:
            con.execute(f"checkpoint {ALIAS}")
        for table in whole:
            con.execute(f"create table {copy[table]} as select * from {origin[table]}")
        for table in tables:
            published.append((table, con.execute(f"select count(*) from {copy[table]}").fetchone()[0]))
            _copy_comments(con, source, table, copy[table])
        con.execute(f"checkpoint {ALIAS}")
    except BaseException:
        con.execute(f"detach {ALIAS}")
        _remove(temporary)
        raise
    con.execute(f"detach {ALIAS}")
    fsync_path(temporary)
    os.replace(temporary, target)
    fsync_path(target.parent)
    return published


def _remove(database: Path) -> None:
    for path in (database, database.with_name(database.name + ".wal")):
        path.unlink(missing_ok=True)


def _attach_previous(con: duckdb.DuckDBPyConnection, target: Path, temporary: Path) -> None:
    """Attach `temporary` as ALIAS: a copy of the published file when it holds schema `marts`
    only (tables, no views or other schemas), else a new, empty file."""
    if target.is_file():
        try:
            shutil.copyfile(target, temporary)
            con.execute(f"attach {sql_literal(str(temporary))} as {ALIAS}")
        except (OSError, duckdb.Error):
            _remove(temporary)
        else:
            foreign = con.execute(
                "select count(*) from duckdb_tables() where database_name = ? and schema_name <> ?"
                " union all select count(*) from duckdb_views() where database_name = ? and not internal"
                " union all select count(*) from duckdb_schemas() where database_name = ?"
                " and schema_name not in ('main', 'marts', 'information_schema', 'pg_catalog')",
                [ALIAS, PUBLISHED_SCHEMA, ALIAS, ALIAS],
            ).fetchall()
            if not any(count for (count,) in foreign):
                con.execute(f"create schema if not exists {ALIAS}.{PUBLISHED_SCHEMA}")
                return
            con.execute(f"detach {ALIAS}")
            _remove(temporary)
    con.execute(f"attach {sql_literal(str(temporary))} as {ALIAS}")
    con.execute(f"create schema {ALIAS}.{PUBLISHED_SCHEMA}")


def _table_columns(con: duckdb.DuckDBPyConnection, database: str, table: str | None = None) -> dict[str, list]:
    """table -> [(column, type)] in order, for schema `marts` of `database` (one table or all)."""
    rows = con.execute(
        "select table_name, column_name, data_type from duckdb_columns() where database_name = ?"
        " and schema_name = ? and (? is null or table_name = ?) order by table_name, column_index",
        [database, PUBLISHED_SCHEMA, table, table],
    ).fetchall()
    columns: dict[str, list] = {}
    for name, column, kind in rows:
        columns.setdefault(name, []).append((column, kind))
    return columns


def _month_key(names: list[str]) -> tuple[str, str, str] | None:
    return next((key for key in MONTH_KEYS if set(key) <= set(names)), None)


def _replace_changed_months(con: duckdb.DuckDBPyConnection, origin: str, copy: str, month_key: tuple) -> bool:
    """Replace in `copy` the (tenant, month)s whose stamp (newest run stamp, rows) differs from
    `origin`'s, and those `origin` no longer has. False (nothing done) when more than
    WHOLE_TABLE_SHARE of the rows changed: copying the table whole is then quicker."""
    tenant, month, stamp = (sql_identifier(name) for name in month_key)
    stamps = f"select {tenant} as t, {month} as m, max({stamp}) as s, count(*) as n from {{}} group by all"
    con.execute(
        f"""
        create or replace temp table {CHANGED} as
        select coalesce(o.t, c.t) as t, coalesce(o.m, c.m) as m, coalesce(o.n, 0) as n
        from ({stamps.format(origin)}) as o
        full join ({stamps.format(copy)}) as c on o.t is not distinct from c.t and o.m is not distinct from c.m
        where o.s is distinct from c.s or o.n is distinct from c.n
        """
    )
    try:
        months, changed_rows = con.execute(f"select count(*), coalesce(sum(n), 0) from {CHANGED}").fetchone()
        if changed_rows > WHOLE_TABLE_SHARE * con.execute(f"select count(*) from {origin}").fetchone()[0]:
            return False
        if months:
            matches = (
                f"exists (select 1 from {CHANGED} as changed where changed.t is not distinct from {{0}}.{tenant}"
                f" and changed.m is not distinct from {{0}}.{month})"
            )
            con.execute(f"delete from {copy} as kept where {matches.format('kept')}")
            con.execute(f"insert into {copy} select * from {origin} as fresh where {matches.format('fresh')}")
        return True
    finally:
        con.execute(f"drop table if exists {CHANGED}")


def _copy_comments(con: duckdb.DuckDBPyConnection, source: str, table: str, copy: str) -> None:
    """The table's and its columns' descriptions as `source` has them (none where it has none)."""
    for (comment,) in con.execute(
        "select comment from duckdb_tables() where database_name = ? and schema_name = ? and table_name = ?",
        [source, PUBLISHED_SCHEMA, table],
    ).fetchall():
        con.execute(f"comment on table {copy} is {_comment_literal(comment)}")
    for column, comment in con.execute(
        "select column_name, comment from duckdb_columns() where database_name = ? and schema_name = ?"
        " and table_name = ?",
        [source, PUBLISHED_SCHEMA, table],
    ).fetchall():
        con.execute(f"comment on column {copy}.{sql_identifier(column)} is {_comment_literal(comment)}")


def _comment_literal(comment: str | None) -> str:
    return "null" if comment is None else sql_literal(comment)
