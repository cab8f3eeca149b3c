"""Publishing the marts into PostgreSQL, the database every BI tool connects to natively (Power BI
Import and DirectQuery, Tableau, Superset, Metabase, Excel).

Every table of the published DuckDB warehouse's schema `marts` goes into schema `marts` of the
target database: same table and column names, exact types (numeric money, date, timestamptz in
UTC, bigint, boolean), the grain key as primary key (a unique constraint treating nulls as equal
where a key column may be null), and every table and column described with COMMENT ON.

The whole publish is one transaction, so a reader sees the previous publish or the new one, never
a mix, and a failed publish rolls back leaving the previous one untouched. Within it:
- a call-level fact (a call key and a tenant and month: `usage_id`, `tenant_id`,
  `billing_month`, or FOCUS's `x_` spellings of them) that the database already holds with the
  same columns and key has only its changed months replaced: a (tenant, month) whose stamp
  differs from what the last publish recorded in schema `pstn_publish`, or that is gone from the
  warehouse. The stamp is the month's newest `rated_at` and row count where the table has
  `rated_at`, else a digest of the month's rows (the FOCUS mart). The cost of the copy follows
  the re-rated months, not the history. More than half the rows changed: replaced whole.
- every other table is loaded into a schema beside (`marts__loading`), then moved into `marts` in
  place of the old one.
A password in the URL is never printed.
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
# What the last publish recorded: each table's column signature and each month's stamp.
STATE = "pstn_publish"
# A call-level fact's (call key, tenant, month) columns, as the marts spell them.
MONTH_KEYS = (("usage_id", "tenant_id", "billing_month"), ("x_usage_id", "x_tenant_id", "x_billing_month"))

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
    # Tables replaced month by month: (months replaced, months held, rows copied).
    monthly: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> str:
        rows = sum(self.tables.values())
        lines = [f"published {len(self.tables)} tables ({rows:,} rows) to {self.target} in {self.seconds:.1f} s"]
        for table, (replaced, held, copied) in sorted(self.monthly.items()):
            lines.append(f"  {table}: {replaced} of {held} months replaced ({copied:,} rows copied), the rest kept")
        return "\n".join(lines)


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
                _prepare_schemas(cursor)
                for table, comment in tables:
                    definition = columns[table]
                    signature = _signature(definition, keys.get(table))
                    month_key = _month_key(definition)
                    months = _month_stamps(source, table, definition, month_key)
                    changed = _changed_months(cursor, table, signature, months)
                    if changed is not None:
                        copied = _replace_months(cursor, source, Path(scratch), table, month_key, changed)
                        _describe(cursor, sql.Identifier(SCHEMA, table), comment, definition)
                        report.tables[table] = sum(count for _, count in months.values())
                        report.monthly[table] = (len(changed), len(months), copied)
                    else:
                        report.tables[table] = _load_table(
                            cursor, source, Path(scratch), table, comment, definition, keys.get(table)
                        )
                        # The swap: readers see the old table until this transaction commits.
                        cursor.execute(sql.SQL("drop table if exists {} cascade").format(sql.Identifier(SCHEMA, table)))
                        cursor.execute(
                            sql.SQL("alter table {} set schema {}").format(
                                sql.Identifier(LOADING, table), sql.Identifier(SCHEMA)
                            )
                        )
                    _record(cursor, table, signature, months)
                _drop_tables_not_published(cursor, [table for table, _ in tables])
                cursor.execute(sql.SQL("drop schema {} cascade").format(sql.Identifier(LOADING)))
                if reader_role:
                    cursor.execute(
                        sql.SQL("grant usage on schema {} to {}").format(
                            sql.Identifier(SCHEMA), sql.Identifier(reader_role)
                        )
                    )
                    cursor.execute(
                        sql.SQL("grant select on all tables in schema {} to {}").format(
                            sql.Identifier(SCHEMA), sql.Identifier(reader_role)
                        )
                    )
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


def _prepare_schemas(cursor) -> None:
    from psycopg import sql

    cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(SCHEMA)))
    cursor.execute(
        sql.SQL("comment on schema {} is {}").format(
            sql.Identifier(SCHEMA),
            sql.Literal("Teams PSTN pool and charge marts, published by pstn publish --postgres."),
        )
    )
    cursor.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(LOADING)))
    cursor.execute(sql.SQL("create schema {}").format(sql.Identifier(LOADING)))
    cursor.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(STATE)))
    # State of another shape (an earlier version's) is dropped: it only spares copies, so without
    # it every table is replaced whole once.
    cursor.execute(
        "select count(*) from information_schema.columns where table_schema = %s "
        "and table_name = 'published_months' and column_name = 'stamp'",
        [STATE],
    )
    if not cursor.fetchone()[0]:
        for name in ("published_months", "published_tables"):
            cursor.execute(sql.SQL("drop table if exists {}").format(sql.Identifier(STATE, name)))
    cursor.execute(
        sql.SQL(
            "create table if not exists {} (table_name text primary key, signature text not null, "
            "published_at timestamptz not null)"
        ).format(sql.Identifier(STATE, "published_tables"))
    )
    cursor.execute(
        sql.SQL(
            "create table if not exists {} (table_name text, tenant_id text, billing_month date, "
            "stamp text, row_count bigint, primary key (table_name, tenant_id, billing_month))"
        ).format(sql.Identifier(STATE, "published_months"))
    )


def _signature(columns, key) -> str:
    """The table's shape as PostgreSQL holds it: column names and types, and the key."""
    return ";".join(f"{name} {postgres_type(data_type)}" for name, data_type, _ in columns) + f"|{key}"


def _month_key(columns) -> tuple[str, str] | None:
    """The (tenant, month) columns of a call-level fact, None for every other table."""
    names = {name for name, _, _ in columns}
    return next(((tenant, month) for call, tenant, month in MONTH_KEYS if {call, tenant, month} <= names), None)


def _month_stamps(source, table: str, columns, month_key) -> dict[tuple[str, object], tuple[object, int]]:
    """(tenant, month) -> (stamp, rows) of a call-level fact; {} for other tables. The stamp is the
    month's newest rated_at, or where the table has none, a sum of its rows' hashes (any change of
    any value changes it; the order of rows does not)."""
    if month_key is None:
        return {}
    names = [name for name, _, _ in columns]
    if "rated_at" in names:
        stamp = "cast(max(rated_at) as varchar)"
    else:
        stamp = f"cast(sum(cast(hash({', '.join(sql_identifier(n) for n in names)}) as hugeint)) as varchar)"
    tenant, month = (sql_identifier(name) for name in month_key)
    rows = source.execute(
        f"select {tenant}, {month}, {stamp}, count(*) from {SCHEMA}.{sql_identifier(table)} group by all"
    ).fetchall()
    return {(tenant_id, billing_month): (value, count) for tenant_id, billing_month, value, count in rows}


def _changed_months(cursor, table: str, signature: str, months: dict) -> list[tuple[str, object]] | None:
    """The (tenant, month) pairs to replace, or None when the table is to be replaced whole: it is
    not re-rated by month, the database does not hold it as last published, or most rows changed."""
    from psycopg import sql

    if not months:
        return None
    cursor.execute(
        sql.SQL("select signature from {} where table_name = %s").format(sql.Identifier(STATE, "published_tables")),
        [table],
    )
    recorded = cursor.fetchone()
    cursor.execute("select to_regclass(%s) is not null", [f"{SCHEMA}.{table}"])
    if not recorded or recorded[0] != signature or not cursor.fetchone()[0]:
        return None
    cursor.execute(
        sql.SQL("select tenant_id, billing_month, stamp, row_count from {} where table_name = %s").format(
            sql.Identifier(STATE, "published_months")
        ),
        [table],
    )
    held = {(tenant, month): (rated_at, count) for tenant, month, rated_at, count in cursor.fetchall()}
    changed = sorted({key for key, stamp in months.items() if held.get(key) != stamp} | (set(held) - set(months)))
    changed_rows = sum(months.get(key, (None, 0))[1] for key in changed)
    if changed_rows * 2 > sum(count for _, count in months.values()):
        return None
    return changed


def _replace_months(cursor, source, scratch: Path, table: str, month_key, changed: list[tuple[str, object]]) -> int:
    """Delete the changed months' rows and copy the warehouse's rows of those months in their place."""
    from psycopg import sql

    if not changed:
        return 0
    tenants = [tenant for tenant, _ in changed]
    months = [month for _, month in changed]
    cursor.execute(
        sql.SQL("delete from {} where ({}, {}) in (select * from unnest(%s::text[], %s::date[]))").format(
            sql.Identifier(SCHEMA, table), sql.Identifier(month_key[0]), sql.Identifier(month_key[1])
        ),
        [tenants, months],
    )
    key = ", ".join(sql_identifier(name) for name in month_key)
    pairs = ", ".join(f"({sql_literal(tenant)}, date {sql_literal(str(month))})" for tenant, month in changed)
    return _copy_rows(
        cursor,
        source,
        scratch,
        table,
        f"select published.* from {SCHEMA}.{sql_identifier(table)} as published semi join "
        f"(values {pairs}) as changed ({key}) using ({key})",
        sql.Identifier(SCHEMA, table),
    )


def _record(cursor, table: str, signature: str, months: dict) -> None:
    from psycopg import sql

    published_tables = sql.Identifier(STATE, "published_tables")
    published_months = sql.Identifier(STATE, "published_months")
    cursor.execute(sql.SQL("delete from {} where table_name = %s").format(published_tables), [table])
    cursor.execute(sql.SQL("delete from {} where table_name = %s").format(published_months), [table])
    if not months:
        return
    cursor.execute(sql.SQL("insert into {} values (%s, %s, now())").format(published_tables), [table, signature])
    cursor.executemany(
        sql.SQL("insert into {} values (%s, %s, %s, %s, %s)").format(published_months),
        [(table, tenant, month, rated_at, count) for (tenant, month), (rated_at, count) in months.items()],
    )


def _drop_tables_not_published(cursor, tables: list[str]) -> None:
    """A table the warehouse no longer holds leaves `marts` too."""
    from psycopg import sql

    cursor.execute("select tablename from pg_tables where schemaname = %s", [SCHEMA])
    for (name,) in cursor.fetchall():
        if name not in tables:
            cursor.execute(sql.SQL("drop table {} cascade").format(sql.Identifier(SCHEMA, name)))
            cursor.execute(
                sql.SQL("delete from {} where table_name = %s").format(sql.Identifier(STATE, "published_tables")),
                [name],
            )


def _copy_rows(cursor, source, scratch: Path, table: str, query: str, target) -> int:
    """COPY the rows of a DuckDB query into a PostgreSQL table; the number of rows copied."""
    from psycopg import sql

    # DuckDB writes the rows as CSV (a null unquoted and empty, an empty text quoted), which
    # PostgreSQL's COPY reads back exactly; timestamps are UTC and the session's zone is UTC.
    csv = scratch / f"{table}.csv"
    source.execute(f"copy ({query}) to {sql_literal(str(csv))} (format csv, header false)")
    with cursor.copy(sql.SQL("copy {} from stdin (format csv)").format(target)) as copy, csv.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    csv.unlink()
    return cursor.rowcount


def _describe(cursor, target, comment, columns) -> None:
    from psycopg import sql

    if comment:
        cursor.execute(sql.SQL("comment on table {} is {}").format(target, sql.Literal(comment)))
    for name, _, description in columns:
        if description:
            cursor.execute(
                sql.SQL("comment on column {}.{} is {}").format(target, sql.Identifier(name), sql.Literal(description))
            )


def _load_table(cursor, source, scratch: Path, table: str, comment, columns, key) -> int:
    from psycopg import sql

    target = sql.Identifier(LOADING, table)
    definitions = [
        sql.SQL("{} {}").format(sql.Identifier(name), sql.SQL(postgres_type(data_type)))
        for name, data_type, _ in columns
    ]
    cursor.execute(sql.SQL("create table {} ({})").format(target, sql.SQL(", ").join(definitions)))
    rows = _copy_rows(cursor, source, scratch, table, f"select * from {SCHEMA}.{sql_identifier(table)}", target)
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
    _describe(cursor, target, comment, columns)
    return rows


def _without_secrets(text: str, url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    try:
        password = conninfo_to_dict(url).get("password")
    except Exception:
        password = None
    text = text.replace(url, "<url>")
    return text.replace(password, "***") if password else text
