"""The same dbt project on DuckDB and on Apache Spark builds the same marts from the same Parquet
archive: every mart exported by both engines is compared row for row, value for value (which also
makes every sum equal to the second and the cent). The bundled sample is built on a real Spark
standalone cluster (a master and two workers, started here from the pinned pyspark's launcher on
127.0.0.1); landing folders of other shapes (no credits, no SKU snapshots, no conflicts or
quarantined rows, CSV only for one tenant and Graph JSON only for another, then a second load that
re-rates some months and empties one) are built in local mode after each load, the second Spark
build incrementally."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
from conftest import ROOT, free_port, pstn

import pytest
from pstn.ingest.loader import Loader
from pstn.ingest.quality import Validator
from pstn.ops.crosscheck import compare_exports
from pstn.settings import Settings
from pstn_sample.generate import SampleSpec, generate

# Stale-data alerts are judged at one fixed instant, so both engines' fct_alerts can be compared.
ALERTS_AS_OF = "2024-07-02 12:00:00"
# Every mart the project defines: both engines must export each of them.
MARTS = {path.stem for path in (ROOT / "models" / "marts").rglob("*.sql")}


def wait_for(log: Path, words: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if log.exists() and words in log.read_text(errors="replace"):
            return
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"{log.name}: no '{words}' within {seconds} s")


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    """A Spark standalone master and two workers (one core, 2 GB each) as separate processes,
    from the pinned pyspark's own launcher, bound to 127.0.0.1; stopped after the module."""
    import pyspark

    home = Path(pyspark.__file__).parent
    root = tmp_path_factory.mktemp("cluster")
    env = dict(os.environ, SPARK_HOME=str(home), SPARK_LOCAL_IP="127.0.0.1", SPARK_LOG_DIR=str(root))
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    launcher = str(home / "bin" / "spark-class")
    processes: list[subprocess.Popen] = []

    def launch(name: str, *args: str) -> tuple[subprocess.Popen, Path]:
        log = root / f"{name}.log"
        with log.open("w") as output:
            process = subprocess.Popen(
                [launcher, *args], env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        processes.append(process)
        return process, log

    try:
        master, log = launch(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(free_port()),
        )
        wait_for(log, "Starting Spark master", master)
        for number in (1, 2):
            worker, log = launch(
                f"worker{number}",
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "2g",
                "--webui-port",
                str(free_port()),
                "--work-dir",
                str(root / f"work{number}"),
            )
            wait_for(log, "Successfully registered with master", worker)
        yield url, root
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def both_engines(tmp_path_factory, spark_cluster):
    assert shutil.which("java"), "Spark needs a Java runtime (17) on PATH"
    root = tmp_path_factory.mktemp("engines")
    base = dict(
        os.environ,
        PSTN_RAW_DIR=str(root / "raw"),
        PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"),
        PSTN_SPARK_DIR=str(root / "spark"),
        PSTN_ALERTS_AS_OF=ALERTS_AS_OF,
    )
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_TARGET"):
        base.pop(key, None)
    duck = pstn(dict(base, PSTN_EXPORT_DIR=str(root / "exports-duckdb")), "run")
    assert duck.returncode == 0, duck.stdout[-4000:] + duck.stderr[-4000:]
    url, cluster_logs = spark_cluster
    spark = pstn(
        dict(base, PSTN_EXPORT_DIR=str(root / "exports-spark"), PSTN_TARGET="spark", PSTN_SPARK_MASTER=url),
        "build",
        "--unit-tests",
    )
    assert spark.returncode == 0, spark.stdout[-6000:] + spark.stderr[-4000:]
    return root, spark, cluster_logs


def test_the_spark_build_ran_on_the_cluster(both_engines):
    """The build's work ran in the workers' executors, not in the driver."""
    _, _, logs = both_engines
    executors = [path for path in logs.rglob("stderr") if "work" in path.parts[-4]]
    assert len({path.parts[-4] for path in executors}) == 2, executors
    assert any("Finished task" in path.read_text(errors="replace") for path in executors)


def test_spark_build_passes_every_data_and_unit_test(both_engines):
    _, spark, _ = both_engines
    assert "Completed successfully" in spark.stdout
    assert " ERROR=0 " in spark.stdout and " PASS=" in spark.stdout


def test_every_mart_is_identical_on_both_engines(both_engines):
    root, _, _ = both_engines
    results, missing = compare_exports(root / "exports-duckdb", root / "exports-spark")
    assert missing == []
    assert {r.mart for r in results} == MARTS
    different = [r.line() for r in results if not r.identical]
    assert different == []
    rows = {r.mart: r.left_rows for r in results}
    assert rows["fct_pstn_calls"] > 5000 and rows["fct_pool_alerts"] >= 2
    assert rows["fct_alerts"] > rows["fct_pool_alerts"]


def test_compare_exports_detects_a_difference(both_engines, tmp_path):
    """The comparison itself can fail: change one value and it must be reported."""
    import duckdb

    root, _, _ = both_engines
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


# -- landing folders of other shapes, local mode --------------------------------------------------
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
