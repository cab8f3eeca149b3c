"""Incremental re-rating by month: the sample arrives in two batches, the second with a
new month, a correction of January, a call re-sent with its start moved to another month and a
licence snapshot that arrives late for February. The incremental build re-rates exactly the months
those touch, and its marts equal a --full-refresh build of the same archive, row for row."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
from conftest import pstn

import pytest
from pstn.ops.crosscheck import compare_exports
from pstn.settings import copy_project

ROOT = Path(__file__).resolve().parents[2]

# Held back from the first batch.
SECOND_BATCH = (
    "cdr/PSTN.calls.2024-06.csv",
    "cdr/PSTN.calls.2024-01.correction.csv",
    "licenses/licences_2024-02-15.csv",
    "licenses/licences_2024-06-01.csv",
    "licenses/licences_2024-06-08.csv",
)


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture(scope="module")
def two_batches(tmp_path_factory):
    root = tmp_path_factory.mktemp("incremental")
    sample, raw = root / "sample", root / "raw"
    base = dict(os.environ, PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_TARGET"):
        base.pop(key, None)
    generated = pstn(dict(base, PSTN_RAW_DIR=str(sample)), "generate", "--out", str(sample))
    assert generated.returncode == 0, generated.stderr[-3000:]

    shutil.copytree(sample, raw, ignore=lambda folder, names: [])
    for relative in SECOND_BATCH:
        (raw / relative).unlink()
    env = dict(base, PSTN_RAW_DIR=str(raw), PSTN_EXPORT_DIR=str(root / "exports-first"))
    first = pstn(env, "run")
    assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-3000:]

    for relative in SECOND_BATCH:
        shutil.copy2(sample / relative, raw / relative)
    # A call re-sent with its start moved from mid-February to January: both months change.
    february = pl.read_csv(sample / "cdr" / "PSTN.calls.2024-02.csv", infer_schema=False)
    moved = (
        february.filter(pl.col("START TIME").str.starts_with("2024-02-1"))
        .head(1)
        .with_columns(
            pl.col("START TIME").str.replace("2024-02-", "2024-01-"),
            pl.col("End Time").str.replace("2024-02-", "2024-01-"),
        )
    )
    moved.write_csv(raw / "cdr" / "PSTN.calls.2024-02.resent.csv")
    # The second run updates a copy of the first run's exports in place: the marts re-rated by
    # month rewrite only the month files they re-rated.
    shutil.copytree(root / "exports-first", root / "exports-incremental")
    month_files = sorted((root / "exports-incremental" / "fct_pstn_calls").glob("month-*.parquet"))
    before = {path.name: path.stat().st_mtime_ns for path in month_files}
    env = dict(env, PSTN_EXPORT_DIR=str(root / "exports-incremental"))
    second = pstn(env, "run")
    assert second.returncode == 0, second.stdout[-5000:] + second.stderr[-3000:]
    after = {path.name: path.stat().st_mtime_ns for path in month_files}
    (root / "month_files_rewritten.txt").write_text("\n".join(n for n in before if after[n] != before[n]))

    scope = second_run_scope(root / "wh" / "private" / "warehouse.duckdb")
    shutil.copy2(root / "wh" / "private" / "warehouse.duckdb", root / "after-second-run.duckdb")

    full = pstn(dict(env, PSTN_EXPORT_DIR=str(root / "exports-full")), "build", "--full-refresh")
    assert full.returncode == 0, full.stdout[-5000:] + full.stderr[-3000:]
    shutil.copy2(root / "wh" / "private" / "warehouse.duckdb", root / "after-full-refresh.duckdb")
    return root, env, moved.get_column("UsageId")[0], scope


def second_run_scope(warehouse: Path) -> set[tuple[str, str, str, str]]:
    rows = query(
        warehouse,
        """
        select tenant_id, cast(billing_month as varchar), rerate_reason, cast(rerate_from_date as varchar)
        from intermediate.int_rerate_months
        where rated_at = (select max(rated_at) from intermediate.int_rerate_months)
        """,
    )
    return set(rows)


def test_second_batch_re_rates_only_the_months_it_touches(two_batches):
    _, _, _, scope = two_batches
    months = {(tenant, month) for tenant, month, _, _ in scope}
    reasons = {month: reason for _, month, reason, _ in scope}
    first_day = {month: day for _, month, _, day in scope}
    # January (correction, moved call), February (moved call; late snapshot), June (new month),
    # and March to May only through the late February snapshot that stands until the next one.
    assert ("default", "2024-01-01") in months and reasons["2024-01-01"] == "calls_arrived"
    assert ("default", "2024-06-01") in months
    assert ("default", "2024-02-01") in months
    assert ("default", "2024-04-01") in months and reasons["2024-04-01"] == "licences_arrived"
    # Within a month only the days from the first affected one on are re-rated: February from
    # the moved call's old day or the late snapshot's day (15th), whichever is first; later months
    # whole (the snapshot stands until the next one); a new month from its first day.
    assert "2024-02-10" <= first_day["2024-02-01"] <= "2024-02-15"
    assert first_day["2024-04-01"] == "2024-04-01"
    assert first_day["2024-06-01"] == "2024-06-01"
    # Untouched history is not re-rated: 2019 and the Korean tenant.
    assert not {month for _, month in months if month.startswith("2019")}
    assert "fabrikam-kr" not in {tenant for tenant, _ in months}


def test_incremental_marts_equal_a_full_refresh(two_batches):
    root, _, _, _ = two_batches
    results, missing = compare_exports(root / "exports-incremental", root / "exports-full")
    assert not missing
    assert len(results) >= 11
    different = [r.line() for r in results if not r.identical]
    assert not different, "\n".join(different)
    calls = next(r for r in results if r.mart == "fct_pstn_calls")
    assert calls.left_rows > 12000


def test_the_exports_rewrite_only_the_re_rated_months(two_batches):
    """fct_pstn_calls is exported one file per billing month; the incremental run rewrote the
    months it re-rated (2024) and left 2019 alone, and the result equals the full refresh's
    export (test above)."""
    root, _, _, _ = two_batches
    files = sorted(p.name for p in (root / "exports-incremental" / "fct_pstn_calls").glob("*.parquet"))
    assert "month-2019-11.parquet" in files and "month-2024-06.parquet" in files
    rewritten = set((root / "month_files_rewritten.txt").read_text().split())
    assert {"month-2024-01.parquet", "month-2024-02.parquet", "month-2024-04.parquet"} <= rewritten
    assert not {name for name in rewritten if name.startswith("month-2019")}


def test_the_moved_call_left_its_old_month(two_batches):
    root, _, usage_id, _ = two_batches
    rows = query(
        root / "wh" / "warehouse.duckdb",
        f"select cast(billing_month as varchar) from marts.fct_pstn_calls where usage_id = '{usage_id}'",
    )
    assert rows == [("2024-01-01",)]


def test_first_batch_differs_so_the_comparison_has_teeth(two_batches):
    root, _, _, _ = two_batches
    results, _ = compare_exports(root / "exports-first", root / "exports-full")
    assert any(not r.identical for r in results if r.mart == "fct_pstn_calls")


def test_a_changed_rating_variable_re_rates_every_month(two_batches):
    root, env, _, _ = two_batches
    warehouse = root / "wh" / "private" / "warehouse.duckdb"
    months = query(warehouse, "select count(distinct (tenant_id, billing_month)) from intermediate.int_rerate_months")
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent))
    result = subprocess.run(
        [dbt, "run", "-s", "int_rerate_months", "--vars", "{billing_increment_seconds: 1}"],
        cwd=ROOT,
        env=dict(env, PSTN_ARCHIVE_DIR=str(root / "wh" / "archive")),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    latest = query(
        warehouse,
        """select rerate_reason, count(*) from intermediate.int_rerate_months
           where rated_at = (select max(rated_at) from intermediate.int_rerate_months) group by 1""",
    )
    assert latest == [("rating_inputs_changed", months[0][0])]


# The uniqueness tests of the two models, nothing else.
UNIQUENESS_TESTS = (
    "stg_archive__pstn_calls,test_name:unique_combination_of_columns"
    " fct_pstn_calls,test_name:unique_combination_of_columns"
)


def dbt_tests(root: Path, env: dict, warehouse: Path, select: str) -> subprocess.CompletedProcess:
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent))
    return subprocess.run(
        [dbt, "test", "-s", *select.split()],
        cwd=ROOT,
        env=dict(
            env,
            PSTN_BUILD_WAREHOUSE=str(warehouse),
            PSTN_WAREHOUSE=str(warehouse.with_name(warehouse.name + ".published")),
            PSTN_ARCHIVE_DIR=str(root / "wh" / "archive"),
            PSTN_SKIP_EXPORTS="1",
        ),
        capture_output=True,
        text=True,
    )


def outcomes(result: subprocess.CompletedProcess) -> dict[str, str]:
    """{test name: PASS / FAIL} from dbt's log lines."""
    found = re.findall(r"\b(PASS|FAIL \d+) (unique_combination_of_columns_\w+)", result.stdout)
    return {name: status.split()[0] for status, name in found}


STG_UNIQUE = "unique_combination_of_columns_stg_archive__pstn_calls_tenant_id__usage_id"
FCT_UNIQUE = "unique_combination_of_columns_fct_pstn_calls_tenant_id__usage_id"


def repeat_an_old_row(warehouse: Path, table: str, **changes: str) -> str:
    """Insert a copy of a row of January 2024 (not re-rated by the second run), with `changes`
    (column = SQL expression); returns its UsageId."""
    with duckdb.connect(str(warehouse)) as con:
        columns = [c[0] for c in con.execute(f"describe {table}").fetchall()]
        usage_id = con.execute(
            f"select min(usage_id) from {table} where tenant_id = 'default' and start_at < '2024-01-05'"
        ).fetchone()[0]
        picked = ", ".join(changes.get(c, c) for c in columns)
        con.execute(f"insert into {table} select {picked} from {table} where usage_id = ?", [usage_id])
    return usage_id


def repeat_and_test(
    root: Path, env: dict, state: str, copy: Path, staged: dict | None = None, rated: dict | None = None
) -> tuple[subprocess.CompletedProcess, list[str]]:
    """On a copy of a saved warehouse `state`, repeat an old row of staging and of the facts (with
    `staged` / `rated` changes), then run the two uniqueness tests; returns dbt and the keys."""
    shutil.copy2(root / state, copy)
    keys = [
        repeat_an_old_row(copy, "staging.stg_archive__pstn_calls", **(staged or {})),
        repeat_an_old_row(copy, "marts.fct_pstn_calls", **(rated or {})),
    ]
    return dbt_tests(root, env, copy, UNIQUENESS_TESTS), keys


def test_after_an_incremental_build_the_tests_check_the_new_rows(two_batches, tmp_path):
    """A nightly's data tests cost what its new rows cost: the big models' tests read the rows the
    last build wrote (macros/incremental/test_scope.sql). A duplicate among rows an earlier build
    wrote (and tested) is not read again; a new row repeating an old key fails the uniqueness test."""
    root, env, _, _ = two_batches
    unread, _ = repeat_and_test(root, env, "after-second-run.duckdb", tmp_path / "old-duplicate.duckdb")
    assert unread.returncode == 0, unread.stdout[-3000:]
    assert outcomes(unread) == {STG_UNIQUE: "PASS", FCT_UNIQUE: "PASS"}

    with duckdb.connect(str(root / "after-second-run.duckdb"), read_only=True) as con:
        newest_load, newest_rating = con.execute(
            "select (select max(load_id) from staging.stg_archive__pstn_calls),"
            " (select cast(max(rated_at) as varchar) from marts.fct_pstn_calls)"
        ).fetchone()
    new = tmp_path / "new-duplicate.duckdb"
    failed, (staged, rated) = repeat_and_test(
        root,
        env,
        "after-second-run.duckdb",
        new,
        staged={"load_id": f"'{newest_load}'"},
        rated={"rated_at": f"timestamp '{newest_rating}'"},
    )
    assert failed.returncode == 1, failed.stdout[-3000:]
    assert outcomes(failed) == {STG_UNIQUE: "FAIL", FCT_UNIQUE: "FAIL"}
    with duckdb.connect(str(new), read_only=True) as con:
        # The repeated keys are the ones inserted: one each, in the whole table twice.
        assert con.execute(
            "select count(*) from staging.stg_archive__pstn_calls where usage_id = ?", [staged]
        ).fetchone() == (2,)
        assert con.execute("select count(*) from marts.fct_pstn_calls where usage_id = ?", [rated]).fetchone() == (2,)


def test_a_full_refresh_tests_every_row(two_batches, tmp_path):
    """After a full refresh (or a first build) every row was written by the last build, so the
    same tests read them all: the old duplicate the incremental run's tests skip now fails."""
    root, env, _, _ = two_batches
    result, _ = repeat_and_test(root, env, "after-full-refresh.duckdb", tmp_path / "full-refresh.duckdb")
    assert result.returncode == 1, result.stdout[-3000:]
    assert outcomes(result) == {STG_UNIQUE: "FAIL", FCT_UNIQUE: "FAIL"}


def marts_differences(warehouse: Path, other: Path, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows of each mart found in one file and not the other (both ways), the run stamps aside."""
    differences = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"attach '{other}' as other (read_only)")
        for table in tables:
            stamps = [c for (c,) in con.execute(f"select name from pragma_table_info('marts.{table}')").fetchall()]
            columns = ", ".join(f'"{c}"' for c in stamps if c not in ("rated_at", "x_rated_at"))
            mine, theirs = f"select {columns} from marts.{table}", f"select {columns} from other.marts.{table}"
            differences[table] = con.execute(
                f"select count(*) from (({mine} except all {theirs}) union all ({theirs} except all {mine}))"
            ).fetchone()[0]
    return differences


def test_a_rate_card_change_re_prices_without_re_allocating(two_batches, tmp_path):
    """A rate changes on the night a day of new calls arrives: every month is re-priced, but only
    the new calls' month is classified and allocated again, and the marts equal a full refresh."""
    root, _, _, _ = two_batches
    wh = tmp_path / "wh"
    shutil.copytree(root / "wh" / "archive", wh / "archive")
    (wh / "private").mkdir(parents=True)
    before = wh / "private" / "before.duckdb"
    shutil.copy2(root / "after-full-refresh.duckdb", before)
    shutil.copy2(before, wh / "private" / "warehouse.duckdb")
    project = copy_project(ROOT, tmp_path / "project")
    rates = project / "seeds" / "rate_card.csv"
    rates.write_text(re.sub(r"(?m)^US,standard,([0-9.]+),", "US,standard,0.0300,", rates.read_text()))
    late = pl.read_csv(root / "sample" / "cdr" / "PSTN.calls.2024-06.csv", infer_schema=False).head(40)
    (tmp_path / "raw" / "cdr").mkdir(parents=True)
    late.with_columns(("late-" + pl.col("UsageId")).alias("UsageId")).write_csv(
        tmp_path / "raw" / "cdr" / "PSTN.calls.2024-06.late.csv"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PSTN_")}
    env.update(
        PSTN_WAREHOUSE=str(wh / "warehouse.duckdb"),
        PSTN_RAW_DIR=str(tmp_path / "raw"),
        PSTN_PROJECT_DIR=str(project),
        PSTN_SKIP_EXPORTS="1",
    )
    night = pstn(env, "run")
    assert night.returncode == 0, night.stdout[-5000:] + night.stderr[-3000:]

    warehouse = wh / "private" / "warehouse.duckdb"
    logged = query(
        warehouse,
        """select tenant_id, cast(billing_month as varchar), rerate_reason, changed_inputs
           from intermediate.int_rerate_months
           where rated_at = (select max(rated_at) from intermediate.int_rerate_months)""",
    )
    arrived = {(tenant, month) for tenant, month, reason, _ in logged if reason == "calls_arrived"}
    late_months = set(
        query(
            warehouse,
            "select distinct tenant_id, cast(billing_month as varchar) from marts.fct_pstn_calls"
            " where usage_id like 'late-%'",
        )
    )
    assert arrived == late_months and len(arrived) >= 1
    re_priced = {(tenant, month) for tenant, month, reason, changed in logged if reason == "rating_inputs_changed"}
    assert {changed for *_, reason, changed in logged if reason == "rating_inputs_changed"} == {
        "|seed.teams_pstn.rate_card|"
    }
    assert len(re_priced) >= 5 and not re_priced & arrived

    def months_stamped_by_the_night(table: str, stamp: str = "rated_at") -> set[tuple[str, str]]:
        return set(
            query(
                warehouse,
                f"""select distinct tenant_id, cast(billing_month as varchar) from {table}
                    where {stamp} = (select max(rated_at) from intermediate.int_rerate_months)""",
            )
        )

    for allocation in ("intermediate.int_calls_classified", "intermediate.int_pool_allocated"):
        assert months_stamped_by_the_night(allocation) == arrived, allocation
    assert months_stamped_by_the_night("marts.fct_pstn_calls") == re_priced | arrived
    # Re-rated in every month, the call facts were rebuilt whole (one table written), not deleted
    # and inserted month by month; classification, re-rated in one month, was deleted and inserted.
    ran = wh / "private" / "warehouse.dbt-target" / "run" / "teams_pstn" / "models"
    facts = (ran / "marts" / "charges" / "fct_pstn_calls.sql").read_text()
    assert "fct_pstn_calls__dbt_tmp" in facts and "delete from" not in facts
    assert "delete from" in (ran / "intermediate" / "calls" / "int_calls_classified.sql").read_text()
    # The new rate reached the calls: a US standard call's rate is the new one.
    assert query(
        warehouse,
        "select distinct cast(rate_per_minute as double) from marts.fct_pstn_calls where destination_country = 'US'"
        " and number_type = 'standard' and rated_capability = 'MCOPSTNPP'",
    ) == [(0.03,)]

    shutil.copy2(warehouse, tmp_path / "incremental.duckdb")
    full = pstn(env, "build", "--full-refresh")
    assert full.returncode == 0, full.stdout[-5000:] + full.stderr[-3000:]
    tables = (
        "fct_pstn_calls",
        "fct_charges_mcomeetadd",
        "fct_charges_mcopstnpp",
        "fct_charge_discrepancies",
        "fct_focus_charges",
        "fct_pool_consumption_daily",
        "rpt_monthly_charges",
    )
    assert marts_differences(tmp_path / "incremental.duckdb", warehouse, tables) == dict.fromkeys(tables, 0)
    assert marts_differences(before, warehouse, ("fct_pstn_calls",))["fct_pstn_calls"] > 0
