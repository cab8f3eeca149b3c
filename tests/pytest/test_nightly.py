"""The nightly build as a scheduler runs it, and the faults it must survive. Webhook
tests use a local HTTP server on 127.0.0.1 only."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import duckdb

import pytest
from pstn.ops.crosscheck import compare_exports
from pstn.ops.writer_lock import writer_lock
from pstn.settings import Settings, copy_project
from pstn_sample.generate import SampleSpec, generate

ROOT = Path(__file__).resolve().parents[2]


def nightly_env(root: Path, **extra: str) -> dict:
    env = dict(
        os.environ,
        PSTN_RAW_DIR=str(root / "raw"),
        PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"),
    )
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_EXPORT_DIR", "PSTN_TARGET", "PSTN_WEBHOOK_URL", "PSTN_NIGHTLY_DIR"):
        env.pop(key, None)
    env.update(extra)
    return env


def run_nightly(root: Path, *args: str, preexec=None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pstn", "nightly", *args],
        cwd=ROOT,
        env=nightly_env(root, **extra),
        capture_output=True,
        text=True,
        preexec_fn=preexec,
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def last_run(root: Path) -> dict:
    return json.loads((root / "wh" / "nightly" / "last_run.json").read_text())


def call_count(database: Path) -> int:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute("select count(*) from marts.fct_pstn_calls").fetchone()[0]


def extra_calls_csv(day: str, count: int) -> str:
    header = "UsageId,Call Type,Start Time,End Time,Duration Seconds,AAD ObjectId,Destination Dialed,Currency\n"
    rows = [
        f"late-{day}-{i},user_out,{day}T10:{i:02d}:00Z,{day}T10:{i:02d}:30Z,30,nobody,United States,USD"
        for i in range(count)
    ]
    return header + "\n".join(rows) + "\n"


@pytest.fixture(scope="module")
def golden(tmp_path_factory) -> Path:
    """One successful nightly on a small tenant; each test starts from a copy of it."""
    root = tmp_path_factory.mktemp("golden")
    generate(root / "raw", SampleSpec(seed=11, users=30, months=2))
    result = run_nightly(root)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    return root


@pytest.fixture
def site(golden, tmp_path) -> Path:
    """A copy of the golden installation (symlinks kept, pointing into the copy)."""
    root = tmp_path / "site"
    shutil.copytree(golden, root, symlinks=True)
    link = root / "wh" / "exports"
    if link.is_symlink():
        target = Path(os.readlink(link))
        link.unlink()
        link.symlink_to(root / "wh" / "exports.versions" / target.name)
    return root


def test_nightly_publishes_exports_and_summarises(golden):
    summary = last_run(golden)
    assert summary["status"] == "succeeded" and summary["error"] is None
    steps = [s["step"] for s in summary["steps"]]
    assert steps == [
        "preflight",
        "verify_archive",
        "load",
        "build",
        "freshness",
        "validate_marts",
        "focus_export",
        "docs",
        "report",
        "publish",
        "alerts",
    ]
    assert all(s["status"] == "ok" and s["seconds"] >= 0 for s in summary["steps"])
    facts = summary["facts"]
    assert facts["rows_kept"] > 1000 and facts["models_built"] >= 20 and facts["tests_passed"] >= 100
    assert facts["failures"] == 0 and facts["errors"] == 0 and facts["mart_expectations_failed"] == 0
    exports = golden / "wh" / "exports"
    assert exports.is_symlink()
    assert (exports / "fct_pstn_calls").is_dir() and (exports / "docs" / "index.html").stat().st_size > 10_000
    # The month's report is published with the exports (its content is tested in test_report.py).
    report = exports / "report" / facts["report"]
    assert re.fullmatch(r"pstn-report-\d{4}-\d{2}\.html", facts["report"])
    assert "<svg" in report.read_text() and "Tenant default" in report.read_text()
    with duckdb.connect() as con:
        focus = con.execute(f"select * from read_parquet('{exports / 'focus' / 'focus_charges-*.parquet'}') limit 0")
        columns = {d[0] for d in focus.description}
    assert {
        "BilledCost",
        "EffectiveCost",
        "ListCost",
        "BillingCurrency",
        "ChargePeriodStart",
        "ChargeCategory",
        "ConsumedQuantity",
        "ConsumedUnit",
        "PricingUnit",
        "ServiceName",
        "SubAccountId",
        "x_charge_reason",
        "InvoiceId",
        "ServiceSubcategory",
    } <= columns
    alerts = [json.loads(line) for line in (golden / "wh" / "nightly" / "alerts.jsonl").read_text().splitlines()]
    assert {"pool_threshold", "blocked_calls", "data_quality"} <= {a["kind"] for a in alerts}
    assert any(a["tenant_id"] == "fabrikam-kr" and "100 %" in a["message"] for a in alerts)
    # The nightly only delivers: exactly the published alerts mart, each once, in its words.
    with duckdb.connect(str(golden / "wh" / "warehouse.duckdb"), read_only=True) as con:
        mart = con.execute("select alert_id, alert_kind, tenant_id, message from marts.fct_alerts").fetchall()
        newest = con.execute("select max(start_at) from marts.fct_pstn_calls").fetchone()[0]
    assert sorted((a["id"], a["kind"], a["tenant_id"], a["message"]) for a in alerts) == sorted(mart)
    # dbt source freshness judged the archive: the sample's newest call is long past.
    assert facts["is_stale"] is True
    assert datetime.fromisoformat(facts["newest_call_at"]).replace(tzinfo=None) == newest


def test_second_run_raises_no_alert_twice_and_keeps_the_previous_build(site):
    before = sha(site / "wh" / "warehouse.duckdb")
    previous_exports = (site / "wh" / "exports").resolve()
    result = run_nightly(site)
    assert result.returncode == 0, result.stderr[-3000:]
    assert last_run(site)["facts"]["alerts_new"] == 0
    assert sha(site / "wh" / "warehouse.duckdb.previous") == before
    # Nothing new: no month re-rated, so every month file of the new exports is the previous
    # version's (a hard link), and the docs page, describing the same project, is published again.
    exports = (site / "wh" / "exports").resolve()
    assert exports != previous_exports
    # Versions sit side by side in exports.versions/ (the last two kept), never one inside another.
    versions = site / "wh" / "exports.versions"
    assert exports.parent == previous_exports.parent == versions.resolve()
    assert sorted(p.name for p in versions.iterdir()) == sorted([exports.name, previous_exports.name])
    months = sorted((exports / "fct_pstn_calls").glob("month-*.parquet"))
    months += sorted((exports / "focus").glob("focus_charges-*"))
    assert months and all(m.stat().st_ino == (previous_exports / m.parent.name / m.name).stat().st_ino for m in months)
    assert last_run(site)["facts"]["docs"] == "unchanged"
    assert sha(exports / "docs" / "index.html") == sha(previous_exports / "docs" / "index.html")


def test_reader_holding_the_published_file_sees_old_or_new_never_a_mix(site):
    published = site / "wh" / "warehouse.duckdb"
    reader = duckdb.connect(str(published), read_only=True)
    before = reader.execute("select count(*), sum(duration_seconds) from marts.fct_pstn_calls").fetchone()
    (site / "raw" / "cdr" / "late.csv").write_text(extra_calls_csv("2024-02-20", 7))
    result = run_nightly(site)
    assert result.returncode == 0, result.stderr[-3000:]
    # The reader's open file is yesterday's, whole; a new reader sees today's.
    assert reader.execute("select count(*), sum(duration_seconds) from marts.fct_pstn_calls").fetchone() == before
    reader.close()
    assert call_count(published) == before[0] + 7


def test_sigkill_in_the_middle_of_the_build_leaves_the_published_data(site, tmp_path):
    published = site / "wh" / "warehouse.duckdb"
    before = sha(published)
    (site / "raw" / "cdr" / "late.csv").write_text(extra_calls_csv("2024-02-21", 5))
    process = subprocess.Popen(
        [sys.executable, "-m", "pstn", "nightly"],
        cwd=ROOT,
        env=nightly_env(site),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    for line in process.stdout:  # wait until the build step has started dbt
        if "+ dbt build" in line:
            break
        assert time.monotonic() < deadline, "the nightly never reached the build step"
    else:
        pytest.fail("the nightly finished before it could be interrupted")
    time.sleep(3)
    assert process.poll() is None, "the nightly finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert sha(published) == before
    # The next run finishes and gives what an uninterrupted run gives.
    result = run_nightly(site)
    assert result.returncode == 0, result.stderr[-3000:]
    reference = tmp_path / "reference"
    shutil.copytree(site / "raw", reference / "raw")
    uninterrupted = run_nightly(reference)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    results, missing = compare_exports(site / "wh" / "exports", reference / "wh" / "exports")
    # Every mart is identical, except the load lineage of the rejections (when they were loaded)
    # and the alerts keyed by those loads.
    different = {r.mart for r in results if not r.identical}
    assert missing == [] and len(results) >= 12 and different <= {"rpt_ingest_rejections", "fct_alerts"}
    what = "select source_path, source_line, reasons from read_parquet('{}/*.parquet') order by all"
    alerts = (
        "select alert_id like 'rejected_input|%' as by_load, case when not by_load then message end, count(*) "
        "from read_parquet('{}/*.parquet') group by all order by all"
    )
    with duckdb.connect() as con:
        for sql, mart in ((what, "rpt_ingest_rejections"), (alerts, "fct_alerts")):
            assert con.execute(sql.format(site / "wh" / "exports" / mart)).fetchall() == (
                con.execute(sql.format(reference / "wh" / "exports" / mart)).fetchall()
            ), mart


def test_a_second_nightly_exits_while_one_runs(site):
    """The writer lock of the archive and warehouse: a nightly that finds another writer running
    names it and stops with 75, touching nothing."""
    before = sha(site / "wh" / "warehouse.duckdb")
    settings = Settings.from_env(warehouse=site / "wh" / "warehouse.duckdb", archive_dir=site / "wh" / "archive")
    with writer_lock(settings, "load"):
        result = run_nightly(site)
    assert result.returncode == 75
    assert "another writer is running" in result.stderr and f"pid {os.getpid()} (load)" in result.stderr
    assert sha(site / "wh" / "warehouse.duckdb") == before


def test_damaged_archive_stops_the_nightly_and_publishes_nothing(site):
    """4 KiB of flipped bytes in an old archive file: the nightly names the file and stops; the
    published warehouse and exports stay as they were."""
    damaged = sorted((site / "wh" / "archive" / "calls").rglob("*.parquet"), key=lambda p: p.stat().st_size)[-1]
    with damaged.open("r+b") as handle:
        handle.seek(1024)
        block = handle.read(4096)
        handle.seek(1024)
        handle.write(bytes(b ^ 0xFF for b in block))
    published, exports = sha(site / "wh" / "warehouse.duckdb"), os.readlink(site / "wh" / "exports")
    (site / "raw" / "cdr" / "late.csv").write_text(extra_calls_csv("2024-02-22", 3))
    result = run_nightly(site)
    assert result.returncode == 1
    assert "the archive is damaged" in result.stderr and str(damaged) in result.stderr
    assert sha(site / "wh" / "warehouse.duckdb") == published and os.readlink(site / "wh" / "exports") == exports
    assert last_run(site)["status"] == "failed"
    verify = subprocess.run(
        [sys.executable, "-m", "pstn", "verify"], cwd=ROOT, env=nightly_env(site), capture_output=True, text=True
    )
    assert verify.returncode == 1 and str(damaged) in verify.stderr


def test_missing_landing_folder_fails_clearly(site):
    before = sha(site / "wh" / "warehouse.duckdb")
    result = run_nightly(site, PSTN_RAW_DIR=str(site / "no-such-folder"))
    assert result.returncode == 1
    assert "landing folder" in result.stderr and "does not exist" in result.stderr
    assert sha(site / "wh" / "warehouse.duckdb") == before
    assert last_run(site)["status"] == "failed"


def test_landing_path_that_is_not_a_folder_fails_clearly(site):
    (site / "not-a-folder").write_text("x")
    result = run_nightly(site, PSTN_RAW_DIR=str(site / "not-a-folder"))
    assert result.returncode == 1 and "is not a folder" in result.stderr


def test_a_night_whose_tests_failed_fails_again_until_mended(site, tmp_path):
    """The build warehouse is built in place; a night that fails is undone there by the next build,
    so the months it re-rated are re-rated and re-tested, even when newer calls arrived in between
    (a build that kept them would test only the newer rows, and publish the failed ones)."""
    project = copy_project(ROOT, tmp_path / "project")
    models = project / "models" / "marts" / "charges" / "_charges__models.yml"
    text = models.read_text()
    tests_at = text.index("\n  data_tests:\n", text.index("- name: fct_pstn_calls\n")) + len("\n  data_tests:\n")
    rule = "  - expression_is_true:\n      arguments:\n        expression: usage_id not like 'late-2024-02-21-%'\n"
    models.write_text(text[:tests_at] + rule + text[tests_at:])
    published, exports = sha(site / "wh" / "warehouse.duckdb"), os.readlink(site / "wh" / "exports")
    (site / "raw" / "cdr" / "late.csv").write_text(extra_calls_csv("2024-02-21", 4))
    for night, newer in enumerate(("", "2024-02-24")):
        if newer:
            (site / "raw" / "cdr" / "newer.csv").write_text(extra_calls_csv(newer, 3).replace("late-", "newer-"))
        result = run_nightly(site, PSTN_PROJECT_DIR=str(project))
        assert result.returncode == 1, f"night {night}: " + result.stdout[-3000:]
        assert "dbt build failed" in result.stderr and "expression_is_true" in result.stdout
        assert sha(site / "wh" / "warehouse.duckdb") == published
        assert os.readlink(site / "wh" / "exports") == exports
        # The failed night's rows stay in the build warehouse until the next build undoes them.
        assert (site / "wh" / "private" / "warehouse.duckdb.undo.json").exists()
    # Mended (the rule dropped): the next night publishes every call, the failed ones included.
    # February is written again into a new file; the previous exports' file stays as it was.
    february = (site / "wh" / "exports").resolve() / "fct_pstn_calls" / "month-2024-02.parquet"
    february_before = sha(february)
    result = run_nightly(site)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sha(february) == february_before
    assert sha((site / "wh" / "exports").resolve() / "fct_pstn_calls" / "month-2024-02.parquet") != february_before
    assert not (site / "wh" / "private" / "warehouse.duckdb.undo.json").exists()
    with duckdb.connect(str(site / "wh" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute(
            "select count(*) filter (usage_id like 'late-%'), count(*) filter (usage_id like 'newer-%') "
            "from marts.fct_pstn_calls"
        ).fetchone() == (4, 3)


def test_a_broken_seed_fails_the_build_and_publishes_nothing(site, tmp_path):
    project = copy_project(ROOT, tmp_path / "project")
    rates = project / "seeds" / "rate_card.csv"
    rates.write_text(rates.read_text().replace("US,standard,0.0275", "US,standard,not-a-number"))
    before = sha(site / "wh" / "warehouse.duckdb")
    exports_before = os.readlink(site / "wh" / "exports")
    result = run_nightly(site, PSTN_PROJECT_DIR=str(project))
    assert result.returncode == 1
    assert "dbt build failed" in result.stderr
    assert sha(site / "wh" / "warehouse.duckdb") == before
    assert os.readlink(site / "wh" / "exports") == exports_before


def test_a_disk_that_refuses_writes_fails_clearly(site):
    before = sha(site / "wh" / "warehouse.duckdb")

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))

    result = run_nightly(site, preexec=small_files)
    assert result.returncode == 1
    # The reason is in the nightly's own line (dbt's output, its traceback too, goes to the log).
    failed = result.stderr.strip().splitlines()[0]
    assert failed.startswith("nightly FAILED") and ("File too large" in failed or "cannot write" in failed)
    assert "Traceback" not in result.stderr
    assert last_run(site)["facts"].get("models_built") is None  # no counts from an earlier build's results
    assert sha(site / "wh" / "warehouse.duckdb") == before


class Hook(http.server.BaseHTTPRequestHandler):
    status = 200
    delay = 0.0
    received: ClassVar[list] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(type(self).delay)
        if type(self).status == 200:
            type(self).received.append(json.loads(body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def webhook():
    Hook.status, Hook.delay, Hook.received = 200, 0.0, []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


@pytest.mark.parametrize("fault", ["down", "slow"])
def test_webhook_down_or_slow_still_publishes_and_keeps_the_alert(site, webhook, fault):
    _, url = webhook
    if fault == "down":
        Hook.status = 503
    else:
        Hook.delay = 8.0  # longer than the webhook timeout
    (site / "raw" / "cdr" / "late.csv").write_text(extra_calls_csv("2024-02-22", 3))
    (site / "raw" / "cdr" / "junk.csv").write_text("")  # a data-quality alert to deliver
    result = run_nightly(site, PSTN_WEBHOOK_URL=url)
    assert result.returncode == 0, result.stderr[-3000:]
    assert call_count(site / "wh" / "warehouse.duckdb") > 0
    pending = site / "wh" / "nightly" / "webhook_pending.jsonl"
    assert pending.exists() and "rejected 1 file (see" in pending.read_text()
    assert "kept for the next run" in last_run(site)["facts"]["webhook"]
    # The endpoint is back: the next run delivers what was kept.
    Hook.status, Hook.delay, Hook.received = 200, 0.0, []
    again = run_nightly(site, PSTN_WEBHOOK_URL=url)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not pending.exists()
    assert any("rejected 1 file (see" in message["text"] for message in Hook.received)


def test_rollback_puts_the_previous_build_back(site):
    (site / "raw" / "cdr" / "late.csv").write_text(extra_calls_csv("2024-02-23", 4))
    before = call_count(site / "wh" / "warehouse.duckdb")
    assert run_nightly(site).returncode == 0
    assert call_count(site / "wh" / "warehouse.duckdb") == before + 4
    result = subprocess.run(
        [sys.executable, "-m", "pstn", "rollback"], cwd=ROOT, env=nightly_env(site), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert call_count(site / "wh" / "warehouse.duckdb") == before
