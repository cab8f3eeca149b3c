"""The unattended nightly build: load, check, build (in place, undone if the night fails before
its publish), validate, publish atomically, export, alert, summarise. Yesterday's published data
is never touched until the new warehouse has passed every test; readers holding the published
file open keep reading the file they opened (a rename swaps the directory entry, not their
inode)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pstn.files import write_text_atomically
from pstn.ops.build_undo import begin_build, end_build
from pstn.ops.dbt_runner import dbt, last_error, written_since
from pstn.serve.warehouse import fsync_path
from pstn.settings import Settings, project_files

EXIT_OK = 0
EXIT_FAILED = 1


class NightlyError(Exception):
    """A step failed; the message says which and why. Published data is untouched."""


@dataclass
class NightlyPaths:
    settings: Settings
    run_id: str

    @property
    def state_dir(self) -> Path:
        return Path(os.environ.get("PSTN_NIGHTLY_DIR") or self.settings.warehouse.parent / "nightly")

    @property
    def candidate_published(self) -> Path:
        """Tonight's marts-only file, renamed over $PSTN_WAREHOUSE once everything passed."""
        return self.settings.warehouse.with_name(self.settings.warehouse.name + ".building")

    @property
    def previous(self) -> Path:
        return self.settings.warehouse.with_name(self.settings.warehouse.name + ".previous")

    @property
    def export_versions(self) -> Path:
        return self.settings.export_dir.with_name(self.settings.export_dir.name + ".versions")

    @property
    def candidate_exports(self) -> Path:
        return self.export_versions / self.run_id

    @property
    def alerts_file(self) -> Path:
        return Path(os.environ.get("PSTN_ALERTS_FILE") or self.state_dir / "alerts.jsonl")

    @property
    def alerts_sent(self) -> Path:
        return self.state_dir / "alerts_sent.json"

    @property
    def webhook_pending(self) -> Path:
        return self.state_dir / "webhook_pending.jsonl"


@dataclass
class Summary:
    run_id: str
    started_at: str
    status: str = "running"
    error: str | None = None
    steps: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)

    def as_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, default=str)


class Nightly:
    def __init__(self, settings: Settings, webhook_url: str | None = None, max_age_hours: float = 48.0) -> None:
        self.settings = settings
        self.webhook_url = webhook_url
        self.max_age_hours = max_age_hours
        self.run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + f"-{os.getpid()}"
        self.paths = NightlyPaths(settings, self.run_id)
        self.summary = Summary(self.run_id, datetime.now(UTC).isoformat())
        # Microsoft Graph fetch: a step of its own when PSTN_GRAPH_TENANT_ID is set;
        # the step reads and checks the rest of the settings.
        self.fetch_from_graph = bool(os.environ.get("PSTN_GRAPH_TENANT_ID"))
        self._docs_digest: dict | None = None

    # -- the run -------------------------------------------------------------------------------
    def run(self) -> int:
        """The night's steps. The caller holds the writer lock (`pstn nightly` takes it)."""
        # A disk that refuses writes must give an error message, not a silent kill.
        if hasattr(signal, "SIGXFSZ"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        try:
            self.paths.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return self._fail(f"cannot write the nightly state folder {self.paths.state_dir}: {exc}")
        try:
            self._run_steps()
            self.summary.status = "succeeded"
            return EXIT_OK
        except NightlyError as exc:
            return self._fail(str(exc))
        except Exception as exc:  # the summary must always be written
            return self._fail(f"unexpected {type(exc).__name__}: {exc}")
        finally:
            self._cleanup_candidate()
            self._write_summary()

    def _run_steps(self) -> None:
        with self._step("preflight"):
            self._preflight()
        if self.fetch_from_graph:
            with self._step("fetch"):
                self._fetch()
        with self._step("verify_archive"):
            self._verify_archive()
        with self._step("load"):
            self._load()
        with self._step("build"):
            self._build_candidate()
        with self._step("freshness"):
            self._freshness()
        with self._step("validate_marts"):
            self._validate_marts()
        with self._step("focus_export"):
            self._focus_export()
        with self._step("docs"):
            self._docs()
        with self._step("report"):
            self._report()
        with self._step("publish"):
            self._publish()
        # Published: tonight's build stands (a PostgreSQL or webhook failure after this point
        # leaves it published). A night that failed before here is undone by the next build.
        end_build(self.settings)
        if self._docs_digest:
            _write_json_atomically(self.paths.state_dir / "docs_digest.json", self._docs_digest)
        if os.environ.get("PSTN_POSTGRES_URL"):
            with self._step("publish_postgres"):
                self._publish_postgres()
        with self._step("alerts"):
            self._alerts()

    def _fail(self, message: str) -> int:
        self.summary.status = "failed"
        self.summary.error = message
        print(f"nightly FAILED: {message}", file=sys.stderr)
        print("the published warehouse and exports were left as they were", file=sys.stderr)
        with contextlib.suppress(Exception):
            self._record_alerts([self._alert("data_quality", None, None, f"nightly build failed: {message}")])
        return EXIT_FAILED

    @contextlib.contextmanager
    def _step(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        print(f"[nightly {self.run_id}] {name} ...", flush=True)
        entry = {"step": name, "status": "running"}
        self.summary.steps.append(entry)
        try:
            yield
            entry["status"] = "ok"
        except Exception:
            entry["status"] = "failed"
            raise
        finally:
            entry["seconds"] = round(time.monotonic() - started, 2)
            print(f"[nightly {self.run_id}] {name}: {entry['status']} in {entry['seconds']} s", flush=True)

    # -- steps -----------------------------------------------------------------------------------
    def _fetch(self) -> None:
        """Yesterday's call records and today's licence snapshot from Graph, into the landing
        folder. A fetch that fails stops the night with its message (e.g. the permission the
        app registration lacks): building on stale data silently would be worse."""
        from pstn.fetch.graph import Fetcher, FetchError, GraphConfig

        try:
            config = GraphConfig.from_env()
        except FetchError as error:
            raise NightlyError(f"Graph fetch is misconfigured: {error}") from error
        try:
            report = Fetcher(self.settings, config).run()
        except FetchError as error:
            raise NightlyError(f"Graph fetch failed: {error}") from error
        self.summary.facts.update(fetched_records=report.records, fetched_pages=report.pages)

    def _preflight(self) -> None:
        raw = self.settings.raw_dir
        if not raw.exists():
            raise NightlyError(f"landing folder {raw} does not exist (set PSTN_RAW_DIR)")
        if not raw.is_dir():
            raise NightlyError(f"landing folder {raw} is not a folder")
        try:
            next(raw.iterdir(), None)
        except OSError as exc:
            raise NightlyError(f"landing folder {raw} cannot be read: {exc}") from exc

    def _load(self) -> None:
        from pstn.ingest.loader import load

        try:
            report = load(self.settings)
        except OSError as exc:
            raise NightlyError(f"loading failed writing the archive: {exc}") from exc
        print(report.summary())
        self.summary.facts.update(
            rows_read=report.rows_read,
            rows_kept=report.rows_kept,
            rows_rejected=report.rows_rejected,
            files_loaded=report.units_loaded,
            files_rejected=report.units_rejected,
        )
        if report.failed_files:
            path, reason = report.failed_files[0]
            others = len(report.failed_files) - 1
            raise NightlyError(
                f"the load failed on {path}{f' and {others} other file(s)' if others else ''}: {reason}. The other"
                " files are archived; the next run reads the failed ones again (move a file out of the landing"
                " folder to build without it)"
            )

    def _verify_archive(self) -> None:
        """Before the load and the build read the archive: every file written since it was last verified, and
        a rotating share so that each file is read at least monthly, must match the SHA-256 its
        load recorded. A damaged file stops the night; the published data stay as they were."""
        from pstn.ingest.archive import Archive

        archive = Archive(self.settings.archive_dir)
        due = archive.due_for_verification()
        problems = archive.verify(due)
        self.summary.facts.update(archive_files_verified=len(due) - len(problems))
        if problems:
            raise NightlyError(
                f"the archive is damaged: {problems[0]}"
                + (f" (and {len(problems) - 1} more; see `pstn verify`)" if len(problems) > 1 else "")
            )

    def _freshness(self) -> None:
        """dbt source freshness of the archive's calls on the candidate (the threshold is var
        stale_after_hours, as fct_alerts' stale-data alert): the newest call and its age."""
        output = self.paths.state_dir / "sources.json"
        status = dbt(
            self._candidate_settings(),
            "source",
            "freshness",
            "--select",
            "source:archive.calls",
            "--output",
            str(output),
            *self._build_vars(),
        )
        try:
            result = json.loads(output.read_text())["results"][0]
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise NightlyError(f"dbt source freshness wrote no result ({exc}); see the log above") from exc
        if result.get("max_loaded_at") is None:
            raise NightlyError("the archive holds no call records: nothing to publish")
        if status != 0 or result["status"] not in ("pass", "warn"):
            raise NightlyError(f"dbt source freshness failed: {result.get('message') or result['status']}")
        self.summary.facts.update(
            newest_call_at=result["max_loaded_at"],
            newest_call_age_hours=round(result["max_loaded_at_time_ago_in_s"] / 3600, 1),
            is_stale=result["status"] == "warn",
        )

    def _build_vars(self) -> list[str]:
        return ["--vars", json.dumps({"stale_after_hours": self.max_age_hours})]

    def _build_candidate(self) -> None:
        self._cleanup_candidate()
        # The build warehouse is built in place, not copied first: what this build writes is undone
        # by the next build if the night fails before its publish (pstn.ops.build_undo).
        try:
            self.paths.candidate_exports.mkdir(parents=True, exist_ok=True)
            _link_month_exports(self.settings.export_dir, self.paths.candidate_exports)
            begin_build(self.settings)
        except OSError as exc:
            raise NightlyError(f"cannot write the build warehouse {self.settings.build_warehouse}: {exc}") from exc
        candidate = self._candidate_settings()
        # Tonight's marts file starts as a copy of the published one (only re-rated months rewritten).
        os.environ["PSTN_PUBLISHED_FROM"] = str(self.settings.warehouse)
        started, output = time.time(), []
        try:
            # Unit tests check the code, not the night's data: they run in CI and in `make run`.
            status = dbt(candidate, "build", "--exclude-resource-type", "unit_test", *self._build_vars(), output=output)
        finally:
            os.environ.pop("PSTN_PUBLISHED_FROM", None)
        results = self._run_results(since=started)
        self.summary.facts.update(results)
        if status != 0 and not results:
            # dbt stopped before it wrote its results (a full disk, a refused write, a crash).
            raise NightlyError(f"dbt build stopped: {last_error(output) or 'no reason printed'}; see the log above")
        if status != 0:
            raise NightlyError(
                f"dbt build failed ({results.get('errors', '?')} errors, {results.get('failures', '?')} test "
                f"failures); see the log above and {self.settings.dbt_target_dir / 'run_results.json'}"
            )

    def _candidate_settings(self) -> Settings:
        return Settings.from_env(
            raw_dir=self.settings.raw_dir,
            warehouse=self.paths.candidate_published,
            build_warehouse=self.settings.build_warehouse,
            project_dir=self.settings.project_dir,
            archive_dir=self.settings.archive_dir,
            gx_dir=self.settings.gx_dir,
            export_dir=self.paths.candidate_exports,
            spark_dir=self.settings.spark_dir,
            target="duckdb",
        )

    def _run_results(self, since: float) -> dict:
        """Counts from the run results dbt wrote after `since` (none: it stopped before writing them)."""
        path = self.settings.dbt_target_dir / "run_results.json"
        if not written_since(path, since):
            return {}
        results = json.loads(path.read_text())["results"]

        def count(kinds: tuple[str, ...], status: str) -> int:
            return sum(1 for r in results if r["unique_id"].split(".")[0] in kinds and r["status"] == status)

        return {
            "models_built": count(("model",), "success"),
            "tests_passed": count(("test", "unit_test"), "pass"),
            "failures": count(("test", "unit_test"), "fail"),
            "errors": sum(1 for r in results if r["status"] == "error"),
        }

    def _validate_marts(self) -> None:
        from pstn.ops.mart_checks import validate_marts

        problems = validate_marts(self.paths.candidate_published)
        self.summary.facts["mart_expectations_failed"] = len(problems)
        if problems:
            raise NightlyError("Great Expectations found problems in the marts: " + "; ".join(problems[:10]))

    def _focus_export(self) -> None:
        from pstn.serve.focus import write_focus_export

        # Months the night did not re-rate are linked from the published version's files.
        rows = write_focus_export(
            self.paths.candidate_published,
            self.paths.candidate_exports / "focus",
            previous=self.settings.export_dir.resolve() / "focus",
        )
        self.summary.facts["focus_rows"] = rows

    def _report(self) -> None:
        """The month's HTML report, published with the exports (exports/report/)."""
        from pstn.report.monthly import ReportError, write_report

        try:
            path = write_report(self.paths.candidate_exports, self.paths.candidate_exports / "report")
        except ReportError as error:
            # No pool month yet (a new installation) is not a reason to withhold tonight's data.
            print(f"report skipped: {error}", file=sys.stderr)
            self.summary.facts["report"] = None
            return
        self.summary.facts["report"] = path.name

    def _docs(self) -> None:
        """dbt's docs as one page. They describe the project and the warehouse's tables, not the
        rows: when neither changed since the page last published, that page is published again
        (dbt docs generate is a quarter of a night's time at 2M calls)."""
        docs = self.paths.candidate_exports / "docs"
        docs.mkdir(parents=True, exist_ok=True)
        key = _docs_key(self.settings)
        # The digest of the page now published, and the export version (run) it is in, recorded
        # once tonight's exports are published.
        kept = self.paths.state_dir / "docs_digest.json"
        previous = self.settings.export_dir.resolve() / "docs" / "index.html"
        self._docs_digest = {"digest": key, "exports": self.paths.candidate_exports.name}
        with contextlib.suppress(OSError, ValueError):
            if json.loads(kept.read_text()) == {"digest": key, "exports": previous.parent.parent.name}:
                shutil.copy2(previous, docs / "index.html")
                self.summary.facts["docs"] = "unchanged"
                return
        if dbt(self._candidate_settings(), "docs", "generate", "--static") != 0:
            raise NightlyError("dbt docs generate failed")
        shutil.copy2(self.settings.dbt_target_dir / "static_index.html", docs / "index.html")
        self.summary.facts["docs"] = "generated"

    def _publish(self) -> None:
        published = self.settings.warehouse
        published.parent.mkdir(parents=True, exist_ok=True)
        _checkpoint(self.paths.candidate_published)
        if published.exists():
            staging = self.paths.previous.with_name(self.paths.previous.name + ".tmp")
            staging.unlink(missing_ok=True)
            os.link(published, staging)  # the same inode: the previous warehouse, kept for rollback
            os.replace(staging, self.paths.previous)
        os.replace(self.paths.candidate_published, published)
        fsync_path(published.parent)
        previous_exports = _swap_symlink(self.settings.export_dir, self.paths.candidate_exports)
        _prune_versions(self.paths.export_versions, keep={self.paths.candidate_exports, previous_exports})
        self.summary.facts.update(published=str(published), exports=str(self.paths.candidate_exports))

    def _publish_postgres(self) -> None:
        """The published marts into PostgreSQL too ($PSTN_POSTGRES_URL): readers there see the
        previous night's or this one's, whole; a failure leaves the previous one and fails the run."""
        from pstn.errors import OperatorError
        from pstn.serve.postgres import publish_to_postgres

        try:
            report = publish_to_postgres(
                self.settings.warehouse,
                os.environ["PSTN_POSTGRES_URL"],
                self.settings.project_dir,
                os.environ.get("PSTN_POSTGRES_READER") or None,
            )
        except OperatorError as exc:
            raise NightlyError(str(exc)) from exc
        print(report.summary())
        self.summary.facts.update(postgres=report.target, postgres_rows=sum(report.tables.values()))

    # -- alerts ----------------------------------------------------------------------------------
    def _alert(self, kind: str, tenant: str | None, month: str | None, message: str, key: str | None = None) -> dict:
        return {
            "id": key or f"{kind}|{tenant}|{month}|{self.run_id}",
            "kind": kind,
            "tenant_id": tenant,
            "billing_month": month,
            "message": message,
            "detected_at": datetime.now(UTC).isoformat(),
            "run_id": self.run_id,
        }

    def _alerts(self) -> None:
        """Deliver the alerts of marts.fct_alerts not delivered before."""
        import duckdb

        with duckdb.connect(str(self.settings.warehouse), read_only=True) as con:
            rows = con.execute(
                "select alert_id, alert_kind, tenant_id, cast(billing_month as varchar), message "
                "from marts.fct_alerts order by raised_at, alert_id"
            ).fetchall()
        alerts = [
            self._alert(kind, tenant, month, message, key=alert_id) for alert_id, kind, tenant, month, message in rows
        ]
        new = self._record_alerts(alerts)
        self.summary.facts["alerts_new"] = len(new)
        self.summary.facts["webhook"] = self._deliver(new)

    def _record_alerts(self, alerts: list[dict]) -> list[dict]:
        """Append the alerts not raised before to the alerts file; queue them for the webhook."""
        sent = set(json.loads(self.paths.alerts_sent.read_text())) if self.paths.alerts_sent.exists() else set()
        new = [a for a in alerts if a["id"] not in sent]
        if not new:
            return []
        self.paths.alerts_file.parent.mkdir(parents=True, exist_ok=True)
        with self.paths.alerts_file.open("a", encoding="utf-8") as handle:
            for alert in new:
                handle.write(json.dumps(alert) + "\n")
        with self.paths.webhook_pending.open("a", encoding="utf-8") as handle:
            for alert in new:
                handle.write(json.dumps(alert) + "\n")
        _write_json_atomically(self.paths.alerts_sent, sorted(sent | {a["id"] for a in new}))
        return new

    def _deliver(self, new: list[dict]) -> str:
        """Post every pending alert (this run's and earlier undelivered ones); keep what fails."""
        pending_file = self.paths.webhook_pending
        if not self.webhook_url:
            pending_file.unlink(missing_ok=True)
            return "not configured"
        pending = (
            [json.loads(line) for line in pending_file.read_text().splitlines() if line.strip()]
            if (pending_file.exists())
            else []
        )
        if not pending:
            return "nothing to send"
        from pstn.ops.webhook import post_alerts

        undelivered = post_alerts(self.webhook_url, pending)
        if undelivered:
            _write_lines_atomically(pending_file, [json.dumps(a) for a in undelivered])
            print(f"webhook: {len(undelivered)} alerts kept for the next run", file=sys.stderr)
            return f"{len(pending) - len(undelivered)} sent, {len(undelivered)} kept for the next run"
        pending_file.unlink(missing_ok=True)
        return f"{len(pending)} sent"

    # -- housekeeping ----------------------------------------------------------------------------
    def _cleanup_candidate(self) -> None:
        candidate = self.paths.candidate_published
        for path in (candidate, candidate.with_name(candidate.name + ".wal")):
            path.unlink(missing_ok=True)
        if self.summary.status != "succeeded" and self.paths.candidate_exports.exists():
            shutil.rmtree(self.paths.candidate_exports, ignore_errors=True)

    def _write_summary(self) -> None:
        self.summary.facts["finished_at"] = datetime.now(UTC).isoformat()
        text = self.summary.as_json()
        print(text)
        with contextlib.suppress(OSError):
            runs = self.paths.state_dir / "runs"
            runs.mkdir(parents=True, exist_ok=True)
            (runs / f"{self.run_id}.json").write_text(text)
            _write_json_atomically(self.paths.state_dir / "last_run.json", json.loads(text))


def rollback(settings: Settings) -> int:
    """Put the previous published warehouse and exports back (and keep today's as .previous)."""
    paths = NightlyPaths(settings, "rollback")
    if not paths.previous.exists():
        print(f"nothing to roll back to: {paths.previous} does not exist", file=sys.stderr)
        return EXIT_FAILED
    staging = paths.previous.with_name(paths.previous.name + ".swap")
    os.link(settings.warehouse, staging)
    os.replace(paths.previous, settings.warehouse)
    os.replace(staging, paths.previous)
    versions = sorted((p for p in paths.export_versions.glob("*") if p.is_dir()), key=lambda p: p.name)
    current = settings.export_dir.resolve() if settings.export_dir.is_symlink() else None
    older = [v for v in versions if current is None or v.resolve() != current]
    if older:
        _swap_symlink(settings.export_dir, older[-1])
    print(f"rolled back: {settings.warehouse} is the previous build again")
    return EXIT_OK


# -- file helpers ----------------------------------------------------------------------------------
MONTH_EXPORT = re.compile(r"(month-[0-9]{4}-[0-9]{2}|schema[0-9]*)[.]parquet")


def _link_month_exports(previous: Path, candidate: Path) -> None:
    """Tonight's export folder starts with hard links to the previous version's month files of
    the marts re-rated by month, so the build rewrites only the months it re-rated (an empty
    folder would have every month written again). DuckDB writes an export to a new file and
    renames it over the old name, so a linked file of the previous version is never changed."""
    if not previous.is_dir():
        return
    for file in previous.resolve().glob("*/*.parquet"):
        if MONTH_EXPORT.fullmatch(file.name) and file.is_file():
            (candidate / file.parent.name).mkdir(exist_ok=True)
            with contextlib.suppress(FileExistsError):
                os.link(file, candidate / file.parent.name / file.name)


def _docs_key(settings: Settings) -> str:
    """A digest of what dbt's docs page shows: the project's files, dbt's version and the build
    warehouse's tables, columns, types and descriptions."""
    import duckdb
    from dbt.version import __version__ as dbt_version

    digest = hashlib.sha256(dbt_version.encode())
    project = settings.project_dir
    for file in project_files(project):
        digest.update(str(file.relative_to(project)).encode() + b"\0" + file.read_bytes() + b"\0")
    with duckdb.connect(str(settings.build_warehouse), read_only=True) as con:
        rows = con.execute(
            "select schema_name, table_name, column_name, data_type, coalesce(comment, '') from duckdb_columns()"
            " where database_name = current_database() order by all"
        ).fetchall()
    digest.update(json.dumps(rows).encode())
    return digest.hexdigest()


def _checkpoint(database: Path) -> None:
    import duckdb

    with duckdb.connect(str(database)) as con:
        con.execute("checkpoint")
    if database.with_name(database.name + ".wal").exists():
        raise NightlyError(f"{database} still has a write-ahead log after a checkpoint; not publishing")


def _swap_symlink(link: Path, target: Path) -> Path | None:
    """Point `link` at `target` atomically; returns what it pointed at before. A real folder in
    the way (exports written by `make run`) is moved into the versions folder first."""
    previous = link.resolve() if link.is_symlink() else None
    if link.exists() and not link.is_symlink():
        keep = target.parent / f"before-nightly-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        os.replace(link, keep)
        previous = keep
    staging = link.with_name(link.name + ".link-tmp")
    staging.unlink(missing_ok=True)
    os.symlink(target, staging)
    os.replace(staging, link)
    return previous


def _prune_versions(versions: Path, keep: set[Path | None]) -> None:
    kept = {p.resolve() for p in keep if p is not None}
    for folder in versions.glob("*"):
        if folder.is_dir() and folder.resolve() not in kept:
            shutil.rmtree(folder, ignore_errors=True)


def _write_json_atomically(path: Path, value: object) -> None:
    _write_lines_atomically(path, [json.dumps(value, indent=2, default=str)])


def _write_lines_atomically(path: Path, lines: list[str]) -> None:
    write_text_atomically(path, "\n".join(lines) + "\n")
