"""Reads every file under the landing folder into the archive.

Per file (or zip member): skip it when its SHA-256 was loaded before; read it within the landing
folder's bounds (`pstn.ingest.landing`: links, special files and hidden names are listed, never read);
parse it (a file that cannot be read is recorded as rejected with its reason and never stops the
others); drop rows repeated verbatim; validate the batch with Great Expectations; quarantine
failing rows with file, line and reason; for calls, skip rows identical to the archived version
and record conflicts where the same UsageId comes back with other content (the newest load wins
downstream).
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import duckdb
import polars as pl

from pstn.errors import one_line
from pstn.ingest import cdr, credits, licences, redact
from pstn.ingest.archive import SCHEMAS, Archive, conform, sha256
from pstn.ingest.bounds import Bounds
from pstn.ingest.landing import (
    DEFAULT_TENANT,
    LandedFile,
    discover,
    hash_file,
    read_landed_file,
    zip_members,
    zip_parameters,
)
from pstn.ingest.parse import REASONS
from pstn.ingest.quality import Validator
from pstn.ingest.rawfile import LINE, RAW, FileRejected
from pstn.progress import Progress
from pstn.settings import Settings

# Columns that identify a record within its dataset (staging keeps the newest version per key).
KEYS: dict[str, tuple[str, ...]] = {
    "calls": ("usage_id",),
    "licence_users": ("snapshot_date", "user_key"),
    "tenant_skus": ("snapshot_date", "sku_part_number"),
    "credit_fundings": ("funded_at", "amount", "currency", "kind"),
    "credit_settings": ("effective_from",),
}
MONTH_OF = {
    "calls": "start_at",
    "licence_users": "snapshot_date",
    "tenant_skus": "snapshot_date",
    "credit_fundings": "funded_at",
}
METADATA = {
    LINE,
    RAW,
    REASONS,
    "tenant_id",
    "source_path",
    "source_member",
    "source_line",
    "file_sha256",
    "file_seq",
    "load_id",
    "loaded_at",
    "row_hash",
    "month",
}


# Content columns added after rows were first archived: part of a row's hash only when set.
ADDED_CONTENT = ("administrative_units",)


@dataclass
class LoadReport:
    load_id: str
    files_seen: int = 0
    files_skipped: int = 0
    units_loaded: int = 0
    units_rejected: int = 0
    units_unread: int = 0
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    rows_conflicting: int = 0
    orphans_removed: int = 0
    data_docs: str | None = None
    rejected_files: list[tuple[str, str]] = field(default_factory=list)
    skipped_files: list[tuple[str, str]] = field(default_factory=list)
    # Files the loader itself failed on (not the file's fault): not recorded, read again next load.
    failed_files: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> str:
        lines = [
            f"load {self.load_id}: {self.files_seen} files seen, {self.files_skipped} already loaded (skipped), "
            f"{self.units_loaded} loaded, {self.units_rejected} rejected, {self.units_unread} skipped as not data",
            f"rows: {self.rows_read} read = {self.rows_kept} kept + {self.rows_rejected} quarantined + "
            f"{self.rows_duplicate} duplicates ({self.rows_conflicting} changed versions of known UsageIds)",
        ]
        lines += [f"  rejected file {path}: {reason}" for path, reason in self.rejected_files]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped_files]
        lines += [f"  NOT LOADED {path}: {reason} (the next load reads it again)" for path, reason in self.failed_files]
        if self.orphans_removed:
            lines.append(f"  removed {self.orphans_removed} files left by an interrupted load")
        if self.data_docs:
            lines.append(f"validation results (Data Docs): {self.data_docs}")
        return "\n".join(lines)


def file_identity(raw: LandedFile, name: str, digest: str) -> str:
    """What makes a file "already loaded". Call records carry their own keys within a tenant, so
    the tenant and the content decide (a renamed copy is skipped; the same bytes under another
    tenant's folder are that tenant's calls). Licence and credits files may take their date from
    the file name, and two days can hold identical bytes: there the name is part of the identity."""
    if raw.kind == "cdr":
        return digest if raw.tenant_id == DEFAULT_TENANT else sha256(f"{raw.tenant_id}\0{digest}".encode())
    return sha256(f"{raw.tenant_id}/{name}".encode() + b"\0" + digest.encode())


def unread_identity(raw: LandedFile) -> str:
    """A file that is not read is listed once per path, status, size and modification time."""
    return sha256(f"{raw.status}\0{raw.tenant_id}\0{raw.relative}\0{raw.size}\0{raw.mtime_ns}".encode())


Reader = Callable[[bytes, str], list[tuple[str, pl.DataFrame]]]
# Formats read line by line: a line over the line bound is cut out as the file streams in.
LINE_FORMATS = (".csv", ".jsonl", ".ndjson")


def _reader(kind: str | None, suffix: str) -> tuple[str, Reader] | None:
    if kind == "cdr":
        return {
            ".csv": ("admin_center_csv", lambda d, n: [("calls", cdr.read_admin_center_csv(d))]),
            ".json": ("graph_json", lambda d, n: [("calls", cdr.read_graph_json(d))]),
            ".jsonl": ("graph_jsonl", lambda d, n: [("calls", cdr.read_graph_jsonl(d))]),
            ".ndjson": ("graph_jsonl", lambda d, n: [("calls", cdr.read_graph_jsonl(d))]),
        }.get(suffix)
    if kind == "licenses":
        return {
            ".csv": ("licence_csv", lambda d, n: [licences.read_users_csv(d, n)]),
            ".json": ("licence_graph_json", licences.read_graph_json),
        }.get(suffix)
    if kind == "credits":
        return {
            ".csv": ("credits_csv", lambda d, n: [credits.read_csv(d)]),
            ".json": ("credits_json", lambda d, n: credits.read_json(d)),
        }.get(suffix)
    return None


class Loader:
    def __init__(
        self, settings: Settings, validator: Validator | None = None, rehash: bool = False, progress: bool = False
    ) -> None:
        self.settings = settings
        self.rehash = rehash
        self.show_progress = progress
        self.archive = Archive(settings.archive_dir)
        self.bounds = Bounds.from_env()
        self.validator = validator or Validator(settings.gx_dir)
        self.duck = duckdb.connect()
        now = datetime.now(UTC).replace(tzinfo=None)
        self.loaded_at = now
        self.load_id = now.strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)
        self.report = LoadReport(self.load_id)
        self.manifest: list[dict] = []
        self.versions: dict[tuple[str, str], pl.DataFrame] = {}
        self.touched: set[tuple[str, str]] = set()
        # What Great Expectations validates at the end of the load, per dataset: samples of the
        # batches, the (batch, line) pairs the rules failed, and each batch's name.
        self.gx_samples: dict[str, list[pl.DataFrame]] = {}
        self.gx_failing: dict[str, set[tuple[int, int]]] = {}
        self.batch_names: dict[int, str] = {}
        self.unit_samples: list[tuple[str, pl.DataFrame, set[tuple[int, int]]]] = []

    # -- entry point -----------------------------------------------------------------------
    def run(self, reprocess_rejected: bool = False) -> LoadReport:
        self.report.orphans_removed = len(self.archive.prepare())
        seen = {
            row["file_identity"]: row["status"]
            for row in self.archive.manifest().select("file_identity", "status").iter_rows(named=True)
        }
        # A file whose path, size and modification time are those it had when a load took it is
        # not read again (rsync's rule; at 100M rows reading and hashing every landed file took
        # longer than a night's new calls). `--reprocess-rejected` and `--rehash` read them all.
        known = {} if reprocess_rejected or self.rehash else self.archive.file_stats()
        stats: dict[str, list] = {}
        landed = list(discover(self.settings.raw_dir))
        progress = Progress("load", total=len(landed), unit="files", enabled=self.show_progress)
        for seq, raw in enumerate(landed, start=1):
            progress.update(1 if seq > 1 else 0, note=f"{self.report.rows_read:,} rows read")
            self.report.files_seen += 1
            if raw.status is not None:
                self._list_unread(raw, seq, seen)
                continue
            stamp = [raw.size, raw.mtime_ns]
            remembered = known.get(str(raw.path))
            if remembered and remembered[:2] == stamp and self._already(seen, remembered[2], False):
                stats[str(raw.path)] = remembered
                self.report.files_skipped += 1
                continue
            self._load_file(raw, seq, seen, stats, stamp, reprocess_rejected)
        progress.update(1 if landed else 0, note=f"{self.report.rows_read:,} rows read")
        if self.manifest:
            progress.phase(f"{self.report.rows_read:,} rows read, validating with Great Expectations")
            # Before the commit: a disagreement between the rules and Great Expectations stops
            # the load with nothing of it visible (the next load removes its files).
            for dataset, samples in self.gx_samples.items():
                sample = self.validator.merge(samples, self.gx_failing[dataset])
                self.validator.check_load(
                    dataset, sample, self.gx_failing[dataset], self.batch_names, f"{self.load_id}-{dataset}"
                )
            self.archive.commit(self.load_id, self.manifest)
            if self.gx_samples:
                progress.phase(f"{self.report.rows_read:,} rows read, writing Great Expectations' data docs")
                self.report.data_docs = self.validator.build_docs()
        progress.close()
        # After the commit: every identity remembered here is in the manifest now.
        self.archive.remember_file_stats(stats)
        return self.report

    @staticmethod
    def _already(seen: dict[str, str], digest: str, reprocess_rejected: bool) -> bool:
        status = seen.get(digest)
        return status is not None and not (reprocess_rejected and status == "rejected")

    def _list_unread(self, raw: LandedFile, seq: int, seen: dict[str, str]) -> None:
        """A link, special file or hidden name: recorded (once) with why it was not read."""
        identity = unread_identity(raw)
        if identity in seen:
            self.report.files_skipped += 1
            return
        seen[identity] = raw.status or "skipped"
        self._record(raw, seq, None, None, raw.size, "not_read", raw.status, raw.reason, identity=identity)

    def _load_file(
        self, raw: LandedFile, seq: int, seen: dict[str, str], stats: dict[str, list], stamp: list, reprocess: bool
    ) -> None:
        suffix = raw.path.suffix.lower()
        is_zip = raw.kind == "cdr" and suffix == ".zip"
        try:
            if is_zip:
                digest, size = hash_file(raw.path, self.bounds)
                data = b""
            else:
                read = read_landed_file(raw.path, self.bounds, lines=suffix in LINE_FORMATS)
                data, digest, size = read.data, read.sha256, read.size
        except FileRejected as exc:
            identity = sha256(f"unreadable\0{raw.tenant_id}\0{raw.relative}\0{stamp}".encode())
            stats[str(raw.path)] = [*stamp, identity]  # not read again while it stays the same
            if not self._already(seen, identity, reprocess):
                seen[identity] = "rejected"
                self._record(raw, seq, None, None, raw.size, "not_read", "rejected", str(exc), identity=identity)
            else:
                self.report.files_skipped += 1
            return
        identity = file_identity(raw, raw.path.name, digest)
        stats[str(raw.path)] = [*stamp, identity]
        if self._already(seen, identity, reprocess):
            self.report.files_skipped += 1
            return
        seen[identity] = "seen"
        failures = len(self.report.failed_files)
        if is_zip:
            self._load_zip(raw, seq, digest, size, seen, reprocess)
        else:
            self._load_unit(raw, seq, None, data, digest, size=size)
        if len(self.report.failed_files) > failures:
            del stats[str(raw.path)]  # read again by the next load

    # -- files -----------------------------------------------------------------------------
    def _load_zip(self, raw: LandedFile, seq: int, digest: str, size: int, seen: dict, reprocess: bool) -> None:
        """Each member of an admin-center zip is a unit of its own, inflated and loaded one at a
        time; the export's parameters.json travels with every member's manifest row."""
        try:
            parameters_text = zip_parameters(raw.path, self.bounds)
            members = zip_members(raw.path, self.bounds)
            first = next(members, None)
        except FileRejected as exc:
            self._record(raw, seq, None, digest, size, "admin_center_zip", "rejected", str(exc))
            return
        self._record(raw, seq, None, digest, size, "admin_center_zip", "expanded", None)
        expanded, failures = self.manifest[-1], len(self.report.failed_files)
        for member in itertools.chain([first] if first else [], members):
            if member.name.lower().endswith("parameters.json"):
                continue
            if member.data is None:
                self._record(
                    raw,
                    seq,
                    member.name,
                    None,
                    member.size,
                    "not_read",
                    "rejected",
                    member.reason,
                    identity=sha256(f"{digest}\0{member.name}".encode()),
                )
                continue
            identity = file_identity(raw, member.name, member.sha256)
            if self._already(seen, identity, reprocess):
                continue
            seen[identity] = "seen"
            if not member.name.lower().endswith(".csv"):
                self._record(
                    raw,
                    seq,
                    member.name,
                    member.sha256,
                    member.size,
                    "unsupported",
                    "rejected",
                    "zip member is not a CSV file",
                )
                continue
            self._load_unit(raw, seq, member.name, member.data, member.sha256, parameters_text, ".csv", member.size)
        if len(self.report.failed_files) > failures:
            # Not recorded as expanded: the next load opens the zip again and reads the members
            # that failed (those loaded are skipped by their own identity).
            self.manifest = [row for row in self.manifest if row is not expanded]

    def _load_unit(
        self,
        raw: LandedFile,
        seq: int,
        member: str | None,
        data: bytes,
        digest: str,
        parameters: str | None = None,
        suffix: str | None = None,
        size: int | None = None,
    ) -> None:
        suffix = suffix or raw.path.suffix.lower()
        size = len(data) if size is None else size
        chosen = _reader(raw.kind, suffix)
        file_format = chosen[0] if chosen else "unsupported"

        def reject(reason: str) -> None:
            self._record(raw, seq, member, digest, size, file_format, "rejected", reason)

        if raw.kind is None:
            reject("not under a cdr/, licenses/ or credits/ folder")
            return
        if chosen is None:
            reject(f"unsupported file type '{suffix or raw.path.name}' for {raw.kind}/")
            return
        read = chosen[1]
        try:
            batches = read(data, member or raw.path.name)
        except FileRejected as exc:
            reject(str(exc))
            return
        except Exception as exc:  # one unreadable file must never stop the others
            if _is_environment_fault(exc):
                self._fail(raw, member, f"could not be read: {one_line(exc)}")
            else:
                reject(f"could not be read: {one_line(exc)}")
            return
        counts = {"rows_read": 0, "rows_kept": 0, "rows_rejected": 0, "rows_duplicate": 0, "rows_conflicting": 0}
        context = {
            "tenant_id": raw.tenant_id,
            "source_path": raw.relative,
            "source_member": member,
            "file_sha256": digest,
            "file_seq": seq,
        }
        outputs: dict[str, list[pl.DataFrame]] = {name: [] for name in SCHEMAS}
        self.unit_samples = []
        # What processing a file changes in the loader; put back when it fails, so a later file
        # of the load is not compared with rows that were never archived.
        versions, touched = dict(self.versions), set(self.touched)
        try:
            for dataset, frame in batches:
                batch_counts = self._process(dataset, frame, context, f"{raw.relative}!{member or ''}", outputs)
                for key, value in batch_counts.items():
                    counts[key] += value
        except Exception as exc:  # the file was read: rows that fail a rule are quarantined, never raised
            self.versions, self.touched = versions, touched
            self._fail(raw, member, f"could not be validated: {one_line(exc)}")
            return
        # Written file by file, so memory follows the largest file, not the load. The files stay
        # invisible (and are deleted by the next load) until the manifest commits the load.
        written = []
        for dataset, frames in outputs.items():
            if frames:
                conformed = [conform(frame, SCHEMAS[dataset]) for frame in frames]
                written += self.archive.write(dataset, pl.concat(conformed, how="vertical"), self.load_id)
        for dataset, sample, failing in self.unit_samples:
            merged = [*self.gx_samples.get(dataset, []), sample]
            self.gx_failing.setdefault(dataset, set()).update(failing)
            if sum(f.height for f in merged) > 2 * self.validator.full_rows:
                merged = [self.validator.merge(merged, self.gx_failing[dataset])]
            self.gx_samples[dataset] = merged
        # Keep only the month partitions this file touched in memory (the others are re-read,
        # with this load's files, when a later file touches them).
        self.versions = {key: value for key, value in self.versions.items() if key in self.touched}
        self.touched = set()
        self._record(raw, seq, member, digest, size, file_format, "loaded", None, counts, parameters, files=written)

    def _fail(self, raw: LandedFile, member: str | None, reason: str) -> None:
        """The loader, not the file, failed (a fault of the code or the machine: out of memory, a
        full disk, an incompatible library). Nothing of the file is recorded, so the next load
        reads it again; the load goes on with the other files and its command exits non-zero."""
        self.report.failed_files.append((raw.relative + (f"!{member}" if member else ""), reason))

    def _record(
        self,
        raw,
        seq,
        member,
        digest,
        size,
        file_format,
        status,
        reason,
        counts=None,
        parameters=None,
        identity=None,
        files=None,
    ):
        counts = counts or {}
        self.manifest.append(
            {
                "load_id": self.load_id,
                "loaded_at": self.loaded_at,
                "file_seq": seq,
                "tenant_id": raw.tenant_id,
                "kind": raw.kind,
                "file_format": file_format,
                "source_path": raw.relative,
                "source_member": member,
                "file_sha256": digest,
                "file_identity": identity or file_identity(raw, member or raw.path.name, digest),
                "file_bytes": size,
                "status": status,
                "reason": reason,
                "rows_read": counts.get("rows_read", 0),
                "rows_kept": counts.get("rows_kept", 0),
                "rows_rejected": counts.get("rows_rejected", 0),
                "rows_duplicate": counts.get("rows_duplicate", 0),
                "rows_conflicting": counts.get("rows_conflicting", 0),
                "export_parameters": parameters,
                "archive_files": json.dumps(files) if files else None,
            }
        )
        if status == "rejected":
            self.report.units_rejected += 1
            self.report.rejected_files.append((raw.relative + (f"!{member}" if member else ""), reason))
        elif status == "skipped":
            self.report.units_unread += 1
            self.report.skipped_files.append((raw.relative, reason))
        elif status == "loaded":
            self.report.units_loaded += 1
        for key in ("rows_read", "rows_kept", "rows_rejected", "rows_duplicate", "rows_conflicting"):
            setattr(self.report, key, getattr(self.report, key) + counts.get(key, 0))

    # -- rows ------------------------------------------------------------------------------
    def _process(
        self, dataset: str, frame: pl.DataFrame, context: dict, batch_name: str, outputs: dict[str, list[pl.DataFrame]]
    ) -> dict[str, int]:
        rows_read = frame.height
        frame = frame.with_columns(
            *(pl.lit(v).alias(k) for k, v in context.items()),
            pl.lit(self.load_id).alias("load_id"),
            pl.lit(self.loaded_at).alias("loaded_at"),
            pl.col(LINE).alias("source_line"),
        )
        if dataset == "licence_users":
            frame = frame.with_columns(
                pl.coalesce(pl.col("user_id"), pl.col("user_principal_name").str.to_lowercase()).alias("user_key")
            )
        frame = self._with_row_hash(dataset, frame)
        # The original record is only kept for rows that end in quarantine.
        raw_records = frame.select(LINE, RAW)
        frame = frame.drop(RAW)

        # Rows repeated verbatim inside one file are one row.
        clean = pl.col(REASONS).list.len() == 0
        repeated = clean & ~pl.struct(*KEYS[dataset], "row_hash").is_first_distinct()
        duplicates = frame.filter(repeated).height
        frame = frame.filter(~repeated)

        frame = self._add_expectation_failures(dataset, frame, batch_name)
        rejected = frame.filter(pl.col(REASONS).list.len() > 0)
        kept = frame.filter(pl.col(REASONS).list.len() == 0)
        if not rejected.is_empty():
            outputs["quarantine"].append(self._quarantine(dataset, rejected.join(raw_records, on=LINE, how="left")))

        kept = self._with_month(dataset, kept)
        conflicting = 0
        if dataset == "calls" and not kept.is_empty():
            kept, same, changed = self._against_archive(kept)
            duplicates += same
            conflicting = changed.height
            outputs["conflicts"].append(changed)
        if dataset == "licence_users":
            outputs["licence_assignments"].append(
                kept.explode("sku_part_numbers")
                .filter(pl.col("sku_part_numbers").is_not_null())
                .rename({"sku_part_numbers": "sku_part_number"})
            )
            kept = kept.with_columns(pl.col("sku_part_numbers").list.join(";"))
        outputs[dataset].append(kept)
        counts = {
            "rows_read": rows_read,
            "rows_kept": kept.height,
            "rows_rejected": rejected.height,
            "rows_duplicate": duplicates,
            "rows_conflicting": conflicting,
        }
        return counts

    def _with_row_hash(self, dataset: str, frame: pl.DataFrame) -> pl.DataFrame:
        """md5 of the content columns (stable across engines and versions, unlike polars' hash).
        A column added in a later version (ADDED_CONTENT) counts only where it has a value, so a
        row without it hashes as it did before and a re-sent export is no new version."""
        added = [c for c in ADDED_CONTENT if c in frame.columns]
        content = [c for c in frame.columns if c not in METADATA and c not in added and frame.schema[c] != pl.List]
        lists = [c for c in frame.columns if c not in METADATA and frame.schema[c] == pl.List(pl.String)]
        view = frame.select(*content, *added, *(pl.col(c).list.join(";").alias(c) for c in lists))
        # concat_ws of non-null parts is the `a || chr(31) || b ...` the hashes were defined with.
        parts = (
            "concat_ws(chr(31), "
            + ", ".join(f'coalesce(cast("{c}" as varchar), chr(0))' for c in [*content, *lists])
            + ")"
            + "".join(f" || coalesce(chr(31) || cast(\"{c}\" as varchar), '')" for c in added)
        )
        # A projection of a scan keeps the scan's order (DuckDB's preserve_insertion_order).
        self.duck.register("batch_view", view.to_arrow())
        hashes = pl.from_arrow(
            self.duck.execute(f"select md5({parts}) as row_hash from batch_view").fetch_arrow_table()
        )
        self.duck.unregister("batch_view")
        return frame.with_columns(hashes.get_column("row_hash"))

    def _add_expectation_failures(self, dataset: str, frame: pl.DataFrame, batch_name: str) -> pl.DataFrame:
        if frame.is_empty():
            return frame
        failures = self.validator.failures(dataset, frame)
        batch = len(self.batch_names) + 1
        self.batch_names[batch] = batch_name
        failing = {(batch, line) for line in failures}
        self.unit_samples.append((dataset, self.validator.sample(dataset, frame, failing, batch), failing))
        if not failures:
            return frame
        parse_reasons = dict(frame.filter(pl.col(LINE).is_in(list(failures))).select(LINE, REASONS).iter_rows())
        extra = {
            line: [
                text
                for column, text in items
                # A value that failed to parse is null; "missing X" would only repeat that.
                if not (text.startswith("missing") and any(r.startswith(f"{column} '") for r in parse_reasons[line]))
            ]
            for line, items in failures.items()
        }
        extra_frame = pl.DataFrame(
            {LINE: list(extra), "_extra": list(extra.values())},
            schema={LINE: pl.Int64, "_extra": pl.List(pl.String)},
        )
        return (
            frame.join(extra_frame, on=LINE, how="left")
            .with_columns(
                pl.concat_list(REASONS, pl.col("_extra").fill_null(pl.lit([], dtype=pl.List(pl.String))))
                .list.unique(maintain_order=True)
                .alias(REASONS)
            )
            .drop("_extra")
        )

    def _quarantine(self, dataset: str, rejected: pl.DataFrame) -> pl.DataFrame:
        """Rejected rows with their reasons and raw record, cut to its bound, and the record's
        template for the public rejections mart (`pstn.ingest.redact`)."""
        key = [c for c in KEYS[dataset] if c in rejected.columns]
        record_key = pl.concat_str([pl.col(c).cast(pl.String) for c in key], separator="|", ignore_nulls=True)
        raw = pl.col(RAW).struct.json_encode() if rejected.schema[RAW] == pl.Struct else pl.col(RAW)
        frame = rejected.with_columns(raw.alias("_raw_json"))
        if "display_name" in frame.columns and "user_display_name" not in frame.columns:
            frame = frame.with_columns(pl.col("display_name").alias("user_display_name"))
        personal = [c for c in redact.PERSONAL if c in frame.columns]
        masked = [
            redact.masked_record(row["_raw_json"], {c: row[c] for c in personal})
            for row in frame.select("_raw_json", *personal).iter_rows(named=True)
        ]
        return frame.with_columns(
            pl.lit(dataset).alias("dataset"),
            record_key.map_elements(redact.cut, return_dtype=pl.String).alias("record_key"),
            pl.col(REASONS).list.join("; ").alias("reasons"),
            pl.col("_raw_json").map_elements(redact.cut, return_dtype=pl.String).alias("raw_record"),
            pl.Series("raw_record_masked", masked, dtype=pl.String),
            *(
                pl.col(c)
                .cast(pl.String)
                .map_elements(lambda v: redact.cut(v, redact.PERSONAL_VALUE_CHARS), return_dtype=pl.String)
                for c in personal
            ),
            pl.lit(self.loaded_at.strftime("%Y-%m")).alias("month"),
        ).drop("_raw_json")

    def _with_month(self, dataset: str, frame: pl.DataFrame) -> pl.DataFrame:
        column = MONTH_OF.get(dataset)
        month = pl.col(column).dt.strftime("%Y-%m") if column else pl.lit("all")
        return frame.with_columns(month.alias("month"))

    def _against_archive(self, kept: pl.DataFrame) -> tuple[pl.DataFrame, int, pl.DataFrame]:
        """Drop rows identical to the current archived version; record changed versions."""
        tenant_id = kept.get_column("tenant_id")[0]
        months = kept.get_column("month").unique().to_list()
        known = pl.concat([self._versions(tenant_id, m) for m in months], how="vertical").unique(
            "usage_id", keep="last"
        )
        joined = kept.join(
            known.rename({"row_hash": "previous_row_hash", "load_id": "previous_load_id"}), on="usage_id", how="left"
        )
        same = joined.filter(pl.col("previous_row_hash") == pl.col("row_hash"))
        changed = joined.filter(
            pl.col("previous_row_hash").is_not_null() & (pl.col("previous_row_hash") != pl.col("row_hash"))
        )
        fresh = joined.filter(
            pl.col("previous_row_hash").is_null() | (pl.col("previous_row_hash") != pl.col("row_hash"))
        ).drop("previous_row_hash", "previous_load_id")
        # A fresh row's UsageId is new to its month unless it is a changed version: only those
        # replace an entry, the rest are appended (no de-duplication of millions of new keys).
        replaced = changed.get_column("usage_id").implode()
        for month, part in fresh.group_by("month"):
            key = (tenant_id, month[0])
            previous = self._versions(*key)
            if not changed.is_empty():
                previous = previous.filter(~pl.col("usage_id").is_in(replaced))
            self.versions[key] = pl.concat([previous, part.select("usage_id", "row_hash", "load_id")], how="vertical")
        return fresh, same.height, changed

    def _versions(self, tenant_id: str, month: str) -> pl.DataFrame:
        key = (tenant_id, month)
        self.touched.add(key)
        if key not in self.versions:
            self.versions[key] = self.archive.call_versions(tenant_id, [month])
        return self.versions[key]


def _is_environment_fault(exc: BaseException) -> bool:
    """An error of the machine rather than of the file's content, while reading it."""
    return isinstance(exc, MemoryError | OSError | duckdb.OutOfMemoryException | duckdb.IOException)


def load(
    settings: Settings, reprocess_rejected: bool = False, rehash: bool = False, progress: bool = False
) -> LoadReport:
    return Loader(settings, rehash=rehash, progress=progress).run(reprocess_rejected=reprocess_rejected)
