"""`pstn`: the project's command line. `pstn run` is the main job behind `make run`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from pstn.errors import OperatorError, one_line
from pstn.ops.build_undo import begin_build, end_build
from pstn.ops.dbt_runner import dbt
from pstn.settings import Settings, require_project


def _has_files(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*"))


def cmd_load(settings: Settings, args: argparse.Namespace) -> int:
    from pstn.ingest.loader import load

    require_project(settings.project_dir)  # the loader validates against the project's seeds
    if not settings.raw_dir.is_dir():
        what = "is not a folder" if settings.raw_dir.exists() else "does not exist"
        raise OperatorError(f"the landing folder {settings.raw_dir} {what}: set PSTN_RAW_DIR (or --raw-dir) to it")
    report = load(
        settings, reprocess_rejected=args.reprocess_rejected, rehash=getattr(args, "rehash", False), progress=True
    )
    print(report.summary())
    for path, reason in report.failed_files:
        print(f"pstn load: {path} was not loaded: {reason}; the next load reads it again", file=sys.stderr)
    return 1 if report.failed_files else 0


def cmd_generate(settings: Settings, args: argparse.Namespace) -> int:
    from pstn_sample.generate import SampleSpec, generate

    out = Path(args.out).resolve() if args.out else settings.raw_dir
    spec = SampleSpec(seed=args.seed, calls=args.calls, users=args.users, months=args.months, csv_only=args.csv_only)
    stats = generate(out, spec, progress=True)
    print(json.dumps(stats, indent=2, default=str))
    return 0


def cmd_build(settings: Settings, args: argparse.Namespace) -> int:
    extra = ["--full-refresh"] if args.full_refresh else []
    # Unit tests check the model code, not the data: `make test` (CI) runs them; the main job and
    # the nightly build the data and run the data tests only (as dbt recommends).
    if not getattr(args, "unit_tests", False):
        extra += ["--exclude-resource-type", "unit_test"]
    # A build that fails keeps its rows for inspection; the next build undoes them first and
    # re-rates and re-tests their months (pstn.ops.build_undo).
    begin_build(settings)
    status = dbt(settings, "build", *extra)
    if status:
        print_stored_failures(settings)
    else:
        end_build(settings)
    return status


def print_stored_failures(settings: Settings, limit: int = 20) -> None:
    """After a failed build, show the rows of data-quality tests that store their failures (the
    missing-rate check names each destination), so the reason is on the screen, not in a table."""
    results_file = settings.dbt_target_dir / "run_results.json"
    if settings.target != "duckdb" or not results_file.exists():
        return
    import duckdb

    results = json.loads(results_file.read_text())["results"]
    failed = [r for r in results if r.get("status") == "fail" and r.get("relation_name")]
    if not failed:
        return
    with duckdb.connect(str(settings.build_warehouse), read_only=True) as con:
        for result in failed:
            name = result["unique_id"].split(".")[-1]
            print(f"\n{name} failed; the rows that need attention:")
            con.sql(f"select * from {result['relation_name']} limit {limit}").show(max_width=200)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    """Set the landing folder up (sample data when it is empty), load it, build and test the marts."""
    require_project(settings.project_dir)
    if not _has_files(settings.raw_dir):
        print(f"{settings.raw_dir} is empty: generating the bundled sample tenant there", flush=True)
        from pstn_sample.generate import SampleSpec, generate

        generate(settings.raw_dir, SampleSpec())
    status = cmd_load(settings, argparse.Namespace(reprocess_rejected=False))
    if status:
        return status
    return cmd_build(settings, argparse.Namespace(full_refresh=False, unit_tests=False))


def cmd_query(settings: Settings, args: argparse.Namespace) -> int:
    """Run one read-only query against the published warehouse and print the result as a table."""
    import duckdb

    from pstn.serve.query import QueryRefused, read_only_query

    try:
        con, result = read_only_query(settings.warehouse, args.sql)
    except QueryRefused as error:
        print(f"pstn query: refused: {error}", file=sys.stderr)
        return 2
    with con:
        try:
            result.show(max_rows=args.max_rows, max_width=args.max_width)
        except duckdb.Error as error:
            print(f"pstn query: refused: {str(error).splitlines()[0]}", file=sys.stderr)
            return 2
    return 0


def cmd_compare_exports(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 only when both folders hold the same marts with the same rows."""
    from pstn.ops.crosscheck import compare_exports

    results, missing = compare_exports(Path(args.left), Path(args.right))
    print(f"{'mart':<36} {'left':>13}  {'right':>13}")
    for result in results:
        print(result.line())
    for mart in missing:
        print(f"{mart:<36} present on one side only")
    same = not missing and results and all(r.identical for r in results)
    print(f"{len(results)} marts compared: {'identical' if same else 'DIFFERENT'}")
    return 0 if same else 1


def cmd_nightly(settings: Settings, args: argparse.Namespace) -> int:
    from pstn.ops.nightly import Nightly

    webhook = args.webhook_url or os.environ.get("PSTN_WEBHOOK_URL")
    return Nightly(settings, webhook_url=webhook, max_age_hours=args.max_age_hours).run()


def cmd_rollback(settings: Settings, args: argparse.Namespace) -> int:
    from pstn.ops.nightly import rollback

    return rollback(settings)


def cmd_fetch(settings: Settings, args: argparse.Namespace) -> int:
    """Pull call records and today's licence snapshot from Microsoft Graph into the landing folder."""
    import dataclasses

    from pstn.fetch.graph import Fetcher, FetchError, GraphConfig, parse_iso

    try:
        config = GraphConfig.from_env()
        if config is None:
            print(
                "fetch: PSTN_GRAPH_TENANT_ID is not set, so there is nothing to fetch (see docs/operations.md)",
                file=sys.stderr,
            )
            return 2
        if args.direct_routing:
            config = dataclasses.replace(config, direct_routing=True)
        since = parse_iso(args.since) if args.since else None
        until = parse_iso(args.until) if args.until else None
        report = Fetcher(settings, config).run(licences=not args.no_licences, since=since, until=until)
    except FetchError as error:
        print(f"fetch: {error}", file=sys.stderr)
        return 1
    print(
        f"fetched {report.records} call records in {report.pages} page(s) over {report.windows} window(s)"
        + (f"; licence snapshot {report.licence_snapshot}" if report.licence_snapshot else "")
    )
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    """Write the monthly HTML report from the marts' Parquet exports."""
    from pstn.report.monthly import ReportError, parse_month, write_report

    try:
        month = parse_month(args.month) if args.month else None
        out = Path(args.out) if args.out else settings.warehouse.parent / "reports"
        path = write_report(settings.export_dir, out, month)
    except ReportError as error:
        print(f"report: {error}", file=sys.stderr)
        return 1
    print(f"report written: {path}")
    return 0


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check archive files against the SHA-256 their load recorded; exit 1 naming each mismatch."""
    from pstn.ingest.archive import Archive

    archive = Archive(settings.archive_dir)
    recorded = archive.recorded_files()
    if args.due:
        paths = archive.due_for_verification()
    elif args.since:
        from datetime import date

        since = date.fromisoformat(args.since).isoformat()
        paths = [path for path in recorded if path.rsplit("/", 1)[-1][:8] >= since.replace("-", "")]
    else:
        paths = list(recorded)
    problems = archive.verify(paths)
    for problem in problems:
        print(f"pstn verify: {problem}", file=sys.stderr)
    unrecorded = archive.unrecorded_files(recorded)
    print(
        f"verified {len(paths) - len(problems)} of {len(paths)} archive files checked "
        f"({len(recorded)} with a recorded checksum)"
        + (f"; {unrecorded} older files have no recorded checksum and cannot be verified" if unrecorded else "")
    )
    if problems:
        print(
            "pstn verify: the archive is damaged; restore the named files from a backup, or remove their load "
            "and land its files again",
            file=sys.stderr,
        )
    return 1 if problems else 0


def cmd_checksum(settings: Settings, args: argparse.Namespace) -> int:
    from pstn.ingest.archive import Archive

    print(json.dumps(Archive(settings.archive_dir).checksum(), indent=2))
    return 0


def cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    """Publish the marts of the published warehouse into PostgreSQL."""
    from pstn.serve.postgres import publish_to_postgres

    url = args.postgres or os.environ.get("PSTN_POSTGRES_URL")
    if not url:
        raise OperatorError("no PostgreSQL database: pass --postgres URL or set PSTN_POSTGRES_URL")
    reader = args.reader_role or os.environ.get("PSTN_POSTGRES_READER") or None
    print(publish_to_postgres(settings.warehouse, url, settings.project_dir, reader).summary())
    return 0


def cmd_metrics(settings: Settings, args: argparse.Namespace) -> int:
    """MetricFlow on the built marts: `pstn metrics query --metrics overflow_minutes --group-by metric_time__month`."""
    from pstn.ops.dbt_runner import metricflow

    return metricflow(settings, *(args.arguments or ["list", "metrics"]))


# Commands that write the archive, the landing folder's state or a warehouse: one at a time.
WRITERS = {"load", "build", "unit-tests", "run", "nightly", "rollback", "fetch", "verify"}


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="when another command is writing the same archive or warehouse, wait up to this long "
        "for it (default: stop at once with exit 75)",
    )
    common.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    top = argparse.ArgumentParser(prog="pstn", description=__doc__)
    top.add_argument("--raw-dir", help="landing folder (default $PSTN_RAW_DIR or data/raw)")
    top.add_argument("--warehouse", help="DuckDB file (default $PSTN_WAREHOUSE or data/warehouse.duckdb)")
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = command("load", help="load new raw files into the Parquet archive")
    p.add_argument("--reprocess-rejected", action="store_true", help="try files rejected before again")
    p.add_argument(
        "--rehash",
        action="store_true",
        help="read and hash every landed file, also those whose size and modification time are "
        "unchanged since a load took them (a file rewritten with both kept)",
    )
    p.set_defaults(func=cmd_load)

    p = command("generate", help="write a deterministic sample tenant in every input format")
    p.add_argument("--out", help="landing folder to write (default: $PSTN_RAW_DIR)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--calls", type=int, default=None, help="approximate call rows (default: the small sample)")
    p.add_argument("--users", type=int, default=None)
    p.add_argument("--months", type=int, default=None)
    p.add_argument("--csv-only", action="store_true", help="only admin-center CSV, streamed day by day")
    p.set_defaults(func=cmd_generate)

    p = command("build", help="dbt build (seeds, models, tests) on the archive")
    p.add_argument("--full-refresh", action="store_true")
    p.add_argument(
        "--unit-tests",
        action="store_true",
        help="also run dbt's unit tests (they check the model code; `make test` runs them)",
    )
    p.add_argument("--skip-unit-tests", action="store_true", help=argparse.SUPPRESS)  # the default now
    p.set_defaults(func=cmd_build)

    p = command("unit-tests", help="dbt's unit tests of the models (on a built warehouse)")
    p.set_defaults(func=lambda settings, args: dbt(settings, "test", "--select", "test_type:unit"))

    p = command("run", help="the main job: sample data if empty, load, build")
    p.set_defaults(func=cmd_run)

    p = command("query", help="run a read-only SQL query on the warehouse and print it")
    p.add_argument("sql")
    p.add_argument("--max-rows", type=int, default=100)
    p.add_argument("--max-width", type=int, default=200)
    p.set_defaults(func=cmd_query)

    p = command("compare-exports", help="compare two folders of mart exports (e.g. DuckDB vs Spark)")
    p.add_argument("left")
    p.add_argument("right")
    p.set_defaults(func=cmd_compare_exports)

    p = command("nightly", help="unattended: load, build, test, publish atomically, alert")
    p.add_argument("--webhook-url", help="Teams/Slack incoming webhook (default $PSTN_WEBHOOK_URL)")
    p.add_argument("--max-age-hours", type=float, default=48.0, help="alert when the newest call is older")
    p.set_defaults(func=cmd_nightly)

    p = command("rollback", help="publish the previous nightly's warehouse and exports again")
    p.set_defaults(func=cmd_rollback)

    p = command("fetch", help="fetch call records and licences from Microsoft Graph (PSTN_GRAPH_* settings)")
    p.add_argument("--direct-routing", action="store_true", help="also fetch getDirectRoutingCalls")
    p.add_argument("--no-licences", action="store_true", help="call records only")
    p.add_argument("--since", help="fetch from this UTC moment (ISO 8601), e.g. to backfill a range again")
    p.add_argument("--until", help="fetch up to this UTC moment (default: now minus PSTN_GRAPH_LAG_MINUTES)")
    p.set_defaults(func=cmd_fetch)

    p = command("report", help="write the monthly HTML report (offline, self-contained) from the marts")
    p.add_argument("--month", help="YYYY-MM (default: the latest month built)")
    p.add_argument("--out", help="file or folder (default: reports/ beside the warehouse)")
    p.set_defaults(func=cmd_report)

    p = command("publish", help="publish the marts into a PostgreSQL database for BI tools")
    p.add_argument("--postgres", help="postgresql://user:password@host:port/dbname (default $PSTN_POSTGRES_URL)")
    p.add_argument(
        "--reader-role", help="role granted read access to the published schema (default $PSTN_POSTGRES_READER)"
    )
    p.set_defaults(func=cmd_publish)

    p = command("metrics", help="query the metrics defined once in models/semantic/ (MetricFlow's mf)")
    p.add_argument("arguments", nargs=argparse.REMAINDER, help="mf's own arguments (default: list metrics)")
    p.set_defaults(func=cmd_metrics)

    p = command("verify", help="check every archive file against the SHA-256 its load recorded")
    p.add_argument("--since", help="only files written by loads on or after this day (YYYY-MM-DD)")
    p.add_argument(
        "--due", action="store_true", help="only what the nightly checks: new files and a rotating monthly share"
    )
    p.set_defaults(func=cmd_verify)

    p = command("checksum", help="row counts and content digests of the archive")
    p.set_defaults(func=cmd_checksum)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command. Every failure is one line on stderr and a non-zero exit; `--debug` adds
    the traceback of an unexpected one."""
    from pstn.ops.writer_lock import WriterBusy, report_busy, writer_lock

    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env(raw_dir=args.raw_dir, warehouse=args.warehouse)
        if args.command not in WRITERS:
            return int(args.func(settings, args) or 0)
        with writer_lock(settings, args.command, args.wait):
            return int(args.func(settings, args) or 0)
    except WriterBusy as error:
        return report_busy(args.command, error)
    except OperatorError as error:
        print(f"pstn {args.command}: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pstn {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.debug:
            raise
        print(f"pstn {args.command}: {one_line(error)} (run again with --debug for the traceback)", file=sys.stderr)
        return 1
