"""`pstn publish --postgres` against a real PostgreSQL server started for these tests (Debian's
`postgresql` package: initdb and pg_ctl in a temporary folder, listening on 127.0.0.1 only)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
from conftest import free_port, pstn

import pytest

PASSWORD = "s3cret-Pa55"


def postgres_binary(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    assert found[-1], f"PostgreSQL's {name} is missing: `make test` installs Debian's postgresql package"
    return found[-1]


@pytest.fixture(scope="module")
def server():
    """A PostgreSQL server in a temporary folder, owned by the `postgres` user when the tests run
    as root (PostgreSQL refuses to run as root); stopped and removed after the module."""
    root = Path(tempfile.mkdtemp(prefix="pstn-pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        as_owner = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    root.chmod(0o755)
    (root / "pw").write_text(PASSWORD + "\n")
    if as_owner:
        shutil.chown(root / "pw", "postgres")
    port = free_port()
    data = root / "data"
    subprocess.run(
        [
            *as_owner,
            postgres_binary("initdb"),
            "-D",
            str(data),
            "-U",
            "pstn",
            "--auth=scram-sha-256",
            f"--pwfile={root / 'pw'}",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"
    subprocess.run(
        [*as_owner, postgres_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql://pstn:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_owner, postgres_binary("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def sample_site(root: Path, calls: int, seed: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSTN_")}
    env.update(PSTN_RAW_DIR=str(root / "raw"), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    generated = pstn(
        env,
        "generate",
        "--out",
        str(root / "raw"),
        "--calls",
        str(calls),
        "--months",
        "2",
        "--users",
        "80",
        "--seed",
        str(seed),
    )
    assert generated.returncode == 0, generated.stderr[-2000:]
    built = pstn(env, "run")
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    return env


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Two built warehouses of different sizes: publishing one after the other changes every table."""
    root = tmp_path_factory.mktemp("pg-sites")
    return sample_site(root / "small", 3000, 1), sample_site(root / "large", 6000, 2)


def money_figures(con, tables, money_columns: str) -> dict[str, tuple]:
    """Row count and the sum of every money column of each table (`money_columns` lists a table's
    decimal columns; DuckDB and psycopg connections both run it)."""
    figures = {}
    for table in tables:
        money = [c for (c,) in con.execute(money_columns, [table]).fetchall()]
        sums = "".join(f', sum("{c}")' for c in money)
        figures[table] = con.execute(f"select count(*){sums} from marts.{table}").fetchone()
    return figures


def figures_in_duckdb(warehouse: str) -> dict[str, tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        tables = [
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'marts'").fetchall()
        ]
        return money_figures(
            con,
            tables,
            "select column_name from duckdb_columns() where schema_name = 'marts' and table_name = ? "
            "and data_type like 'DECIMAL%' order by column_index",
        )


def figures_in_postgres(url: str, tables) -> dict[str, tuple]:
    import psycopg

    with psycopg.connect(url) as con:
        return money_figures(
            con,
            tables,
            "select column_name from information_schema.columns where table_schema = 'marts' "
            "and table_name = %s and data_type = 'numeric' order by ordinal_position",
        )


def test_every_mart_arrives_with_its_numbers_types_keys_and_comments(server, sites):
    import psycopg

    small, _ = sites
    published = pstn(small, "publish", "--postgres", server)
    assert published.returncode == 0, published.stderr[-3000:]
    assert PASSWORD not in published.stdout + published.stderr
    expected = figures_in_duckdb(small["PSTN_WAREHOUSE"])
    assert figures_in_postgres(server, expected) == expected
    with psycopg.connect(server) as con:
        types = dict(
            con.execute(
                "select table_name || '.' || column_name, data_type from information_schema.columns "
                "where table_schema = 'marts'"
            ).fetchall()
        )
        keys = dict(
            con.execute(
                "select tc.table_name, string_agg(kcu.column_name, ',' order by kcu.ordinal_position) "
                "from information_schema.table_constraints tc join information_schema.key_column_usage kcu "
                "using (constraint_schema, constraint_name) where tc.table_schema = 'marts' "
                "and tc.constraint_type in ('PRIMARY KEY', 'UNIQUE') group by 1"
            ).fetchall()
        )
        undescribed = con.execute(
            "select c.relname, a.attname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped "
            "where n.nspname = 'marts' and c.relkind = 'r' and col_description(c.oid, a.attnum) is null"
        ).fetchall()
        tables_undescribed = con.execute(
            "select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'marts' and c.relkind = 'r' and obj_description(c.oid, 'pg_class') is null"
        ).fetchall()
        schemas = {n for (n,) in con.execute("select nspname from pg_namespace where nspname like 'marts%'")}
    assert types["fct_pstn_calls.rated_charge"] == "numeric"
    assert types["fct_pstn_calls.start_at"] == "timestamp with time zone"
    assert types["fct_pstn_calls.billing_date"] == "date"
    assert types["fct_pstn_calls.duration_seconds"] == "bigint"
    assert types["fct_pstn_calls.is_blocked"] == "boolean"
    assert keys["fct_pstn_calls"] == "tenant_id,usage_id" and keys["fct_alerts"] == "alert_id"
    assert set(keys) == set(expected)  # every mart has its grain key
    assert undescribed == [] and tables_undescribed == []
    assert schemas == {"marts"}  # nothing left beside
    # Timestamps are the same instants (UTC), not shifted by a session time zone.
    with duckdb.connect(small["PSTN_WAREHOUSE"], read_only=True) as con:
        first = con.execute("select min(start_at) from marts.fct_pstn_calls").fetchone()[0]
    with psycopg.connect(server) as con:
        con.execute("set time zone 'America/New_York'")
        stored = con.execute("select min(start_at) at time zone 'UTC' from marts.fct_pstn_calls").fetchone()[0]
    assert stored == first


def test_a_reader_sees_one_whole_publish_or_the_other(server, sites):
    """A BI tool querying in a loop while the other warehouse is published: every answer is the old
    state or the new one (the calls fact and the monthly charges agree), never an error."""
    import psycopg

    small, large = sites
    assert pstn(small, "publish", "--postgres", server).returncode == 0
    states = {
        tuple(figures_in_duckdb(env["PSTN_WAREHOUSE"])[t][0] for t in ("fct_pstn_calls", "rpt_monthly_charges"))
        for env in sites
    }
    seen, errors, done = [], [], threading.Event()

    def reader() -> None:
        with psycopg.connect(server, autocommit=True) as con:
            while not done.is_set():
                try:
                    seen.append(
                        con.execute(
                            "select (select count(*) from marts.fct_pstn_calls), "
                            "(select count(*) from marts.rpt_monthly_charges)"
                        ).fetchone()
                    )
                except psycopg.Error as error:
                    errors.append(str(error))
                time.sleep(0.01)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for env in (large, small, large):
            assert pstn(env, "publish", "--postgres", server).returncode == 0
    finally:
        done.set()
        thread.join()
    assert errors == []
    assert len(seen) > 10 and set(seen) <= states and len(set(seen)) == 2


def test_a_wrong_password_or_no_server_says_so_and_keeps_the_previous_publish(server, sites):
    small, large = sites
    assert pstn(small, "publish", "--postgres", server).returncode == 0
    before = figures_in_postgres(server, ["fct_pstn_calls"])
    wrong = server.replace(PASSWORD, "not-the-password")
    refused = pstn(large, "publish", "--postgres", wrong)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and "password authentication failed" in refused.stderr, refused.stderr
    assert "not-the-password" not in refused.stderr + refused.stdout
    nobody = f"postgresql://pstn:{PASSWORD}@127.0.0.1:{free_port()}/postgres"
    unreachable = pstn(dict(large, PSTN_POSTGRES_URL=nobody), "publish")
    assert unreachable.returncode == 2 and "cannot connect to postgresql://pstn@127.0.0.1:" in unreachable.stderr
    assert PASSWORD not in unreachable.stderr + unreachable.stdout
    assert figures_in_postgres(server, ["fct_pstn_calls"]) == before
    assert Decimal(0) < before["fct_pstn_calls"][1]


def test_the_nightly_publishes_to_postgres_when_the_url_is_set(server, sites):
    import json

    _, large = sites
    env = dict(large, PSTN_POSTGRES_URL=server)
    night = pstn(env, "nightly")
    assert night.returncode == 0, night.stdout[-3000:] + night.stderr[-2000:]
    assert PASSWORD not in night.stdout + night.stderr
    summary = json.loads((Path(large["PSTN_WAREHOUSE"]).parent / "nightly" / "last_run.json").read_text())
    assert "publish_postgres" in [s["step"] for s in summary["steps"]]
    expected = figures_in_duckdb(large["PSTN_WAREHOUSE"])
    assert summary["facts"]["postgres_rows"] == sum(figures[0] for figures in expected.values())
    assert figures_in_postgres(server, expected) == expected


def test_a_publish_after_an_incremental_build_replaces_only_the_rerated_months(server, tmp_path):
    """Late calls for one month, an incremental build, a second publish: the call-level facts get
    that month replaced and every other month's rows are left as they were (same row versions);
    the database then holds exactly what the warehouse does."""
    import psycopg

    env = sample_site(tmp_path, 3000, 3)
    first = pstn(env, "publish", "--postgres", server)
    assert first.returncode == 0, first.stderr[-3000:]
    with duckdb.connect(env["PSTN_WAREHOUSE"], read_only=True) as con:
        months = [
            m
            for (m,) in con.execute(
                "select distinct billing_month from marts.fct_pstn_calls where tenant_id = 'default' order by 1"
            ).fetchall()
        ]
        held = con.execute("select count(distinct (tenant_id, billing_month)) from marts.fct_pstn_calls").fetchone()[0]
    assert len(months) >= 2
    late, kept = months[-1], months[0]

    def row_versions(month) -> set:
        with psycopg.connect(server) as con:
            return set(
                con.execute(
                    "select usage_id, xmin::text from marts.fct_pstn_calls "
                    "where tenant_id = 'default' and billing_month = %s",
                    [month],
                ).fetchall()
            )

    kept_before = row_versions(kept)
    day = f"{late:%Y-%m}-20"
    header = "UsageId,Call Type,Start Time,End Time,Duration Seconds,AAD ObjectId,Destination Dialed,Currency\n"
    rows = [
        f"late-{i},user_out,{day}T10:{i:02d}:00Z,{day}T10:{i:02d}:30Z,30,nobody,United States,USD" for i in range(3)
    ]
    (Path(env["PSTN_RAW_DIR"]) / "cdr" / "late.csv").write_text(header + "\n".join(rows) + "\n")  # tenant default
    rebuilt = pstn(env, "run")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]

    second = pstn(env, "publish", "--postgres", server)
    assert second.returncode == 0, second.stderr[-3000:]
    assert f"fct_pstn_calls: 1 of {held} months replaced" in second.stdout, second.stdout
    # The FOCUS mart has no rating stamp: a digest of each month's rows decides, so at most the
    # month with the late calls is copied again.
    focus = [line for line in second.stdout.splitlines() if "fct_focus_charges: " in line]
    assert focus and focus[0].split(": ")[1].split(" of ")[0] in ("0", "1"), second.stdout
    assert row_versions(kept) == kept_before and kept_before  # untouched rows were not rewritten
    assert len(row_versions(late)) > 0
    expected = figures_in_duckdb(env["PSTN_WAREHOUSE"])
    assert figures_in_postgres(server, expected) == expected
    # A third publish with nothing re-rated copies nothing.
    third = pstn(env, "publish", "--postgres", server)
    assert "fct_pstn_calls: 0 of" in third.stdout and "fct_focus_charges: 0 of" in third.stdout
    assert figures_in_postgres(server, expected) == expected


def test_the_documented_roles_publish_and_read_only(server, sites):
    """The role recipe of docs/bi.md, run as written on database `teams`: the publisher role
    (no superuser) publishes, the BI role reads every mart and can change nothing, also after a
    second publish has replaced the tables."""
    import re

    import psycopg

    small, large = sites
    recipe = (Path(__file__).resolve().parents[2] / "docs" / "bi.md").read_text()
    block = re.search(r"A read-only role for BI tools.*?```sql\n(.*?)```", recipe, re.S).group(1)
    block = block.replace("'...'", "'docs-Pa55'")
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("drop database if exists teams")
        for role in ("bi_reader", "pstn_publisher"):
            admin.execute(f"drop role if exists {role}")
        admin.execute("create database teams")
        statements = [s.strip() for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]
        assert len(statements) >= 4
        for statement in statements:
            admin.execute(statement)
    teams = server.rsplit("/", 1)[0].replace(f"pstn:{PASSWORD}", "pstn_publisher:docs-Pa55") + "/teams"
    reader = teams.replace("pstn_publisher:", "bi_reader:")
    for env in (small, large):
        published = pstn(dict(env, PSTN_POSTGRES_READER="bi_reader"), "publish", "--postgres", teams)
        assert published.returncode == 0, published.stderr[-2000:]
    expected = figures_in_duckdb(large["PSTN_WAREHOUSE"])
    assert figures_in_postgres(reader, expected) == expected
    with psycopg.connect(reader, autocommit=True) as con:
        for statement in (
            "delete from marts.fct_pstn_calls",
            "create table marts.mine (x int)",
            "drop table marts.rpt_monthly_charges",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute(statement)


def test_publish_state_of_another_shape_is_replaced_not_fatal(server, sites):
    """What the last publish recorded only spares copies: state written by another version is
    dropped, every table is replaced whole once, and the next publish goes month by month."""
    import psycopg

    small, _ = sites
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute("drop schema if exists pstn_publish cascade")
        admin.execute("create schema pstn_publish")
        admin.execute("create table pstn_publish.published_months (table_name text, rated_at text)")
    first = pstn(small, "publish", "--postgres", server)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "months replaced" not in first.stdout
    again = pstn(small, "publish", "--postgres", server)
    assert "fct_pstn_calls: 0 of" in again.stdout, again.stdout
    expected = figures_in_duckdb(small["PSTN_WAREHOUSE"])
    assert figures_in_postgres(server, expected) == expected
