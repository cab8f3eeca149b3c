"""`pstn run` as a user runs it: sample data into an empty landing folder, load, dbt build
(models, data tests, unit tests), then the numbers in the warehouse; then the idempotence and
history guarantees end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb

import pytest

ROOT = Path(__file__).resolve().parents[2]


def pstn(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pstn", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ, PSTN_RAW_DIR=str(root / "raw"), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    env.pop("PSTN_ARCHIVE_DIR", None)
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return root, env, result


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "wh" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_run_generates_loads_and_builds(built):
    root, _, result = built
    assert "generating the bundled sample tenant" in result.stdout
    assert "Completed successfully" in result.stdout
    assert (root / "wh" / "archive" / "calls").is_dir()
    tenants = dict(query(root, "select tenant_id, count(*) from staging.stg_archive__pstn_calls group by 1"))
    assert tenants["fabrikam-kr"] == 25
    assert tenants["default"] > 5000


def test_rejections_table_names_file_line_and_reason(built):
    root, _, _ = built
    rows = query(root, "select source_path, source_line, reasons from marts.rpt_ingest_rejections order by 2")
    assert len(rows) == 6
    assert all(path == "cdr/PSTN.calls.2024-01.csv" for path, _, _ in rows)
    assert any("is not an ISO 8601 timestamp" in r for _, _, r in rows)


def test_staging_keeps_the_newest_version_of_corrected_calls(built):
    root, _, _ = built
    rows = query(root, "select version_count, source_path from staging.stg_archive__pstn_calls where version_count > 1")
    assert len(rows) == 3
    assert {path for _, path in rows} == {"cdr/PSTN.calls.2024-01.correction.csv"}


def test_second_run_changes_nothing_and_history_survives(built):
    root, env, _ = built
    before = pstn(env, "checksum").stdout
    again = pstn(env, "run")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "0 loaded, 0 rejected" in again.stdout
    assert pstn(env, "checksum").stdout == before
    calls_before = query(root, "select count(*), sum(duration_seconds) from staging.stg_archive__pstn_calls")

    moved = root / "raw-moved"
    (root / "raw").rename(moved)
    (root / "raw").mkdir()
    (root / "raw" / "README.txt").write_text("raw files were moved away")
    after_removal = pstn(env, "run")
    (root / "raw").rename(root / "raw-empty")
    moved.rename(root / "raw")
    assert after_removal.returncode == 0, after_removal.stdout[-3000:]
    assert query(root, "select count(*), sum(duration_seconds) from staging.stg_archive__pstn_calls") == calls_before
