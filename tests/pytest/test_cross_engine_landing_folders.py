"""Landing folders of other shapes than the sample's, built by DuckDB and by Apache Spark in local
mode from the same Parquet archive, every mart compared row for row and value for value: no
credits, no SKU snapshots, no conflicts or quarantined rows, CSV only for one tenant and Graph JSON
only for another; then a second load that re-rates some months and empties one, the second Spark
build incremental."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
from conftest import ALERTS_AS_OF, MARTS, pstn

import pytest
from pstn.ingest.loader import Loader
from pstn.ingest.quality import Validator
from pstn.ops.crosscheck import compare_exports
from pstn.settings import Settings
from pstn_sample.generate import SampleSpec, generate


def without_quarantined_rows(folder: Path, tmp_path: Path) -> None:
    """Drop from `folder`'s CSVs the rows a load would quarantine (found by loading a copy)."""
    scratch = tmp_path / "scratch"
    shutil.copytree(folder, scratch / "raw")
    settings = Settings.from_env(raw_dir=scratch / "raw", warehouse=scratch / "wh" / "w.duckdb")
    Loader(settings, Validator(scratch / "gx")).run()
    rejected = pl.read_parquet(scratch / "wh" / "archive" / "quarantine" / "**" / "*.parquet")
    for path, lines in rejected.group_by("source_path").agg("source_line").iter_rows():
        target = folder / path
        kept = [line for number, line in enumerate(target.read_text().splitlines(), start=1) if number not in lines]
        target.write_text("\n".join(kept) + "\n")


def moved_call(sample: Path, month: str) -> pl.DataFrame:
    """One January call under a new UsageId, its start and end moved into `month` (YYYY-MM)."""
    call = pl.read_csv(next(sample.rglob("PSTN.calls.2024-01.csv")), infer_schema=False).slice(1, 1)
    call = call.with_columns(pl.lit("moved-call-1").alias("UsageId"))
    return call.with_columns(pl.col("Start Time", "End Time").str.replace("^2024-01", month))


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """One landing folder of two tenants: `default` with admin-center CSV only and licence CSVs,
    `fabrikam-kr` with Graph JSON Lines and Graph licence JSON only; no credits, no tenant SKU
    snapshots, no conflicts, no quarantined rows; one call alone in December 2023. Built by both
    engines after a first load. Then a second load adds a late call to January, January's rows the
    first load lacked, and the December call again with its start moved into January (December is left
    without calls): DuckDB rebuilds in full, Spark incrementally (the months that load touched)."""
    root = tmp_path_factory.mktemp("variants")
    sample = root / "sample"
    generate(sample, SampleSpec(seed=3, calls=3000, months=2, csv_only=True))
    raw = root / "raw"
    shutil.copytree(sample, raw)
    for snapshot in raw.rglob("tenant_skus_*"):
        snapshot.unlink()
    shutil.rmtree(raw / "credits", ignore_errors=True)
    without_quarantined_rows(raw, root)
    moved_call(sample, "2023-12").write_csv(raw / "cdr" / "PSTN.calls.moved.csv")
    base = dict(os.environ, PSTN_RAW_DIR=str(raw), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    base.update(PSTN_SPARK_DIR=str(root / "spark"), PSTN_ALERTS_AS_OF=ALERTS_AS_OF)
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_TARGET", "PSTN_SPARK_MASTER"):
        base.pop(key, None)
    compared = {}
    for step in ("first", "second"):
        duck_env = dict(base, PSTN_EXPORT_DIR=str(root / f"duckdb-{step}"))
        if step == "second":
            for path in sample.rglob("PSTN.calls.2024-01.csv"):
                shutil.copy2(path, raw / path.relative_to(sample).with_name(path.stem + ".again.csv"))
            late = pl.read_csv(next(sample.rglob("PSTN.calls.2024-01.csv")), infer_schema=False).head(1)
            late = late.with_columns(pl.lit("late-call-1").alias(late.columns[0]))
            late.write_csv(raw / "cdr" / "PSTN.calls.late.csv")
            moved_call(sample, "2024-01").write_csv(raw / "cdr" / "PSTN.calls.moved-back.csv")
            load = pstn(duck_env, "load")
            assert load.returncode == 0, load.stdout[-3000:] + load.stderr[-3000:]
            duck = pstn(duck_env, "build", "--full-refresh")
        else:
            duck = pstn(duck_env, "run")
        assert duck.returncode == 0, duck.stdout[-4000:] + duck.stderr[-3000:]
        spark = pstn(dict(base, PSTN_EXPORT_DIR=str(root / f"spark-{step}"), PSTN_TARGET="spark"), "build")
        assert spark.returncode == 0, spark.stdout[-6000:] + spark.stderr[-3000:]
        compared[step] = compare_exports(root / f"duckdb-{step}", root / f"spark-{step}")
    return root, compared


def test_empty_datasets_build_on_spark_with_identical_marts(variants):
    root, compared = variants
    results, missing = compared["first"]
    assert missing == [] and {r.mart for r in results} == MARTS
    assert [r.line() for r in results if not r.identical] == []
    rows = {r.mart: r.left_rows for r in results}
    assert rows["fct_pstn_calls"] > 1000 and rows["rpt_ingest_rejections"] == 0 and rows["fct_credits_lots"] == 0
    assert not list((root / "raw").rglob("tenant_skus_*")) and not (root / "raw" / "credits").exists()


def months_by_rating(export: Path) -> dict[str, set[str]]:
    """billing_month -> the run stamps (rated_at) of its rows in an fct_pstn_calls export."""
    calls = pl.read_parquet(export / "fct_pstn_calls" / "*.parquet")
    grouped = calls.group_by("billing_month").agg(pl.col("rated_at").cast(pl.String).unique())
    return {str(month): set(stamps) for month, stamps in grouped.iter_rows()}


def test_spark_re_rates_incrementally_to_the_marts_of_a_full_refresh(variants):
    """The second Spark build re-rates only the months the second load touched (the others keep
    the first build's rows and stamp), drops December, left without calls, and its marts equal a
    DuckDB full refresh of the same archive."""
    root, compared = variants
    results, missing = compared["second"]
    assert missing == [] and [r.line() for r in results if not r.identical] == []
    rows = {r.mart: r.left_rows for r in results}
    assert rows["rpt_ingest_rejections"] > 0
    first, second = months_by_rating(root / "spark-first"), months_by_rating(root / "spark-second")
    assert "2023-12-01" in first and "2023-12-01" not in second
    kept = {month for month, stamps in second.items() if stamps == first.get(month)}
    rerated = {month for month, stamps in second.items() if stamps != first.get(month)}
    assert kept and rerated, (first, second)
    assert all(len(stamps) == 1 for stamps in second.values())
