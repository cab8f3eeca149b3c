"""The published warehouse (the file BI tools open) after each publish holds exactly the build's
marts, with their descriptions, however it was reached: a first publish, a publish after a few
months were re-rated (only those months rewritten), after a column changed, a mart was dropped,
or over a file this project did not write."""

from __future__ import annotations

from pathlib import Path

import duckdb

import pytest
from pstn.serve.warehouse import publish_marts

MARTS = ["fct_calls", "fct_focus", "rpt_summary"]


def make_build(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.fct_calls as
        select 'tenant-' || (i % 2) as tenant_id, make_date(2024, 1 + (i % 3), 1) as billing_month,
            i as usage_id, cast(i * 1.25 as decimal(18, 2)) as rated_charge,
            timestamp '2024-04-01 00:00:00' as rated_at
        from range(3000) as t(i)
        """
    )
    con.execute(
        """
        create table marts.fct_focus as
        select tenant_id as x_tenant_id, billing_month as x_billing_month, usage_id as x_usage_id,
            rated_charge as BilledCost, rated_at as x_rated_at
        from marts.fct_calls
        """
    )
    con.execute(
        "create table marts.rpt_summary as select tenant_id, billing_month, sum(rated_charge) as charge"
        " from marts.fct_calls group by all"
    )
    con.execute("comment on table marts.fct_calls is 'One row per call.'")
    con.execute("comment on column marts.fct_calls.rated_charge is 'The rated charge.'")
    return con


def rerate(con: duckdb.DuckDBPyConnection, month: str, stamp: str) -> None:
    """What a build that re-rated one month leaves: its rows rewritten with the run's stamp."""
    con.execute(f"delete from marts.fct_calls where billing_month = date '{month}'")
    con.execute(
        f"""
        insert into marts.fct_calls (tenant_id, billing_month, usage_id, rated_charge, rated_at)
        select 'tenant-' || (i % 2), date '{month}', 10000 + i, cast(i * 2.5 as decimal(18, 2)), timestamp '{stamp}'
        from range(1000) as t(i)
        """
    )
    con.execute(f"delete from marts.fct_focus where x_billing_month = date '{month}'")
    con.execute(
        f"insert into marts.fct_focus select tenant_id, billing_month, usage_id, rated_charge, rated_at"
        f" from marts.fct_calls where billing_month = date '{month}'"
    )
    con.execute(
        "create or replace table marts.rpt_summary as select tenant_id, billing_month, sum(rated_charge) as charge"
        " from marts.fct_calls group by all"
    )


def assert_published_equals_build(con: duckdb.DuckDBPyConnection, published: Path, tables: list[str]) -> None:
    con.execute(f"attach '{published}' as published (read_only)")
    try:
        held = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where database_name = 'published'"
            ).fetchall()
        }
        assert held == set(tables)
        schemas = {
            name
            for (name,) in con.execute(
                "select schema_name from duckdb_schemas() where database_name = 'published' and not internal"
            ).fetchall()
        }
        assert schemas <= {"main", "marts"}
        for table in tables:
            for left, right in (("marts", "published.marts"), ("published.marts", "marts")):
                extra = con.execute(
                    f"select count(*) from (select * from {left}.{table} except all select * from {right}.{table})"
                ).fetchone()[0]
                assert extra == 0, (table, left)
            described = (
                "select column_name, data_type, comment from duckdb_columns() where database_name = ?"
                " and schema_name = 'marts' and table_name = ? order by column_index"
            )
            build = con.execute("select current_database()").fetchone()[0]
            assert (
                con.execute(described, ["published", table]).fetchall()
                == con.execute(described, [build, table]).fetchall()
            )
            table_comment = (
                "select comment from duckdb_tables() where database_name = ? and schema_name = 'marts'"
                " and table_name = ?"
            )
            assert (
                con.execute(table_comment, ["published", table]).fetchall()
                == con.execute(table_comment, [build, table]).fetchall()
            )
    finally:
        con.execute("detach published")


def row_ids(published: Path, month: str) -> list[tuple]:
    with duckdb.connect(str(published), read_only=True) as con:
        return con.execute(
            f"select rowid, usage_id from marts.fct_calls where billing_month = date '{month}' order by rowid"
        ).fetchall()


@pytest.fixture
def build(tmp_path):
    con = make_build(tmp_path / "build.duckdb")
    yield con
    con.close()


def test_a_re_rated_month_is_the_only_one_rewritten(build, tmp_path):
    published = tmp_path / "warehouse.duckdb"
    counts = dict(publish_marts(build, published, MARTS))
    assert counts == {"fct_calls": 3000, "fct_focus": 3000, "rpt_summary": 6}
    assert_published_equals_build(build, published, MARTS)
    kept_before = row_ids(published, "2024-01-01")

    rerate(build, "2024-02-01", "2024-05-01 00:00:00")
    build.execute("comment on column marts.fct_calls.rated_charge is 'The charge, rated.'")
    build.execute("comment on table marts.fct_calls is null")
    counts = dict(publish_marts(build, published, MARTS))
    assert counts["fct_calls"] == 3000  # the same count: only the run stamp tells the month changed
    assert_published_equals_build(build, published, MARTS)
    # January was not re-rated: its rows are the ones the first publish wrote, where they were.
    assert row_ids(published, "2024-01-01") == kept_before


def test_a_month_the_build_no_longer_has_leaves_the_published_file(build, tmp_path):
    published = tmp_path / "warehouse.duckdb"
    publish_marts(build, published, MARTS)
    build.execute("delete from marts.fct_calls where billing_month = date '2024-03-01' and tenant_id = 'tenant-1'")
    build.execute("delete from marts.fct_focus where x_billing_month = date '2024-03-01' and x_tenant_id = 'tenant-1'")
    publish_marts(build, published, MARTS)
    assert_published_equals_build(build, published, MARTS)


def test_changed_columns_a_dropped_mart_and_most_rows_changed(build, tmp_path):
    published = tmp_path / "warehouse.duckdb"
    publish_marts(build, published, MARTS)
    build.execute("alter table marts.fct_calls add column department varchar default 'Sales'")
    for month in ("2024-01-01", "2024-02-01"):
        rerate(build, month, "2024-06-01 00:00:00")  # two of three months: copied whole
    publish_marts(build, published, ["fct_calls", "fct_focus"])
    assert_published_equals_build(build, published, ["fct_calls", "fct_focus"])


@pytest.mark.parametrize("previous", ["not a database", "a view", "another schema"])
def test_a_file_this_project_did_not_write_is_replaced_whole(build, tmp_path, previous):
    published = tmp_path / "warehouse.duckdb"
    if previous == "not a database":
        published.write_text("junk\n")
    else:
        publish_marts(build, published, MARTS)
        with duckdb.connect(str(published)) as con:
            if previous == "a view":
                con.execute("create view marts.mine as select 1 as one")
            else:
                con.execute("create schema scratch")
                con.execute("create table scratch.notes as select 1 as one")
    publish_marts(build, published, MARTS)
    assert_published_equals_build(build, published, MARTS)


def test_a_table_copied_whole_takes_the_place_of_the_old_one(tmp_path):
    """A publish starts from a copy of the last published file; a table it replaces whole must
    reuse the old table's space, not be written after it (the file would grow by the table's size
    at every re-rating of most months: 2.4 to 4.3 GB at 10M calls)."""
    con = duckdb.connect(str(tmp_path / "build.duckdb"))
    con.execute("create schema marts")
    con.execute(
        """
        create table marts.fct_calls as
        select 'tenant-0' as tenant_id, make_date(2024, 1 + (i % 3), 1) as billing_month, md5(i::varchar) as usage_id,
            timestamp '2024-04-01 00:00:00' as rated_at
        from range(300000) as t(i)
        """
    )
    published = tmp_path / "warehouse.duckdb"
    publish_marts(con, published, ["fct_calls"])
    size = published.stat().st_size
    con.execute("update marts.fct_calls set rated_at = timestamp '2024-05-01 00:00:00'")  # every month re-rated
    publish_marts(con, published, ["fct_calls"])
    assert_published_equals_build(con, published, ["fct_calls"])
    with duckdb.connect(str(published), read_only=True) as check:
        total, free = check.execute("select total_blocks, free_blocks from pragma_database_size()").fetchone()
    assert published.stat().st_size < 1.3 * size and free < 0.3 * total, (size, published.stat().st_size, free, total)
    con.close()
