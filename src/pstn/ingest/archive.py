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
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl

from pstn.files import make_private_folder, write_text_atomically
from pstn.ingest.parse import MONEY

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
        "administrative_units": pl.String,
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
        # The record with its personal values as tokens, and those values (pstn.ingest.redact).
        "raw_record_masked": pl.String,
        "user_id": pl.String,
        "user_principal_name": pl.String,
        "user_display_name": pl.String,
        "caller_number": pl.String,
        "callee_number": pl.String,
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
    # The archive files this unit wrote, as JSON [[path below the archive, SHA-256, bytes], ...].
    "archive_files": pl.String,
}

DATASETS = (*SCHEMAS, "_manifest")
# A zero-row file in every dataset folder fixes its columns and types when no load has written
# rows to it. Not `_schema.parquet`: Spark and Hadoop take names starting with `_` or `.` for
# hidden files, and an empty dataset then has no schema at all. Archives written before keep
# their `_schema.parquet` beside the new file (both have no rows).
SCHEMA_FILE = "schema.parquet"
SCHEMA_FILES = (SCHEMA_FILE, "_schema.parquet")
# Size, modification time and identity of every landed file the loads took (Archive.file_stats).
FILE_STATS = "file_stats.json"
# When each archive file last matched the checksum its load recorded (Archive.verify).
VERIFIED = "verified.json"
VERIFY_EVERY_DAYS = 28


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly the schema's columns, in order, with its types (missing columns as nulls)."""
    return frame.select(
        [(pl.col(n) if n in frame.columns else pl.lit(None)).cast(t, strict=True).alias(n) for n, t in schema.items()]
    )


def _write_atomically(frame: pl.DataFrame, path: Path) -> str:
    """Write `frame` as Parquet at `path` (a reader sees no part of it before the rename);
    returns the SHA-256 of the bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(temporary, compression="zstd", statistics=True)
    with temporary.open("rb") as handle:
        digest = file_sha256(handle)
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    return digest


def file_sha256(handle) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


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
        """Create the layout (owner-only: the archive holds clear numbers and UPNs) and schema
        files; delete what an interrupted load left behind. The caller holds the writer lock."""
        make_private_folder(self.root)
        for dataset, schema in (*SCHEMAS.items(), ("_manifest", MANIFEST)):
            target = self.dataset_dir(dataset) / SCHEMA_FILE
            # Rewritten when this version's schema has grown (a column added): readers take the
            # column from it even before a load has written one.
            if not target.exists() or dict(pl.read_parquet_schema(target)) != dict(schema):
                _write_atomically(pl.DataFrame(schema=schema), target)
        return self._remove_orphans()

    def committed_loads(self) -> set[str]:
        return {p.stem for p in self.dataset_dir("_manifest").glob("*.parquet") if p.name not in SCHEMA_FILES}

    def _remove_orphans(self) -> list[Path]:
        committed = self.committed_loads()
        removed = []
        for dataset in SCHEMAS:
            for path in self.dataset_dir(dataset).rglob("*"):
                if not path.is_file() or path.name in SCHEMA_FILES:
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
        # Entries written by an earlier version lack the columns added since (null there).
        frames = [pl.read_parquet(f) for f in files]
        return pl.concat([pl.DataFrame(schema=MANIFEST), *frames], how="diagonal_relaxed").select(
            [pl.col(name).cast(kind) for name, kind in MANIFEST.items()]
        )

    def read(self, dataset: str, columns: Iterable[str] | None = None) -> pl.DataFrame:
        files = sorted(self.dataset_dir(dataset).rglob("*.parquet"))
        schema = SCHEMAS[dataset]
        if not files:
            return pl.DataFrame(schema=schema)
        # Files written by an earlier version lack the columns added since (null there).
        frame = pl.scan_parquet(files, schema=schema, missing_columns="insert", extra_columns="ignore")
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
    def write(self, dataset: str, frame: pl.DataFrame, load_id: str) -> list[list]:
        """Write one file per (tenant, month) partition; returns [path below the archive, SHA-256,
        bytes] of each file written (the load's manifest keeps them for `verify`)."""
        if frame.is_empty():
            return []
        frame = conform(frame, SCHEMAS[dataset])
        written = []
        for (tenant_id, month), part in frame.group_by("tenant_id", "month", maintain_order=True):
            directory = self.dataset_dir(dataset) / f"tenant={_segment(tenant_id)}" / f"month={month}"
            existing = len(list(directory.glob(f"{load_id}*.parquet"))) if directory.exists() else 0
            name = load_id if existing == 0 else f"{load_id}~{existing}"
            path = directory / f"{name}.parquet"
            digest = _write_atomically(part, path)
            written.append([path.relative_to(self.root).as_posix(), digest, path.stat().st_size])
        return written

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

    # -- verification ------------------------------------------------------------------------
    def recorded_files(self) -> dict[str, tuple[str, int]]:
        """{path below the archive: (SHA-256, bytes)} of every file a committed load wrote."""
        manifest = self.manifest()
        if "archive_files" not in manifest.columns:
            return {}
        recorded: dict[str, tuple[str, int]] = {}
        for text in manifest.get_column("archive_files").drop_nulls().to_list():
            for path, digest, size in json.loads(text):
                recorded[path] = (digest, size)
        return recorded

    def unrecorded_files(self, recorded: dict[str, tuple[str, int]]) -> int:
        """Data files of committed loads whose checksum no manifest holds (written before the
        manifests kept them): they can be read but not verified."""
        committed = self.committed_loads()
        return sum(
            1
            for dataset in SCHEMAS
            for path in self.dataset_dir(dataset).rglob("*.parquet")
            if path.name not in SCHEMA_FILES
            and path.stem.split("~")[0] in committed
            and path.relative_to(self.root).as_posix() not in recorded
        )

    def verification_state(self) -> dict[str, str]:
        """{path: when it last matched its checksum (UTC ISO 8601)}: a cache, rebuilt if lost."""
        try:
            state = json.loads((self.root / VERIFIED).read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def verify(self, paths: Iterable[str]) -> list[str]:
        """Check each file against its recorded SHA-256; returns one line per file that is missing
        or differs. Files that match are remembered as verified now."""
        recorded = self.recorded_files()
        state = self.verification_state()
        now = datetime.now(UTC).isoformat(timespec="seconds")
        problems = []
        for path in paths:
            digest, size = recorded[path]
            target = self.root / path
            try:
                with target.open("rb") as handle:
                    actual = file_sha256(handle)
            except OSError as exc:
                problems.append(f"{target}: cannot be read ({exc.strerror or exc})")
                continue
            if actual != digest:
                problems.append(
                    f"{target}: content differs from what its load wrote "
                    f"(SHA-256 {actual[:12]}… instead of {digest[:12]}…, {target.stat().st_size:,} of {size:,} bytes)"
                )
                state.pop(path, None)
                continue
            state[path] = now
        write_text_atomically(self.root / VERIFIED, json.dumps(state, indent=0, sort_keys=True))
        return problems

    def due_for_verification(self, days: int = VERIFY_EVERY_DAYS, now: datetime | None = None) -> list[str]:
        """What a nightly checks: every file not verified since it was written, every file not
        verified for `days`, and a rotating share (the longest unverified first) so that, one
        night after another, each file is read at least every `days` days."""
        recorded = self.recorded_files()
        state = self.verification_state()
        now = now or datetime.now(UTC)
        horizon = (now - timedelta(days=days)).isoformat(timespec="seconds")
        due = [path for path in recorded if path not in state or state[path] < horizon]
        rest = sorted((state[path], path) for path in recorded if path not in due)
        share = -(-len(recorded) // days)
        return due + [path for _, path in rest[:share]]
