#!/usr/bin/env python3
"""Benchmark of the main job. Prints figures and ratios; asserts nothing.

    .venv/bin/python scripts/benchmark.py --rows 2000000 --users 20000 --months 6 [--workdir /tmp/bench]

1. generates admin-center CSV (the sample generator, `--csv-only`; twice-monthly snapshots above 5M rows),
2. runs the full main job (`pstn load` + `pstn build`: validation, archive, dbt models and tests),
3. runs the reference: scripts/reference_rating.sql, one hand-written DuckDB script doing the same
   rating work in one pass, on the same files,
4. adds one day of calls and runs the job again (the nightly increment): the last day of the data
   is held back from the full run and arrives as its own export, inside the current month,
and prints seconds, rows per second, peak memory (largest process of each step) and the ratios
the performance targets are set on: full / reference, next day / full.

With `--target spark` the builds run on Apache Spark (local mode, every core; driver memory from
--spark-memory) on the same archive, and a DuckDB build of that archive follows (not timed): every
mart both engines exported is compared value for value, so the monthly totals are shown equal to
the cent (or the differences are printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import polars as pl

from pstn.settings import Settings, copy_project

ROOT = Path(__file__).resolve().parents[1]


def report(step: str, values: dict) -> None:
    """One step's figures as soon as it ends (a long run shows its progress)."""
    print(f"{step:<16}{values['seconds']:>10.1f}{values['peak_mb']:>10.0f}{values['exit']:>6}", flush=True)


def tree_rss_mb(root: int) -> float:
    """Resident MB of the largest process in `root`'s tree now (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            parents[int(entry.name)] = int(fields[1])
            rss[int(entry.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    return max((rss.get(pid, 0) for pid in tree), default=0) / 2**20


def measured(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """(seconds, peak resident MB of the process tree's largest process, exit code). The peak is
    the larger of the kernel's figure for reaped processes and a sampling of the live tree every
    second (a JVM that Spark's launcher does not reap is seen only by the sampling)."""
    started = time.monotonic()
    sampled = [0.0]
    done = threading.Event()

    def sample(pid: int) -> None:
        while not done.wait(1.0):
            sampled[0] = max(sampled[0], tree_rss_mb(pid))

    # stderr goes to a file, not a pipe: a step that writes more than a pipe holds (Spark's log,
    # the loader's progress) would block on a pipe nobody reads until it ends.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors)
        sampler = threading.Thread(target=sample, args=(process.pid,), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        done.set()
        sampler.join()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            errors.seek(0)
            sys.stderr.write(errors.read().decode(errors="replace")[-3000:])
    return seconds, max(usage.ru_maxrss / 1024, sampled[0]), code


def keep_profile(work: Path, step: str, profiles: dict[str, list[tuple[float, str]]], env: dict[str, str]) -> None:
    """dbt's per-node timings of the build just run (where the time goes), kept beside the data."""
    settings = Settings.from_env(warehouse=env["PSTN_WAREHOUSE"], build_warehouse=env.get("PSTN_BUILD_WAREHOUSE"))
    results = settings.dbt_target_dir / "run_results.json"
    if not results.exists():
        return
    data = json.loads(results.read_text())
    (work / f"{step}_run_results.json").write_text(json.dumps(data))
    nodes = sorted(((r["execution_time"], r["unique_id"]) for r in data["results"]), reverse=True)
    profiles[step] = nodes


def hold_back_last_days(raw: Path, held: Path, days: int = 2) -> list[Path]:
    """The nightly case: the full run sees the history up to `days` days before the last; each
    held-back day arrives as its own export, inside the current month (which is re-rated from that
    day on): the first through the main job, the second through the nightly. Done once per
    workdir; the held-back files are kept out of the landing folder."""
    held.mkdir(parents=True, exist_ok=True)
    existing = sorted(held.glob("*.csv"))
    if len(existing) == days:
        for file in existing:
            for landed in (raw / "cdr").rglob(file.name):
                landed.unlink()
        return existing
    last = sorted((raw / "cdr").glob("PSTN.calls.*.csv"))[-1]
    calls = pl.read_csv(last, infer_schema=False)
    start = next(c for c in calls.columns if c.lower() == "start time")
    day = calls.get_column(start).str.slice(0, 10)
    held_days = sorted(day.unique().to_list())[-days:]
    calls.filter(~day.is_in(held_days)).write_csv(last)
    files = []
    for held_day in held_days:
        files.append(held / f"PSTN.calls.{held_day}.next-day.csv")
        calls.filter(day == held_day).write_csv(files[-1])
    return files


def rate_changed_project(work: Path) -> Path:
    """A copy of the dbt project whose rate card has the US standard rate raised by a tenth of a cent."""
    project = work / "rate-changed-project"
    shutil.rmtree(project, ignore_errors=True)
    copy_project(ROOT, project)
    rates = project / "seeds" / "rate_card.csv"
    lines = rates.read_text().splitlines(keepends=True)
    us = next(i for i, line in enumerate(lines) if line.startswith("US,standard,"))
    country, kind, rate, rest = lines[us].split(",", 3)
    lines[us] = ",".join([country, kind, f"{float(rate) + 0.001:.4f}", rest])
    rates.write_text("".join(lines))
    return project


def disk_mb(folder: Path) -> dict[str, float]:
    """MB on disk of the archive, the private build warehouse, the published file and the exports."""

    def size(path: Path) -> float:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
        return round(sum(p.stat().st_size for p in files) / 2**20, 1)

    parts = {
        "archive": folder / "archive",
        "build_warehouse": folder / "private",
        "published": folder / "warehouse.duckdb",
    }
    sizes = {name: size(path) for name, path in parts.items() if path.exists()}
    exports = folder / "exports"
    if exports.exists():
        sizes["exports"] = size(exports.resolve())
    return sizes


def replicate_tenants(raw: Path, tenants: int) -> list[Path]:
    """A provider's case from one generated tenant: tenants t002..tNNN get the default tenant's
    exports and licence snapshots as hard links (no extra disk; call keys are per tenant).
    Returns the tenant CDR folders, where the held-back day is landed too."""
    folders = []
    for number in range(2, tenants + 1):
        name = f"t{number:03d}"
        for kind, pattern in (("cdr", "PSTN.calls.*.csv"), ("licenses", "*.csv")):
            target = raw / kind / name
            target.mkdir(parents=True, exist_ok=True)
            for source in (raw / kind).glob(pattern):
                link = target / source.name
                if not link.exists():
                    os.link(source, link)
        folders.append(raw / "cdr" / name)
    return folders


def csv_rows(files) -> int:
    return sum(pl.scan_csv(f, infer_schema=False).select(pl.len()).collect().item() for f in files)


def compare_with_duckdb(work: Path, env: dict[str, str], fresh: bool) -> bool:
    """Build the same archive on DuckDB (beside, not timed; `fresh`: from scratch, else on the
    earlier comparison build) and compare every mart both engines exported, value for value;
    print one line per mart."""
    from pstn.ops.crosscheck import compare_exports

    duck = work / "duckdb-check"
    if fresh:
        shutil.rmtree(duck, ignore_errors=True)
    duck_env = dict(
        env,
        PSTN_WAREHOUSE=str(duck / "warehouse.duckdb"),
        PSTN_ARCHIVE_DIR=str(work / "wh" / "archive"),
        PSTN_EXPORT_DIR=str(duck / "exports"),
    )
    duck_env.pop("PSTN_TARGET")
    seconds, _, code = measured([sys.executable, "-m", "pstn", "build"], duck_env)
    print(f"duckdb build of the same archive for the comparison: {seconds:.1f} s, exit {code}", flush=True)
    if code != 0:
        return False
    results, missing = compare_exports(duck / "exports", work / "wh" / "exports")
    for result in results:
        print("  " + result.line(), flush=True)
    if missing:
        print(f"  exported by one engine only: {missing}", flush=True)
    return not missing and all(result.identical for result in results)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/pstn-benchmark"))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--tenants", type=int, default=1, help="replicate the generated tenant into this many (rows x tenants)"
    )
    parser.add_argument(
        "--no-exports",
        action="store_true",
        help="skip the Parquet exports of the marts (PSTN_SKIP_EXPORTS=1; for disk at 100M rows)",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue a run that stopped after its full load (figures from --json): keep the loaded "
        "archive, drop the warehouse, go on from the full build",
    )
    parser.add_argument("--full-only", action="store_true", help="stop after the full load and build")
    parser.add_argument("--target", choices=("duckdb", "spark"), default="duckdb", help="engine of the builds")
    parser.add_argument("--spark-memory", default="8g", help="Spark driver memory (--target spark)")
    parser.add_argument(
        "--no-reference", action="store_true", help="skip the reference script (at 100M rows it runs out of memory)"
    )
    parser.add_argument(
        "--after-full",
        action="store_true",
        help="continue a run whose full load and build completed (figures from --json; its warehouse "
        "stays): the reference and the next day only",
    )
    args = parser.parse_args()

    work = args.workdir.resolve()
    raw, warehouse = work / "raw", work / "wh" / "warehouse.duckdb"
    env = dict(os.environ, PSTN_RAW_DIR=str(raw), PSTN_WAREHOUSE=str(warehouse))
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_EXPORT_DIR", "PSTN_TARGET", "PSTN_SKIP_EXPORTS"):
        env.pop(key, None)
    if args.no_exports:
        env["PSTN_SKIP_EXPORTS"] = "1"
    if args.target == "spark":
        if args.no_exports:
            raise SystemExit("--target spark compares the engines' exports: drop --no-exports")
        env.update(PSTN_TARGET="spark", PSTN_SPARK_DIR=str(work / "spark"), PSTN_SPARK_DRIVER_MEMORY=args.spark_memory)
    pstn = [sys.executable, "-m", "pstn"]
    figures: dict[str, dict] = {}
    profiles: dict[str, list[tuple[float, str]]] = {}

    if not raw.exists():
        seconds, peak, code = measured(
            [
                *pstn,
                "generate",
                "--out",
                str(raw),
                "--calls",
                str(args.rows),
                "--users",
                str(args.users),
                "--months",
                str(args.months),
                "--csv-only",
            ],
            env,
        )
        figures["generate"] = {"seconds": seconds, "peak_mb": peak, "exit": code}
    continuing = args.resume or args.after_full
    earlier = json.loads(args.json.read_text())["figures"] if continuing and args.json and args.json.exists() else {}
    resumed = earlier.get("full_load", {}).get("exit") == 0 and (work / "wh" / "archive").is_dir()
    built = args.after_full and resumed and earlier.get("full_build", {}).get("exit") == 0 and warehouse.exists()
    if args.after_full and not built:
        raise SystemExit(f"--after-full: no completed full build in {args.json} with {warehouse}")
    if built:
        figures.update(full_load=earlier["full_load"], full_build=earlier["full_build"])
    elif resumed:
        # The archive of the earlier run's load stays; what dbt built from it goes.
        figures.update(full_load=earlier["full_load"])
        for leftover in [*(work / "wh").glob("warehouse.duckdb*"), work / "wh" / "private"]:
            if leftover.exists():
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        shutil.rmtree(work / "wh" / "exports", ignore_errors=True)
    else:
        shutil.rmtree(work / "wh", ignore_errors=True)
        shutil.rmtree(work / "spark", ignore_errors=True)
    next_day_file, nightly_file = hold_back_last_days(raw, work / "held_back")
    tenant_folders = replicate_tenants(raw, args.tenants)
    rows = csv_rows((raw / "cdr").rglob("*.csv"))

    print(f"{rows} call rows; {'step':<16}{'seconds':>10}{'peak MB':>10}{'exit':>6}", flush=True)

    def run_step(step: str, command: list[str], step_env: dict[str, str] | None = None) -> None:
        """Measure one step, print it at once; a failed step ends the benchmark (its figures
        would mean nothing), with what was measured so far written out."""
        seconds, peak, code = measured(command, step_env or env)
        figures[step] = {"seconds": seconds, "peak_mb": peak, "exit": code}
        report(step, figures[step])
        if step.endswith("build"):
            keep_profile(work, step, profiles, step_env or env)
        if code != 0:
            if args.json:
                args.json.write_text(json.dumps({"figures": figures, "failed": step}, indent=2))
            raise SystemExit(f"{step} failed (exit {code}); see its output above")

    if built:
        print("continuing after the earlier run's full load and build:", flush=True)
        report("full_load", figures["full_load"])
        report("full_build", figures["full_build"])
    elif resumed:
        print("resumed after the earlier run's full load:", flush=True)
        report("full_load", figures["full_load"])
    else:
        run_step("full_load", [*pstn, "load"])
    if not built:
        run_step("full_build", [*pstn, "build"])
    # Spark only: every mart equal to a DuckDB build of the same archive (None on DuckDB).
    identical = compare_with_duckdb(work, env, fresh=True) if args.target == "spark" else None
    if args.full_only:
        full = figures["full_load"]["seconds"] + figures["full_build"]["seconds"]
        ratios = {"rows": rows, "full_seconds": round(full, 1), "full_rows_per_second": round(rows / full)}
        if identical is not None:
            ratios["marts_identical_to_duckdb"] = identical
        print(json.dumps(ratios, indent=2))
        if args.json:
            args.json.write_text(json.dumps({"figures": figures, "ratios": ratios}, indent=2))
        return 0

    script = (
        (ROOT / "scripts" / "reference_rating.sql")
        .read_text()
        .format(raw=raw, seeds=ROOT / "seeds", out=work / "reference_rated.parquet")
    )
    # The reference gets the settings the job's DuckDB gets (profiles.yml): the same memory limit,
    # no insertion order, and a spill folder (at 100M rows it needs one).
    settings = {
        "memory_limit": env.get("PSTN_DUCKDB_MEMORY_LIMIT", "12GB"),
        "preserve_insertion_order": False,
        "temp_directory": str(work / "reference.tmp"),
    }
    if not args.no_reference:
        run_step(
            "reference",
            [sys.executable, "-c", f"import duckdb; duckdb.connect(config={settings!r}).execute({script!r})"],
        )
        shutil.rmtree(work / "reference.tmp", ignore_errors=True)

    for folder in [raw / "cdr", *tenant_folders]:
        shutil.copy2(next_day_file, folder / next_day_file.name)
    next_rows = csv_rows([next_day_file]) * args.tenants
    # The next day runs the same main job (data tests; unit tests check the code, in CI).
    run_step("next_day_load", [*pstn, "load"])
    run_step("next_day_build", [*pstn, "build"])
    if args.target == "spark":
        identical = identical and compare_with_duckdb(work, env, fresh=False)
    else:
        # The second held-back day through `pstn nightly` (load, build, Great Expectations on the
        # marts, FOCUS export, docs, report, publish), as a scheduler runs it.
        for folder in [raw / "cdr", *tenant_folders]:
            shutil.copy2(nightly_file, folder / nightly_file.name)
        run_step("nightly", [*pstn, "nightly"])
        # The night after (the same day's calls again under new UsageIds): the steady state, where
        # the docs page of an unchanged project is published again rather than generated.
        again = pl.read_csv(nightly_file, infer_schema=False)
        usage = next(c for c in again.columns if c.lower() == "usageid")
        again = again.with_columns(pl.concat_str(pl.lit("again-"), pl.col(usage)).alias(usage))
        for folder in [raw / "cdr", *tenant_folders]:
            again.write_csv(folder / nightly_file.name.replace("next-day", "night-after"))
        run_step("night_after", [*pstn, "nightly"])
        # A rate-card change and nothing else: the same archive built by a copy of the project
        # whose rate card differs in one rate.
        run_step("rate_change_build", [*pstn, "build"], dict(env, PSTN_PROJECT_DIR=str(rate_changed_project(work))))
    disk = disk_mb(work / "wh")

    full = figures["full_load"]["seconds"] + figures["full_build"]["seconds"]
    next_day = figures["next_day_load"]["seconds"] + figures["next_day_build"]["seconds"]
    ratios = {
        "target": args.target,
        "marts_identical_to_duckdb": identical,
        "rows": rows,
        "next_day_rows": next_rows,
        "full_seconds": round(full, 1),
        "reference_seconds": round(figures["reference"]["seconds"], 1) if "reference" in figures else None,
        "full_over_reference": round(full / figures["reference"]["seconds"], 2) if "reference" in figures else None,
        "next_day_over_full": round(next_day / full, 3),
        "full_rows_per_second": round(rows / full),
    }
    if "reference" in figures:
        ratios["next_day_over_reference"] = round(next_day / figures["reference"]["seconds"], 2)
    if "nightly" in figures:
        ratios["nightly_over_next_day"] = round(figures["nightly"]["seconds"] / next_day, 2)
        ratios["night_after_over_next_day"] = round(figures["night_after"]["seconds"] / next_day, 2)
    if "rate_change_build" in figures:
        ratios["rate_change_over_full"] = round(figures["rate_change_build"]["seconds"] / full, 2)
    ratios["disk_mb"] = disk
    print(f"{'step':<16}{'seconds':>10}{'peak MB':>10}{'exit':>6}")
    for step, values in figures.items():
        report(step, values)
    for step, nodes in profiles.items():
        total = sum(t for t, _ in nodes)
        print(f"{step}: {len(nodes)} dbt nodes, {total:.1f} s summed; slowest:")
        for seconds, node in nodes[:8]:
            print(f"  {seconds:>7.2f}  {node}")
    print(json.dumps(ratios, indent=2))
    print(
        "targets: full_over_reference <= 5 at 2M rows, <= 3 at 10M; next_day_over_reference <= 2 at 2M; "
        "nightly_over_next_day <= 1.2; rate_change_over_full <= 0.3 at 10M"
    )
    if args.json:
        args.json.write_text(json.dumps({"figures": figures, "ratios": ratios}, indent=2))
    return 0  # a failed step has ended the run already


if __name__ == "__main__":
    raise SystemExit(main())
