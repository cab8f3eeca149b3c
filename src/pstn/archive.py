"""The engine-neutral archive: append-only Parquet partitioned by tenant and month, beside the
warehouse, readable by DuckDB and Spark alike.

Layout (`<archive>/<dataset>/tenant=<t>/month=<YYYY-MM>/<load_id>.parquet`): the tenant and the
month are also columns inside every file, so readers need no partition discovery. A load becomes
visible only when its manifest file `_manifest/<load_id>.parquet` is written, last; data files of a
load without a manifest (a crash) are deleted by the next load.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

import duckdb
import polars as pl

from pstn.files import write_text_atomically
from pstn.parse import MONEY

LOAD = {
    "tenant_id": pl.String,
    "source_path": pl.String,
    "source_member": pl.String,
    "source_line": pl.Int64,
    "file_sha256": pl.String,
    "file_seq": pl.Int64,
    "load_id": pl.String,
    "loaded_at": pl.Datetime("us"),
}

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "calls": {
        "usage_id": pl.String,
        "call_id": pl.String,
        "conference_id": pl.String,
        "user_id": pl.String,
        "user_principal_name": pl.String,
        "user_display_name": pl.String,
        "user_location": pl.String,
        "caller_number": pl.String,
        "callee_number": pl.String,
        "call_type": pl.String,
        "number_type": pl.String,
        "destination_context": pl.String,
        "destination_name": pl.String,
        "start_at": pl.Datetime("us"),
        "end_at": pl.Datetime("us"),
        "duration_seconds": pl.Int64,
        "connection_charge": MONEY,
        "charge": MONEY,
        "currency": pl.String,
        "capability": pl.String,
        "operator": pl.String,
        "inventory_type": pl.String,
        "call_duration_source": pl.String,
        "tenant_country_code": pl.String,
        "usage_country_code": pl.String,
        "other_party_country_code": pl.String,
        "source_format": pl.String,
        "row_hash": pl.String,
        "month": pl.String,
        **LOAD,
    },
    "licence_users": {
        "snapshot_date": pl.Date,
        "user_key": pl.String,
        "user_id": pl.String,
        "user_principal_name": pl.String,
        "display_name": pl.String,
        "usage_location": pl.String,
        "department": pl.String,
        "dial_out_policy": pl.String,
        "sku_part_numbers": pl.String,
        "source_format": pl.String,
        "month": pl.String,
        **LOAD,
    },
    "licence_assignments": {
        "snapshot_date": pl.Date,
        "user_key": pl.String,
        "user_id": pl.String,
        "sku_part_number": pl.String,
        "month": pl.String,
        **LOAD,
    },
    "tenant_skus": {
        "snapshot_date": pl.Date,
        "sku_id": pl.String,
        "sku_part_number": pl.String,
        "purchased_units": pl.Int64,
        "assigned_units": pl.Int64,
        "service_plans": pl.String,
        "source_format": pl.String,
        "month": pl.String,
        **LOAD,
    },
    "credit_fundings": {
        "funded_at": pl.Datetime("us"),
        "amount": MONEY,
        "currency": pl.String,
        "kind": pl.String,
        "month": pl.String,
        **LOAD,
    },
    "credit_settings": {
        "effective_from": pl.Date,
        "trigger_amount": MONEY,
        "recharge_amount": MONEY,
        "currency": pl.String,
        "is_enabled": pl.Boolean,
        "month": pl.String,
        **LOAD,
    },
    "quarantine": {
        "dataset": pl.String,
        "record_key": pl.String,
        "reasons": pl.String,
        "raw_record": pl.String,
        "month": pl.String,
        **LOAD,
    },
    "conflicts": {
        "usage_id": pl.String,
        "previous_row_hash": pl.String,
        "row_hash": pl.String,
        "previous_load_id": pl.String,
        "month": pl.String,
        **LOAD,
    },
}

MANIFEST = {
    "load_id": pl.String,
    "loaded_at": pl.Datetime("us"),
    "file_seq": pl.Int64,
    "tenant_id": pl.String,
    "kind": pl.String,
    "file_format": pl.String,
    "source_path": pl.String,
    "source_member": pl.String,
    "file_sha256": pl.String,
    "file_identity": pl.String,
    "file_bytes": pl.Int64,
    "status": pl.String,
    "reason": pl.String,
    "rows_read": pl.Int64,
    "rows_kept": pl.Int64,
    "rows_rejected": pl.Int64,
    "rows_duplicate": pl.Int64,
    "rows_conflicting": pl.Int64,
    "export_parameters": pl.String,
}

DATASETS = (*SCHEMAS, "_manifest")
SCHEMA_FILE = "_schema.parquet"
# Size, modification time and identity of every landed file the loads took (Archive.file_stats).
FILE_STATS = "file_stats.json"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly the schema's columns, in order, with its types (missing columns as nulls)."""
    return frame.select(
        [(pl.col(n) if n in frame.columns else pl.lit(None)).cast(t, strict=True).alias(n) for n, t in schema.items()]
    )


def _write_atomically(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(temporary, compression="zstd", statistics=True)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _segment(value: str) -> str:
    return urllib.parse.quote(value, safe="-_.@")


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def dataset_dir(self, dataset: str) -> Path:
        return self.root / dataset

    def glob(self, dataset: str) -> str:
        return str(self.dataset_dir(dataset) / "**" / "*.parquet")

    # -- lifecycle -------------------------------------------------------------------------
    def prepare(self) -> list[Path]:
        """Create the layout and schema files; delete what an interrupted load left behind."""
        for dataset, schema in (*SCHEMAS.items(), ("_manifest", MANIFEST)):
            target = self.dataset_dir(dataset) / SCHEMA_FILE
            if not target.exists():
                _write_atomically(pl.DataFrame(schema=schema), target)
        return self._remove_orphans()

    def committed_loads(self) -> set[str]:
        return {p.stem for p in self.dataset_dir("_manifest").glob("*.parquet") if p.name != SCHEMA_FILE}

    def _remove_orphans(self) -> list[Path]:
        committed = self.committed_loads()
        removed = []
        for dataset in SCHEMAS:
            for path in self.dataset_dir(dataset).rglob("*"):
                if not path.is_file() or path.name == SCHEMA_FILE:
                    continue
                if path.name.endswith(".tmp") or path.stem.split("~")[0] not in committed:
                    path.unlink()
                    removed.append(path)
        for path in self.dataset_dir("_manifest").glob(".*.tmp"):
            path.unlink()
            removed.append(path)
        return removed

    # -- reading ---------------------------------------------------------------------------
    def manifest(self) -> pl.DataFrame:
        files = sorted(self.dataset_dir("_manifest").glob("*.parquet"))
        if not files:
            return pl.DataFrame(schema=MANIFEST)
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical")

    def read(self, dataset: str, columns: Iterable[str] | None = None) -> pl.DataFrame:
        files = sorted(self.dataset_dir(dataset).rglob("*.parquet"))
        schema = SCHEMAS[dataset]
        if not files:
            return pl.DataFrame(schema=schema)
        frame = pl.scan_parquet(files)
        if columns is not None:
            frame = frame.select(list(columns))
        return frame.collect()

    def call_versions(self, tenant_id: str, months: Iterable[str]) -> pl.DataFrame:
        """The current (newest) row_hash per UsageId in the given tenant's month partitions."""
        files = [
            f
            for month in months
            for f in (self.dataset_dir("calls") / f"tenant={_segment(tenant_id)}" / f"month={month}").glob("*.parquet")
        ]
        empty = pl.DataFrame(schema={"usage_id": pl.String, "row_hash": pl.String, "load_id": pl.String})
        if not files:
            return empty
        return (
            pl.scan_parquet(files)
            .select("usage_id", "row_hash", "load_id", "file_seq", "source_line")
            .sort("load_id", "file_seq", "source_line")
            .group_by("usage_id")
            .agg(pl.col("row_hash").last(), pl.col("load_id").last())
            .collect()
        )

    def file_stats(self) -> dict[str, list]:
        """{landed file's path: [size, mtime_ns, file identity]} as the last load saw them: a
        cache (missing or unreadable, every file is read and hashed again)."""
        try:
            stats = json.loads((self.root / FILE_STATS).read_text())
        except (OSError, ValueError):
            return {}
        return stats if isinstance(stats, dict) else {}

    def remember_file_stats(self, stats: dict[str, list]) -> None:
        write_text_atomically(self.root / FILE_STATS, json.dumps(stats))

    # -- writing ---------------------------------------------------------------------------
    def write(self, dataset: str, frame: pl.DataFrame, load_id: str) -> int:
        """Write one file per (tenant, month) partition; returns the rows written."""
        if frame.is_empty():
            return 0
        frame = conform(frame, SCHEMAS[dataset])
        for (tenant_id, month), part in frame.group_by("tenant_id", "month", maintain_order=True):
            directory = self.dataset_dir(dataset) / f"tenant={_segment(tenant_id)}" / f"month={month}"
            existing = len(list(directory.glob(f"{load_id}*.parquet"))) if directory.exists() else 0
            name = load_id if existing == 0 else f"{load_id}~{existing}"
            _write_atomically(part, directory / f"{name}.parquet")
        return frame.height

    def commit(self, load_id: str, manifest_rows: list[dict]) -> None:
        """Publish the load: its manifest file is the commit marker."""
        frame = conform(pl.DataFrame(manifest_rows, schema=MANIFEST), MANIFEST)
        _write_atomically(frame, self.dataset_dir("_manifest") / f"{load_id}.parquet")

    # -- integrity -------------------------------------------------------------------------
    def checksum(self) -> dict[str, tuple[int, str]]:
        """Row count and an order-independent content digest of every dataset."""
        out: dict[str, tuple[int, str]] = {}
        con = duckdb.connect()
        for dataset in DATASETS:
            rows, digest = con.execute(
                f"""
                select count(*), coalesce(md5(string_agg(row_digest, ',' order by row_digest)), '')
                from (select md5(cast(t as varchar)) as row_digest
                      from read_parquet('{self.glob(dataset)}', union_by_name = true) as t)
                """
            ).fetchone()
            out[dataset] = (int(rows), str(digest))
        con.close()
        return out
