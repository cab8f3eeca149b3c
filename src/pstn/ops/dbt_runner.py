"""Running dbt: the project's own profiles.yml and this run's paths, one kept parse per profile,
and a one-line stop when another program holds the build warehouse. The command line and the
nightly both build through here."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pstn import pseudonym
from pstn.errors import OperatorError
from pstn.files import copy_atomically, make_private_folder
from pstn.settings import Settings, require_project


def script_beside_interpreter(name: str) -> str | None:
    """A console script installed in this interpreter's environment (dbt, mf), if there is one."""
    return shutil.which(name, path=str(Path(sys.executable).parent))


def dbt(settings: Settings, *arguments: str, output: list[str] | None = None) -> int:
    """Run dbt from the project root with the committed profiles.yml and this run's paths. With
    `output`, dbt's output (its stderr too) is shown as it comes and its last lines kept there."""
    require_project(settings.project_dir)
    # dbt's own script beside this interpreter, else dbt's module through it (an environment that
    # borrows its packages from another has no script of its own).
    script = script_beside_interpreter("dbt")
    executable = [script] if script else [sys.executable, "-m", "dbt.cli.main"]
    folders = [settings.warehouse.parent, settings.export_dir]
    if settings.target == "spark":
        folders.append(settings.spark_dir)
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    make_private_folder(settings.build_warehouse.parent)
    if pseudonym.switched_on(settings.dbt_env()):
        pseudonym.load_key()  # a missing or short key stops here with its reason, before dbt starts
    if settings.target == "duckdb":
        ensure_not_open(settings.build_warehouse, settings.warehouse)
    command = [*executable, *arguments, "--project-dir", str(settings.project_dir)]
    print("+ dbt " + " ".join(arguments), flush=True)
    env = settings.dbt_env()
    kept = kept_parse(settings, env, arguments)
    if kept.exists():
        env["DBT_PARTIAL_PARSE_FILE_PATH"] = str(kept)
    started = time.time()
    if output is None:
        status = subprocess.call(command, cwd=settings.project_dir, env=env)
    else:
        with subprocess.Popen(
            command,
            cwd=settings.project_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process:
            for line in process.stdout or ():
                sys.stdout.write(line)
                output.append(line.rstrip("\n"))
                del output[:-200]
        sys.stdout.flush()
        status = process.returncode
    keep_parse(settings, kept, started)
    return status


def last_error(lines: list[str]) -> str | None:
    """The last exception line dbt printed (`OSError: [Errno 28] No space left on device`), when it
    stopped before writing its results."""
    found = [line.strip() for line in lines if re.search(r"\b\w*(Error|Exception): \S", line)]
    return found[-1] if found else None


# Read by the project only while it runs (the on-run-end export), never while dbt parses; the
# nightly's export folder is new every night, and a parse kept per folder would never be reused.
RUN_TIME_ONLY = frozenset({"PSTN_EXPORT_DIR"})


def kept_parse(settings: Settings, env: dict[str, str], arguments: tuple[str, ...] = ()) -> Path:
    """Where dbt's parse of the project is kept for this profile. dbt keeps one parse
    (partial_parse.msgpack in its target folder) and parses the whole project again (seconds) whenever the
    rendered profile changed, which a different published path does: the nightly's new file and
    the published one take turns. One kept parse per profile lets each reuse its own."""
    rendered = sorted(
        (key, value) for key, value in env.items() if key.startswith(("PSTN_", "DBT_")) and key not in RUN_TIME_ONLY
    )
    # dbt parses again when its --vars differ from the kept parse's (the nightly's freshness
    # check passes some, its docs none): each set keeps its own.
    given = [arguments[i + 1] for i, argument in enumerate(arguments[:-1]) if argument == "--vars"]
    digest = hashlib.sha256(json.dumps([rendered, given]).encode()).hexdigest()[:16]
    return settings.dbt_target_dir / "partial_parse" / f"{digest}.msgpack"


def keep_parse(settings: Settings, kept: Path, started: float) -> None:
    """Copy the parse dbt just wrote (if it wrote one) to this profile's place."""
    written = settings.dbt_target_dir / "partial_parse.msgpack"
    try:
        if written_since(written, started):
            copy_atomically(written, kept)
    except OSError:
        return  # a parse not kept only costs the next run a full parse


def written_since(path: Path, started: float) -> bool:
    """Whether dbt wrote `path` in the run started at `started` (not an earlier run's file)."""
    try:
        return path.stat().st_mtime >= started - 1
    except FileNotFoundError:
        return False


def ensure_not_open(database: Path, published: Path) -> None:
    """Stop with one line when another program holds the build warehouse (a DuckDB CLI or a
    notebook an analyst left open): dbt would fail on its lock with a page of output. BI tools
    open the published file, which no build ever opens."""
    if not database.exists():
        return
    import duckdb

    try:
        duckdb.connect(str(database)).close()
    except duckdb.IOException as error:
        holder = re.search(r"held in (.+?) \(PID (\d+)\)", str(error))
        who = f"{holder.group(1)}, pid {holder.group(2)}" if holder else str(error).splitlines()[0]
        raise OperatorError(
            f"the build warehouse {database} is open in another program ({who}); close it and run again "
            f"(BI tools should open the published {published} instead)"
        ) from error


def metricflow(settings: Settings, *arguments: str) -> int:
    """MetricFlow's `mf` on the build warehouse, with the project's profile and this run's paths
    (the metrics are defined in models/semantic/)."""
    require_project(settings.project_dir)
    script = script_beside_interpreter("mf")
    if not script:
        raise OperatorError("MetricFlow is not installed here (dbt-metricflow): run `make setup`")
    if settings.target != "duckdb":
        raise OperatorError("the metrics are queried on the DuckDB build warehouse (PSTN_TARGET=duckdb)")
    ensure_not_open(settings.build_warehouse, settings.warehouse)
    # mf reads the semantic manifest from the project's own target folder only: the one of the
    # build of this warehouse goes there first.
    built = settings.dbt_target_dir / "semantic_manifest.json"
    if not built.exists():
        raise OperatorError(f"{settings.build_warehouse} has not been built here yet: run `pstn build` first")
    copy_atomically(built, settings.project_dir / "target" / "semantic_manifest.json")
    return subprocess.call([script, *arguments], cwd=settings.project_dir, env=settings.dbt_env())
