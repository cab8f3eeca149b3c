"""Publishing the marts into PostgreSQL, the database every BI tool connects to natively (Power BI
Import and DirectQuery, Tableau, Superset, Metabase, Excel).

Every table of the published DuckDB warehouse's schema `marts` goes into schema `marts` of the
target database: same table and column names, exact types (numeric money, date, timestamptz in
UTC, bigint, boolean), the grain key as primary key (a unique constraint treating nulls as equal
where a key column may be null), and every table and column described with COMMENT ON. The tables
are loaded into a schema beside (`marts__loading`) and swapped in by renaming schemas in the same
transaction, so a reader sees the previous publish or the new one, never a mix; a failed publish
rolls back and leaves the previous one untouched. A password in the URL is never printed.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml

from pstn.errors import OperatorError
from pstn.serve.warehouse import sql_identifier, sql_literal

SCHEMA = "marts"
LOADING = "marts__loading"
PREVIOUS = "marts__previous"

# DuckDB type (prefix) -> PostgreSQL type; DECIMAL keeps its precision and scale.
TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIMESTAMP": "timestamptz",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "HUGEINT": "numeric(38, 0)",
}


@dataclass
class PostgresPublish:
    target: str
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        rows = sum(self.tables.values())
        return f"published {len(self.tables)} tables ({rows:,} rows) to {self.target} in {self.seconds:.1f} s"


def safe_target(url: str) -> str:
    """`user@host:port/dbname` of a connection string, without its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the PostgreSQL URL (unreadable)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{host}:{port}/{parts.get('dbname') or ''}"


def postgres_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return "numeric" + duckdb_type[len("DECIMAL") :]
    try:
        return TYPES[duckdb_type]
    except KeyError:
        raise OperatorError(f"no PostgreSQL type for DuckDB's {duckdb_type}") from None


def grain_keys(project_dir: Path) -> dict[str, list[str]]:
    """Each mart's key, as its dbt tests state it: a `unique` column, else the first
    unique_combination_of_columns."""
    keys: dict[str, list[str]] = {}
    for path in sorted((project_dir / "models" / "marts").rglob("_*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            single = [c["name"] for c in model.get("columns", []) if "unique" in (c.get("data_tests") or [])]
            combination = next(
                (
                    (t["unique_combination_of_columns"].get("arguments") or t["unique_combination_of_columns"])[
                        "combination_of_columns"
                    ]
                    for t in model.get("data_tests") or []
                    if isinstance(t, dict) and "unique_combination_of_columns" in t
                ),
                None,
            )
            key = single[:1] or combination
            if key:
                keys[model["name"]] = list(key)
    return keys


def publish_to_postgres(
    warehouse: Path, url: str, project_dir: Path, reader_role: str | None = None
) -> PostgresPublish:
    import psycopg
    from psycopg import sql

    started = time.monotonic()
    report = PostgresPublish(target=safe_target(url))
    if not warehouse.exists():
        raise OperatorError(f"{warehouse} does not exist: build the marts first (make run)")
    keys = grain_keys(project_dir)
    with duckdb.connect(str(warehouse), read_only=True) as source:
        tables = source.execute(
            "select table_name, comment from duckdb_tables() where schema_name = ? order by table_name", [SCHEMA]
        ).fetchall()
        columns = {
            table: source.execute(
                "select column_name, data_type, comment from duckdb_columns() "
                "where schema_name = ? and table_name = ? order by column_index",
                [SCHEMA, table],
            ).fetchall()
            for table, _ in tables
        }
        if not tables:
            raise OperatorError(f"{warehouse} holds no marts: build them first (make run)")
        try:
            connection = psycopg.connect(url, connect_timeout=10, autocommit=False)
        except psycopg.Error as error:
            reason = (str(error).strip().splitlines() or ["unknown error"])[-1]
            raise OperatorError(f"cannot connect to {report.target}: {_without_secrets(reason, url)}") from None
        try:
            with connection, tempfile.TemporaryDirectory(prefix="pstn-pg-") as scratch:
                cursor = connection.cursor()
                cursor.execute("set local time zone 'UTC'")
                cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(LOADING)))
                cursor.execute(sql.SQL("create schema {}").format(sql.Identifier(LOADING)))
                for table, comment in tables:
                    report.tables[table] = _load_table(
                        cursor, source, Path(scratch), table, comment, columns[table], keys.get(table)
                    )
                if reader_role:
                    cursor.execute(
                        sql.SQL("grant usage on schema {} to {}").format(
                            sql.Identifier(LOADING), sql.Identifier(reader_role)
                        )
                    )
                    cursor.execute(
                        sql.SQL("grant select on all tables in schema {} to {}").format(
                            sql.Identifier(LOADING), sql.Identifier(reader_role)
                        )
                    )
                # The swap: readers see the old schema until this transaction commits.
                cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(PREVIOUS)))
                cursor.execute("select 1 from pg_namespace where nspname = %s", [SCHEMA])
                if cursor.fetchone():
                    cursor.execute(
                        sql.SQL("alter schema {} rename to {}").format(sql.Identifier(SCHEMA), sql.Identifier(PREVIOUS))
                    )
                cursor.execute(
                    sql.SQL("alter schema {} rename to {}").format(sql.Identifier(LOADING), sql.Identifier(SCHEMA))
                )
                cursor.execute(
                    sql.SQL("comment on schema {} is {}").format(
                        sql.Identifier(SCHEMA),
                        sql.Literal("Teams PSTN pool and charge marts, published by pstn publish --postgres."),
                    )
                )
                cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(PREVIOUS)))
        except psycopg.Error as error:
            reason = (str(error).strip().splitlines() or ["unknown error"])[0]
            raise OperatorError(
                f"publishing to {report.target} failed, the previous publish is untouched: "
                f"{_without_secrets(reason, url)}"
            ) from None
        finally:
            connection.close()
    report.seconds = time.monotonic() - started
    return report


def _load_table(cursor, source, scratch: Path, table: str, comment, columns, key) -> int:
    from psycopg import sql

    target = sql.Identifier(LOADING, table)
    definitions = [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(postgres_type(data_type)))
        for name, data_type, _ in columns
    ]
    cursor.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(definitions)))
    # DuckDB writes the rows as CSV (a null unquoted and empty, an empty text quoted), which
    # PostgreSQL's COPY reads back exactly; timestamps are UTC and the session's zone is UTC.
    csv = scratch / f"{table}.csv"
    source.execute(
        f"copy (select * from {SCHEMA}.{sql_identifier(table)}) to {sql_literal(str(csv))} (format csv, header false)"
    )
    with cursor.copy(sql.SQL("copy {} from stdin (format csv)").format(target)) as copy, csv.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    csv.unlink()
    if key:
        # A key column holding nulls cannot be a primary key: unique, with nulls equal, instead.
        cursor.execute(
            sql.SQL("select count(*) from {} where {}").format(
                target,
                sql.SQL(" or ").join(sql.SQL("{} is null").format(sql.Identifier(name)) for name in key),
            )
        )
        constraint = "unique nulls not distinct" if cursor.fetchone()[0] else "primary key"
        cursor.execute(
            sql.SQL("alter table {} add constraint {} " + constraint + " ({})").format(
                target,
                sql.Identifier(f"{table}_key"),
                sql.SQL(", ").join(sql.Identifier(name) for name in key),
            )
        )
    if comment:
        cursor.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment)))
    for name, _, description in columns:
        if description:
            cursor.execute(
                sql.SQL("comment on column {}.{} is {}").format(target, sql.Identifier(name), sql.Literal(description))
            )
    cursor.execute(sql.SQL("select count(*) from {}").format(target))
    return cursor.fetchone()[0]


def _without_secrets(text: str, url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:
        password = None
    text = text.replace(url, "<url>")
    return text.replace(password, "***") if password else text
