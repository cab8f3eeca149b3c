"""The same dbt project on DuckDB and on Apache Spark builds the same marts from the same Parquet
archive: every mart exported by both engines is compared row for row, value for value (which also
makes every sum equal to the second and the cent). The bundled sample is built on a real Spark
standalone cluster (a master and two workers, started here from the pinned pyspark's launcher on
127.0.0.1); test_cross_engine_landing_folders.py builds landing folders of other shapes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from conftest import ALERTS_AS_OF, MARTS, free_port, pstn

import pytest
from pstn.ops.crosscheck import compare_exports


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
