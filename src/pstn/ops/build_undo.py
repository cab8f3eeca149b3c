"""A build that does not finish is undone, so the next build re-rates and re-tests its months.

The build warehouse is built in place (the nightly does not copy it first: at 100M calls that
copy was 40 GB of disk and minutes of every night). What a build writes into its incremental
models is told apart by the run's stamp: rows re-rated by month carry the run's `rated_at` (the
FOCUS mart its `x_rated_at`), staged rows the load they came from. Before a build starts, the
newest stamp and load of the re-rating log (`int_rerate_months`) are written beside the build
warehouse (`<build warehouse>.undo.json`), and removed when the build (for the nightly: the build
and everything up to the publish) succeeded. A build that failed or was killed leaves the file,
and its rows stay for inspection; the next build first deletes from every incremental model the
rows newer than that point, and the log's entries. Each such model then finds the months logged
after its own last rating and rebuilds them, and the data tests, which check the rows the last
build wrote, check them again: a night whose tests failed fails again the next night until the
data or the rules are mended, rather than passing on rows nobody checked. An incremental table
that carries neither stamp is dropped (rebuilt whole). A failed build of a warehouse that did
not exist before has the file removed.
"""

from __future__ import annotations

import json
from pathlib import Path

from pstn.errors import OperatorError
from pstn.settings import Settings

LOG_MODEL = "int_rerate_months"


def undo_file(settings: Settings) -> Path:
    return settings.build_warehouse.with_name(settings.build_warehouse.name + ".undo.json")


def begin_build(settings: Settings) -> None:
    """Before a build writes: undo a failed or killed build left behind, then record the undo point."""
    if settings.target != "duckdb":
        return
    from pstn.ops.dbt_runner import ensure_not_open

    ensure_not_open(settings.build_warehouse, settings.warehouse)
    undo_leftover(settings)
    settings.build_warehouse.parent.mkdir(parents=True, exist_ok=True)
    _write_marker(undo_file(settings), _undo_point(settings))


def end_build(settings: Settings) -> None:
    """After the build (and what must succeed with it) succeeded: forget the undo point. A build
    that failed keeps it, and its rows stay for inspection until the next build undoes them."""
    if settings.target == "duckdb":
        undo_file(settings).unlink(missing_ok=True)


def undo_leftover(settings: Settings) -> None:
    """Undo the build a marker names (a failed or killed one), if there is one."""
    marker = undo_file(settings)
    if not marker.exists():
        return
    try:
        point = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        raise OperatorError(f"{marker} cannot be read ({exc}); remove the build warehouse to rebuild it whole") from exc
    warehouse = settings.build_warehouse
    if not point.get("existed"):
        for path in (warehouse, warehouse.with_name(warehouse.name + ".wal")):
            path.unlink(missing_ok=True)
    elif warehouse.exists():
        _delete_newer_rows(settings, point)
    marker.unlink(missing_ok=True)


def _undo_point(settings: Settings) -> dict:
    """The newest run stamp and load the build warehouse's log holds before this build."""
    warehouse = settings.build_warehouse
    point: dict = {"existed": warehouse.exists(), "rated_at": None, "load_id": None}
    if not point["existed"]:
        return point
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        log = next((relation for (_, name), relation in _tables(con).items() if name == LOG_MODEL), None)
        if log:
            rated_at, load_id = con.execute(
                f"select cast(max(rated_at) as varchar), max(loaded_through_load_id) from {log}"
            ).fetchone()
            point.update(rated_at=rated_at, load_id=load_id)
    return point


def _delete_newer_rows(settings: Settings, point: dict) -> None:
    import duckdb

    models = _incremental_models(settings)
    rated_at = point["rated_at"] or "1900-01-01 00:00:00"
    load_id = point["load_id"] or ""
    with duckdb.connect(str(settings.build_warehouse)) as con:
        tables = _tables(con)
        con.execute("begin transaction")
        for key, watermark in sorted(models.items()):
            relation = tables.get(key)
            if relation is None:
                continue
            columns = {row[0] for row in con.execute(f"describe {relation}").fetchall()}
            if watermark in columns:
                con.execute(f"delete from {relation} where {watermark} > cast(? as timestamp)", [rated_at])
            elif "load_id" in columns:
                con.execute(f"delete from {relation} where load_id > ?", [load_id])
            else:
                con.execute(f"drop table {relation}")
        con.execute("commit")
        con.execute("checkpoint")


def _incremental_models(settings: Settings) -> dict[tuple[str, str], str]:
    """{(schema, table): its watermark column} of the project's incremental models, from dbt's manifest
    of the last parse (the failed build's own); without one, a one-line error."""
    manifest = settings.dbt_target_dir / "manifest.json"
    try:
        nodes = json.loads(manifest.read_text())["nodes"].values()
    except (OSError, ValueError, KeyError) as exc:
        raise OperatorError(
            f"{manifest} cannot be read ({exc}) to undo the last build; remove the build warehouse "
            f"{settings.build_warehouse} to rebuild it whole"
        ) from exc
    return {
        (node["schema"], node.get("alias") or node["name"]): node["config"].get("rerate_watermark_column") or "rated_at"
        for node in nodes
        if node.get("resource_type") == "model" and node.get("config", {}).get("materialized") == "incremental"
    }


def _tables(con) -> dict[tuple[str, str], str]:
    """{(schema, table): quoted schema.table} of the warehouse's base tables."""
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_type = 'BASE TABLE' and table_catalog = current_database()"
    ).fetchall()
    return {(schema, table): f'"{schema}"."{table}"' for schema, table in rows}


def _write_marker(marker: Path, point: dict) -> None:
    from pstn.files import write_text_atomically

    write_text_atomically(marker, json.dumps(point))
