"""The archive is append-only, idempotent, deduplicated and survives raw files being removed."""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
from conftest import ADMIN_HEADER, admin_csv, admin_row

from pstn.ingest import landing as landing_module
from pstn.ingest.archive import SCHEMAS


def days(first: int, last: int) -> list[str]:
    return [admin_row(f"u{d:02d}", start=f"2024-01-{d:02d}T10:00:00Z") for d in range(first, last + 1)]


def test_loading_twice_changes_nothing(landing):
    landing.write("cdr/jan.csv", admin_csv(*days(1, 10)))
    landing.write("licenses/licences_2024-01-01.csv", "user_id,sku_part_numbers\nuser-1,SPE_E5\n")
    first = landing.load()
    before = landing.archive.checksum()
    second = landing.load()
    assert first.units_loaded == 2
    assert (second.files_skipped, second.units_loaded, second.rows_read) == (2, 0, 0)
    assert landing.archive.checksum() == before
    assert before["calls"][0] == 10


def read_files(landing, monkeypatch, **options) -> tuple[list[str], object]:
    """One load; returns the landed files it read (opened) and its report."""
    opened: list[str] = []
    original = landing_module.open_regular

    def counting(path: Path):
        opened.append(path.name)
        return original(path)

    monkeypatch.setattr(landing_module, "open_regular", counting)
    report = landing.load(**options)
    monkeypatch.setattr(landing_module, "open_regular", original)
    return sorted(opened), report


def test_a_file_a_load_took_is_not_read_again_unless_it_changed(landing, monkeypatch):
    """The loader reads only new files: a landed file whose size and modification time are those
    a committed load recorded is skipped unread; one rewritten (another size or time) is read,
    and its new calls kept. `rehash` (pstn load --rehash) reads every file."""
    jan = landing.write("cdr/jan.csv", admin_csv(*days(1, 3)))
    feb = landing.write("cdr/feb.csv", admin_csv(*days(4, 6)))
    opened, first = read_files(landing, monkeypatch)
    assert opened == ["feb.csv", "jan.csv"] and first.units_loaded == 2
    opened, again = read_files(landing, monkeypatch)
    assert opened == [] and again.files_skipped == 2

    jan.write_text(admin_csv(*days(1, 3), admin_row("u99", start="2024-01-20T10:00:00Z")))
    landing.write("cdr/mar.csv", admin_csv(*days(7, 8)))
    opened, changed = read_files(landing, monkeypatch)
    assert opened == ["jan.csv", "mar.csv"]
    assert (changed.units_loaded, changed.files_skipped) == (2, 1)
    assert landing.calls().height == 3 + 3 + 1 + 2

    # The limit of the rule, stated: the same size and time with other bytes is not noticed...
    before = jan.stat()
    jan.write_bytes(jan.read_bytes().replace(b"u99", b"u98"))
    os.utime(jan, ns=(before.st_atime_ns, before.st_mtime_ns))
    opened, unnoticed = read_files(landing, monkeypatch)
    assert opened == [] and unnoticed.units_loaded == 0
    # ...until a load hashes every file.
    opened, rehashed = read_files(landing, monkeypatch, rehash=True)
    assert opened == ["feb.csv", "jan.csv", "mar.csv"] and rehashed.units_loaded == 1
    assert "u98" in landing.calls().get_column("usage_id").to_list()
    assert feb.exists()


def test_renamed_copy_of_an_export_is_skipped(landing):
    landing.write("cdr/jan.csv", admin_csv(*days(1, 3)))
    landing.load()
    landing.write("cdr/jan (1).csv", admin_csv(*days(1, 3)))
    assert landing.load().files_skipped == 2
    assert landing.calls().height == 3


def test_the_same_export_bytes_under_two_tenants_are_two_tenants_calls(landing):
    landing.write("cdr/contoso/jan.csv", admin_csv(*days(1, 3)))
    landing.write("cdr/fabrikam/jan.csv", admin_csv(*days(1, 3)))
    report = landing.load()
    assert (report.units_loaded, report.files_skipped) == (2, 0)
    per_tenant = dict(landing.calls().group_by("tenant_id").len().iter_rows())
    assert per_tenant == {"contoso": 3, "fabrikam": 3}


def test_overlapping_export_adds_only_new_rows(landing):
    landing.write("cdr/a.csv", admin_csv(*days(1, 10)))
    landing.load()
    landing.write("cdr/b.csv", admin_csv(*days(8, 15)))
    report = landing.load()
    assert (report.rows_read, report.rows_kept, report.rows_duplicate) == (8, 5, 3)
    assert landing.calls().get_column("usage_id").n_unique() == landing.calls().height == 15


def test_overlap_across_formats_with_the_same_content(landing):
    """The same rows from a loose CSV and from a zip with other header spellings are the same rows."""
    from conftest import zip_bytes

    landing.write("cdr/a.csv", admin_csv(*days(1, 5)))
    header = admin_csv(*days(4, 6)).replace("Duration Seconds", "Duration (seconds)")
    landing.write("cdr/Calls.Export.9.zip", zip_bytes({"PSTN.calls.2024-01-04.csv": header}))
    report = landing.load()
    assert report.rows_duplicate == 2
    assert landing.calls().height == 6


def test_changed_content_is_kept_as_a_conflict(landing):
    landing.write("cdr/a.csv", admin_csv(admin_row("c1", Charge="0.10"), admin_row("c2")))
    landing.load()
    landing.write("cdr/b.csv", admin_csv(admin_row("c1", Charge="0.35"), admin_row("c2")))
    report = landing.load()
    assert (report.rows_kept, report.rows_duplicate, report.rows_conflicting) == (1, 1, 1)
    conflicts = landing.archive.read("conflicts")
    assert conflicts.get_column("usage_id").to_list() == ["c1"]
    versions = landing.calls().filter(pl.col("usage_id") == "c1").sort("load_id")
    assert [str(v) for v in versions.get_column("charge")] == ["0.100000", "0.350000"]


def test_history_survives_removing_raw_files(landing):
    landing.write("cdr/jan.csv", admin_csv(*days(1, 10)))
    landing.load()
    before = landing.archive.checksum()
    (landing.settings.raw_dir / "cdr" / "jan.csv").unlink()
    report = landing.load()
    assert report.files_seen == 0
    assert landing.archive.checksum() == before


def test_interrupted_load_leaves_nothing_visible(landing):
    landing.write("cdr/jan.csv", admin_csv(*days(1, 3)))
    landing.load()
    committed = landing.archive.checksum()
    # What a crash between writing data and writing the manifest leaves behind:
    orphan = (
        landing.settings.archive_dir / "calls" / "tenant=default" / "month=2024-01" / "20990101T000000Z-dead00.parquet"
    )
    landing.calls().head(1).write_parquet(orphan)
    (orphan.parent / ".half-written.parquet.tmp").write_bytes(b"PAR")
    report = landing.load()
    assert report.orphans_removed == 2
    assert not orphan.exists()
    assert landing.archive.checksum() == committed


def test_every_dataset_has_a_schema_file_so_readers_never_see_an_empty_glob(landing):
    landing.load()
    for dataset in [*SCHEMAS, "_manifest"]:
        assert (landing.settings.archive_dir / dataset / "schema.parquet").exists()


def test_partitions_by_tenant_and_month(landing):
    landing.write(
        "cdr/acme/x.csv",
        admin_csv(admin_row("a", start="2024-01-31T23:00:00Z"), admin_row("b", start="2024-02-01T01:00:00Z")),
    )
    landing.load()
    folders = sorted(
        p.parent.relative_to(landing.settings.archive_dir / "calls").as_posix()
        for p in (landing.settings.archive_dir / "calls").rglob("2*.parquet")
    )
    assert folders == ["tenant=acme/month=2024-01", "tenant=acme/month=2024-02"]


def test_manifest_records_every_file(landing):
    landing.write("cdr/jan.csv", admin_csv(*days(1, 3), admin_row("bad", Currency="XYZ")))
    landing.load()
    row = landing.manifest().filter(pl.col("source_path") == "cdr/jan.csv").row(0, named=True)
    assert (row["rows_read"], row["rows_kept"], row["rows_rejected"], row["status"]) == (4, 3, 1, "loaded")
    assert len(row["file_sha256"]) == 64 and row["file_bytes"] > 0


def test_data_docs_are_published(landing):
    """Each load writes its own results' pages and the index; the pages of earlier loads are not
    written again (their number grows with every night kept)."""

    def pages(site: Path) -> dict[Path, int]:
        return {page: page.stat().st_mtime_ns for page in (site / "validations").rglob("*.html")}

    landing.write("cdr/jan.csv", admin_csv(*days(1, 3)))
    first = landing.load()
    index = Path(first.data_docs.removeprefix("file://"))
    assert "calls_boundary" in index.read_text(encoding="utf-8")
    before = pages(index.parent)
    landing.write("cdr/jan-late.csv", admin_csv(*days(4, 6)))
    second = landing.load()
    assert second.data_docs == first.data_docs
    after = pages(index.parent)
    new = set(after) - set(before)
    assert len(new) == 1 and "calls_boundary" in str(next(iter(new)))
    assert {page: after[page] for page in before} == before
    assert index.read_text(encoding="utf-8").count("calls_boundary") > 1


def test_quarantined_rows_of_the_same_bytes_under_two_tenants_have_two_ids(landing):
    """Found by the 100M-row benchmark (tenants replicated by hard links): a rejected row's id was
    made of the file's digest and line only, so the same bytes under two tenants collided."""
    import subprocess
    import sys

    import duckdb

    content = admin_csv(*days(1, 2), admin_row("bad", **{"Duration Seconds": "-5"}))
    landing.write("cdr/contoso/jan.csv", content)
    landing.write("cdr/fabrikam/jan.csv", content)
    assert landing.load().rows_rejected == 2
    dbt = Path(sys.executable).with_name("dbt")
    result = subprocess.run(
        [
            str(dbt),
            "build",
            "--select",
            "stg_archive__quarantined_rows",
            "--project-dir",
            str(landing.settings.project_dir),
        ],
        cwd=landing.settings.project_dir,
        env=landing.settings.dbt_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "PASS=" in result.stdout and "ERROR=0" in result.stdout
    with duckdb.connect(str(landing.settings.build_warehouse), read_only=True) as con:
        rows = con.execute(
            "select tenant_id, count(distinct quarantined_row_id) from staging.stg_archive__quarantined_rows group by 1"
        ).fetchall()
    assert sorted(rows) == [("contoso", 1), ("fabrikam", 1)]


def test_a_long_load_says_how_far_it_got(landing, monkeypatch, capsys):
    """Every few seconds (here: every step) a line on stderr in a log: files done of all, rows
    read, then the Great Expectations stage; on a terminal a bar instead."""
    from pstn import progress
    from pstn.ingest.loader import Loader

    monkeypatch.setattr(progress, "INTERVAL", 0.0)
    landing.write("cdr/jan.csv", admin_csv(*days(1, 3)))
    landing.write("cdr/feb.csv", admin_csv(*days(4, 6)))
    Loader(landing.settings, landing.validator, progress=True).run()
    lines = [line.rsplit(", ", 1)[0] for line in capsys.readouterr().err.splitlines()]  # without the seconds
    assert lines[0] == "load: 0 of 2 files (0 %), 0 rows read"
    assert "load: 1 of 2 files (50 %), 3 rows read" in lines
    assert "load: 2 of 2 files (100 %), 6 rows read, validating with Great Expectations" in lines
    assert lines[-1].startswith("load: 2 of 2 files (100 %), 6 rows read")


def test_progress_draws_a_bar_on_a_terminal_and_is_quiet_on_short_work():
    import io

    from pstn.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    with Progress("generate", total=10, unit="rows", stream=terminal) as bar:
        bar.update(10)
    assert "generate" in terminal.getvalue() and "10/10" in terminal.getvalue()
    log = io.StringIO()
    with Progress("generate", total=10, unit="rows", stream=log, interval=60) as quiet:
        quiet.update(10)
    assert log.getvalue() == ""


def test_an_archive_written_before_columns_were_added_still_loads(landing):
    """An archive from an earlier version (manifest entries and quarantine files without the
    columns added since) is read with those columns null, and the next load appends to it."""
    landing.write("cdr/jan.csv", admin_csv(*days(1, 3)) + "not,a,valid,row\n")
    landing.load()
    archive = landing.archive
    for dataset, dropped in (("_manifest", "archive_files"), ("quarantine", "raw_record_masked")):
        for path in archive.dataset_dir(dataset).rglob("*.parquet"):
            frame = pl.read_parquet(path)
            if dropped in frame.columns and path.name not in ("schema.parquet",):
                frame.drop(dropped).write_parquet(path)
    assert archive.manifest().get_column("archive_files").null_count() == archive.manifest().height
    assert archive.read("quarantine").get_column("raw_record_masked").null_count() >= 1
    landing.write("cdr/feb.csv", admin_csv(admin_row("u99", start="2024-02-01T10:00:00Z")))
    report = landing.load()
    assert report.units_loaded == 1 and report.rows_read == 1
    assert archive.manifest().height == 2


def test_administrative_units_are_kept_from_both_export_formats(landing):
    """The admin center's `Administrative Unit` column as it is (several joined by ';'); Graph's
    `administrativeUnitInfos` as the ids, joined the same way; absent or empty: null."""
    import json

    header = ADMIN_HEADER + ",Administrative Unit"
    rows = [admin_row("a1") + ",Sales", admin_row("a2") + ",Sales;North", admin_row("a3") + ","]
    landing.write("cdr/admin.csv", admin_csv(*rows, header=header))
    graph = {
        "value": [
            {
                "id": usage_id,
                "callType": "conf_out",
                "startDateTime": "2024-01-11T10:00:00Z",
                "endDateTime": "2024-01-11T10:05:00Z",
                "duration": 300,
                "administrativeUnitInfos": units,
            }
            for usage_id, units in (("g1", [{"id": "au-1"}, {"id": "au-2"}]), ("g2", []), ("g3", None))
        ]
    }
    landing.write("cdr/getPstnCalls.page000.json", json.dumps(graph))
    report = landing.load()
    assert report.rows_kept == 6, report
    units = dict(landing.calls().select("usage_id", "administrative_units").iter_rows())
    assert units == {"a1": "Sales", "a2": "Sales;North", "a3": None, "g1": "au-1;au-2", "g2": None, "g3": None}


def test_a_column_added_later_leaves_old_rows_hashes_as_they_were(landing, monkeypatch):
    """A row without administrative units hashes as it did before the column existed, so an export
    loaded again after an upgrade adds no new version; a row that names units is new content."""
    from pstn.ingest import cdr

    # The first load as the version before the column: the reader does not know it.
    with monkeypatch.context() as before_the_column:
        columns = tuple(c for c in cdr.ADMIN_CENTER_COLUMNS if c.name != "administrative_units")
        before_the_column.setattr(cdr, "ADMIN_CENTER_COLUMNS", columns)
        names = tuple(c for c in cdr.CALL_COLUMNS if c != "administrative_units")
        before_the_column.setattr(cdr, "CALL_COLUMNS", names)
        landing.write("cdr/jan.csv", admin_csv(*days(1, 2)))
        landing.load()
    before = dict(landing.calls().select("usage_id", "row_hash").iter_rows())
    header = ADMIN_HEADER + ",Administrative Unit"
    landing.write("cdr/jan-again.csv", admin_csv(days(1, 1)[0] + ",", days(2, 2)[0] + ",Sales", header=header))
    report = landing.load()
    assert report.rows_duplicate == 1 and report.rows_conflicting == 1, report
    versions = landing.calls().group_by("usage_id").len()
    assert dict(versions.iter_rows()) == {"u01": 1, "u02": 2}
    assert before["u01"] == dict(landing.calls().select("usage_id", "row_hash").iter_rows())["u01"]


def test_an_archive_schema_file_grows_with_the_schema(landing):
    """A schema file written by an earlier version (without a column added since) is rewritten, so
    readers see the new column before any load has written it."""
    landing.write("cdr/jan.csv", admin_csv(*days(1, 1)))
    landing.load()
    schema_file = landing.archive.dataset_dir("calls") / "schema.parquet"
    pl.DataFrame(schema={k: v for k, v in SCHEMAS["calls"].items() if k != "administrative_units"}).write_parquet(
        schema_file
    )
    landing.archive.prepare()
    assert "administrative_units" in pl.read_parquet_schema(schema_file)
