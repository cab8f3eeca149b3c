"""One writer at a time, and a query command that can only read.

Two writers on one archive: the second stops with exit 75 naming the first (or waits with
--wait), the archive ends as one load leaves it and every later build is green. `pstn query`
refuses every statement that is not a read and every read outside the warehouse, leaving the
file byte-identical."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from conftest import ROOT, pstn

import pytest
from pstn.ingest.archive import SCHEMAS, Archive
from pstn.ops.writer_lock import writer_lock
from pstn.settings import Settings
from pstn_sample.generate import SampleSpec, generate


def site_env(root: Path, **extra: str) -> dict:
    env = dict(os.environ, PSTN_RAW_DIR=str(root / "raw"), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_EXPORT_DIR", "PSTN_TARGET", "PSTN_NIGHTLY_DIR", "PSTN_BUILD_WAREHOUSE"):
        env.pop(key, None)
    env.update(extra)
    return env


def start(env: dict, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pstn", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def archive_content(root: Path) -> dict[str, list[tuple]]:
    """Every archived row and manifest row, without what names the load (its id and time)."""
    archive = Archive(root / "wh" / "archive")
    frames = {dataset: archive.read(dataset) for dataset in SCHEMAS}
    frames["_manifest"] = archive.manifest()
    naming = ["load_id", "loaded_at", "archive_files", "previous_load_id"]
    return {dataset: sorted(frame.drop(naming, strict=False).rows(), key=repr) for dataset, frame in frames.items()}


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    root = tmp_path_factory.mktemp("writers")
    generate(root / "raw", SampleSpec())
    return root


def test_every_writer_stops_while_another_holds_the_lock(sample, tmp_path):
    """load, build, run, nightly, rollback, verify: each stops at once with 75, one line naming
    the holder's pid and command, and writes nothing."""
    root = tmp_path / "site"
    shutil.copytree(sample, root)
    env = site_env(root)
    settings = Settings.from_env(warehouse=root / "wh" / "warehouse.duckdb", archive_dir=root / "wh" / "archive")
    with writer_lock(settings, "fetch"):
        for command in ("load", "build", "run", "nightly", "rollback", "verify"):
            result = pstn(env, command)
            assert result.returncode == 75, (command, result.stdout[-2000:], result.stderr[-2000:])
            assert f"pid {os.getpid()} (fetch)" in result.stderr and "--wait" in result.stderr
            assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (root / "wh" / "archive" / "_manifest").exists() and not (root / "wh" / "warehouse.duckdb").exists()


def test_the_windows_lock_leaves_the_holder_record_readable(tmp_path, monkeypatch):
    """Windows byte-range locks are mandatory: the lock sits on a byte past the record, so the
    process turned away can still read who holds it. Simulated with a stand-in msvcrt that refuses
    a second lock on the same byte, as Windows does."""
    from pstn.ops import writer_lock as module

    held: dict[tuple[int, int], int] = {}  # (file, byte) -> the descriptor holding it

    class FakeMsvcrt:
        LK_NBLCK = 2

        @staticmethod
        def locking(fd: int, mode: int, nbytes: int) -> None:
            assert mode == FakeMsvcrt.LK_NBLCK and nbytes == 1
            byte = (os.fstat(fd).st_ino, os.lseek(fd, 0, os.SEEK_CUR))
            if held.get(byte, fd) != fd:
                raise OSError("locked")
            held[byte] = fd

    monkeypatch.setitem(sys.modules, "msvcrt", FakeMsvcrt)
    monkeypatch.setattr(module, "WINDOWS", True)
    settings = Settings.from_env(warehouse=tmp_path / "wh" / "warehouse.duckdb", archive_dir=tmp_path / "archive")
    with writer_lock(settings, "fetch"):
        assert len(held) == 2 and {byte for _, byte in held} == {module.WINDOWS_LOCK_OFFSET}
        busy = rf"pid {os.getpid()} \(fetch\) since "
        with pytest.raises(module.WriterBusy, match=busy), writer_lock(settings, "load"):
            pass


def test_two_loads_at_once_leave_the_archive_of_one(sample, tmp_path):
    """Two loads started together: one runs, the other stops with 75 naming it; the archive is
    what a single load leaves, and the build after it is green."""
    root = tmp_path / "site"
    shutil.copytree(sample, root)
    env = site_env(root)
    loads = [start(env, "load"), start(env, "load")]
    outputs = [load.communicate(timeout=600) for load in loads]
    codes = sorted(load.returncode for load in loads)
    assert codes == [0, 75], [o[1][-2000:] for o in outputs]
    winner = next(load for load in loads if load.returncode == 0)
    refused = next(err for load, (_, err) in zip(loads, outputs, strict=True) if load.returncode == 75)
    assert f"pid {winner.pid} (load)" in refused

    single = tmp_path / "single"
    shutil.copytree(sample, single)
    assert pstn(site_env(single), "load").returncode == 0
    assert archive_content(root) == archive_content(single)

    built = pstn(env, "build")
    assert built.returncode == 0, built.stdout[-3000:]
    assert "Completed successfully" in built.stdout


def test_a_waiting_writer_runs_after_the_holder(sample, tmp_path):
    root = tmp_path / "site"
    shutil.copytree(sample, root)
    settings = Settings.from_env(warehouse=root / "wh" / "warehouse.duckdb", archive_dir=root / "wh" / "archive")
    with writer_lock(settings, "rollback"):
        waiting = start(site_env(root), "load", "--wait", "120")
        time.sleep(2)
        assert waiting.poll() is None  # still queued behind the holder
    out, err = waiting.communicate(timeout=600)
    assert waiting.returncode == 0, err[-3000:]
    # Every file of the sample is loaded once the holder lets go.
    assert re.search(r"(\d+) files seen, 0 already loaded \(skipped\), \1 loaded, 0 rejected", out), out


@pytest.fixture(scope="module")
def built_site(sample, tmp_path_factory):
    root = tmp_path_factory.mktemp("built") / "site"
    shutil.copytree(sample, root)
    result = pstn(site_env(root), "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root


def test_a_bi_tool_holding_the_published_file_never_blocks_a_build(built_site):
    """A reader keeps the warehouse open while `pstn run` loads a new file and builds: the build
    succeeds, the reader keeps reading what it opened, a new reader sees the new calls."""
    published = built_site / "wh" / "warehouse.duckdb"
    reader = duckdb.connect(str(published), read_only=True)
    before = reader.execute("select count(*) from marts.fct_pstn_calls").fetchone()[0]
    (built_site / "raw" / "cdr" / "late.csv").write_text(
        "UsageId,Call Type,Start Time,End Time,Duration Seconds,Destination Dialed,Currency\n"
        "late-1,user_out,2024-03-20T10:00:00Z,2024-03-20T10:01:00Z,60,United States,USD\n"
    )
    result = pstn(site_env(built_site), "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert reader.execute("select count(*) from marts.fct_pstn_calls").fetchone()[0] == before
    reader.close()
    with duckdb.connect(str(published), read_only=True) as fresh:
        assert fresh.execute("select count(*) from marts.fct_pstn_calls").fetchone()[0] == before + 1


def test_a_program_holding_the_build_warehouse_gets_one_line(built_site):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(60)",
            str(built_site / "wh" / "private" / "warehouse.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        result = pstn(site_env(built_site), "build")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 2
    assert "is open in another program" in result.stderr and f"pid {holder.pid}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


# -- pstn query -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def published(tmp_path_factory):
    root = tmp_path_factory.mktemp("published")
    warehouse = root / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_pstn_calls as select 'u1' as usage_id, 42 as pooled_seconds")
    (root / "secret.txt").write_text("do-not-read-me")
    (root / "private").mkdir()
    (root / "private" / "warehouse.duckdb").write_text("do-not-read-me: staging with clear numbers")
    return root, warehouse


def query(root: Path, warehouse: Path, sql: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PSTN_WAREHOUSE=str(warehouse), PSTN_RAW_DIR=str(root / "raw"))
    return pstn(env, "query", sql)


ESCAPES = [
    "COPY (select 'x') TO '{warehouse}'",
    "COPY marts.fct_pstn_calls TO '{root}/leak.csv'",
    "ATTACH '{warehouse}' AS w2 (READ_WRITE)",
    "ATTACH '{root}/other.duckdb' AS other",
    "DROP TABLE marts.fct_pstn_calls",
    "select 1; drop table marts.fct_pstn_calls",
    "INSERT INTO marts.fct_pstn_calls VALUES ('u2', 1)",
    "CREATE TABLE marts.x AS SELECT 1",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "RESET lock_configuration",
    "PRAGMA enable_profiling",
    "EXPORT DATABASE '{root}/dump'",
    "CHECKPOINT",
    "CALL pragma_version()",
    "select * from read_text('{root}/secret.txt')",
    "select * from read_csv('/etc/passwd')",
    "select * from glob('/etc/*')",
    "select * from read_blob('{root}/private/warehouse.duckdb')",
    "select * from read_text('{root}/private/../secret.txt')",
    "select * from '{root}/secret.txt'",
    "select * from query('copy (select 1) to ''{root}/q.csv''')",
    "select * from sniff_csv('/etc/passwd')",
    "select * from read_parquet('https://example.invalid/x.parquet')",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_query_refuses_every_escape_and_leaves_the_warehouse_as_it_was(published, template):
    root, warehouse = published
    before = hashlib.sha256(warehouse.read_bytes()).hexdigest()
    entries = set(root.iterdir())
    result = query(root, warehouse, template.format(root=root, warehouse=warehouse))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("pstn query: refused: "), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "do-not-read-me" not in result.stdout + result.stderr
    assert hashlib.sha256(warehouse.read_bytes()).hexdigest() == before
    assert set(root.iterdir()) == entries


def test_query_still_reads(published):
    root, warehouse = published
    result = query(root, warehouse, "select sum(pooled_seconds) as pooled from marts.fct_pstn_calls")
    assert result.returncode == 0, result.stderr
    assert "42" in result.stdout


def test_query_on_a_missing_warehouse_says_what_to_do(tmp_path):
    result = query(tmp_path, tmp_path / "nothing.duckdb", "select 1")
    assert result.returncode == 2 and "run `make run`" in result.stderr and "Traceback" not in result.stderr


# -- operator mistakes ---------------------------------------------------------------------------
def test_pseudonymisation_without_a_key_stops_before_the_build(tmp_path):
    env = site_env(tmp_path, PSTN_PSEUDONYMISE="true")
    env.pop("PSTN_PSEUDONYM_KEY", None)
    env.pop("PSTN_PSEUDONYM_KEY_FILE", None)
    result = pstn(env, "build")
    assert result.returncode == 2
    assert "PSTN_PSEUDONYM_KEY" in result.stderr and "Traceback" not in result.stderr
    short = pstn(dict(env, PSTN_PSEUDONYM_KEY="short"), "build")
    assert short.returncode == 2 and "at least 16" in short.stderr


def test_a_missing_landing_folder_is_named(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    for raw, words in ((tmp_path / "nowhere", "does not exist"), (tmp_path / "file", "is not a folder")):
        result = pstn(site_env(tmp_path, PSTN_RAW_DIR=str(raw)), "load")
        assert result.returncode == 2 and f"the landing folder {raw} {words}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "nowhere").exists()


def test_an_unexpected_error_is_one_line_unless_debug(tmp_path):
    """A bound that is not a number: one line with the cause; --debug shows the traceback."""
    (tmp_path / "raw").mkdir()
    env = site_env(tmp_path, PSTN_MAX_LINE_BYTES="not-a-number")
    result = pstn(env, "load")
    assert result.returncode == 1
    assert "PSTN_MAX_LINE_BYTES must be a whole number" in result.stderr
    assert "Traceback" not in result.stderr and "--debug" in result.stderr
    debug = pstn(env, "load", "--debug")
    assert "Traceback" in debug.stderr
