"""The same dbt project on DuckDB and on Apache Spark (local mode) builds the same marts from the
same Parquet archive: every mart exported by both engines is compared row for row, value for
value (which also makes every sum equal to the second and the cent)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from conftest import pstn

import pytest
from pstn.crosscheck import compare_exports

MARTS = {
    "fct_pstn_calls",
    "fct_pool_consumption_daily",
    "fct_charges_mcomeetadd",
    "fct_charges_mcopstnpp",
    "fct_pool_alerts",
    "rpt_monthly_pool_usage",
    "rpt_monthly_charges",
    "rpt_monthly_charges_by_department",
    "fct_charge_discrepancies",
    "rpt_monthly_reconciliation",
    "rpt_ingest_rejections",
    "fct_credits_balance_daily",
    "fct_credits_lots",
    "rpt_credits_forecast",
    "rpt_pool_forecast",
}


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory):
    assert shutil.which("java"), "Spark needs a Java runtime (17) on PATH"
    root = tmp_path_factory.mktemp("engines")
    base = dict(
        os.environ,
        PSTN_RAW_DIR=str(root / "raw"),
        PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"),
        PSTN_SPARK_DIR=str(root / "spark"),
    )
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_TARGET"):
        base.pop(key, None)
    duck = pstn(dict(base, PSTN_EXPORT_DIR=str(root / "exports-duckdb")), "run")
    assert duck.returncode == 0, duck.stdout[-4000:] + duck.stderr[-4000:]
    spark = pstn(dict(base, PSTN_EXPORT_DIR=str(root / "exports-spark"), PSTN_TARGET="spark"), "build", "--unit-tests")
    assert spark.returncode == 0, spark.stdout[-6000:] + spark.stderr[-4000:]
    return root, spark


def test_spark_build_passes_every_data_and_unit_test(both_engines):
    _, spark = both_engines
    assert "Completed successfully" in spark.stdout
    assert " ERROR=0 " in spark.stdout and " PASS=" in spark.stdout


def test_every_mart_is_identical_on_both_engines(both_engines):
    root, _ = both_engines
    results, missing = compare_exports(root / "exports-duckdb", root / "exports-spark")
    assert missing == []
    assert {r.mart for r in results} == MARTS
    different = [r.line() for r in results if not r.identical]
    assert different == []
    rows = {r.mart: r.left_rows for r in results}
    assert rows["fct_pstn_calls"] > 5000 and rows["fct_pool_alerts"] >= 2


def test_compare_exports_detects_a_difference(both_engines, tmp_path):
    """The comparison itself can fail: change one value and it must be reported."""
    import duckdb

    root, _ = both_engines
    changed = tmp_path / "changed"
    shutil.copytree(root / "exports-duckdb", changed)
    target = next((changed / "rpt_monthly_charges").glob("*.parquet"))
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * replace (rated_charge + 0.01 as rated_charge) from read_parquet('{target}')) "
            f"to '{target}.new' (format parquet)"
        )
    Path(f"{target}.new").replace(target)
    results, _ = compare_exports(root / "exports-duckdb", changed)
    assert [r.mart for r in results if not r.identical] == ["rpt_monthly_charges"]
