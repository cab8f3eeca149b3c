"""Nothing is lost: every bad row is quarantined with file, line and reason; every unreadable file
is recorded with its reason and never stops the good files."""

from __future__ import annotations

import polars as pl
from conftest import ADMIN_HEADER, admin_csv, admin_row, zip_bytes

import pytest
from pstn.ingest import loader as loader_module

ROW_CASES = {
    "bad timestamp": (admin_row("r1", **{"Start Time": "yesterday"}), "start_at 'yesterday' is not an ISO 8601"),
    "end before start": (
        admin_row("r2", **{"Start Time": "2024-01-10T10:00:00Z", "End Time": "2024-01-10T09:00:00Z"}),
        "end before start",
    ),
    "negative duration": (admin_row("r3", **{"Duration Seconds": "-1"}), "negative duration"),
    "fractional duration": (admin_row("r4", **{"Duration Seconds": "12.5"}), "is not a whole number of seconds"),
    "missing key": (admin_row(""), "missing UsageId"),
    "missing end": (admin_row("r5", **{"End Time": ""}), "missing End Time"),
    "unknown call type": (admin_row("r6", **{"Call Type": "conf_sideways"}), "unknown call type (conf_sideways)"),
    "unknown capability": (admin_row("r7", Capability="MCOFAKE"), "unknown capability (MCOFAKE)"),
    "unknown currency": (admin_row("r8", Currency="XYZ"), "unknown currency"),
    "unknown country": (admin_row("r9", **{"User Location": "QQ"}), "unknown country code (QQ)"),
    "bad money": (admin_row("r10", Charge='"1,5"'), "charge '1,5' is not a decimal amount"),
}


@pytest.mark.parametrize("case", sorted(ROW_CASES))
def test_each_row_rejection_reason(landing, case):
    row, expected = ROW_CASES[case]
    landing.write("cdr/one.csv", admin_csv(admin_row("good"), row))
    report = landing.load()
    assert (report.rows_kept, report.rows_rejected) == (1, 1)
    quarantined = landing.quarantine().row(0, named=True)
    assert expected in quarantined["reasons"]
    assert (quarantined["source_path"], quarantined["source_line"]) == ("cdr/one.csv", 3)
    assert quarantined["raw_record"].startswith("{")


def test_all_reasons_of_a_row_are_kept(landing):
    landing.write("cdr/one.csv", admin_csv(admin_row("r", Currency="XYZ", Capability="NOPE", **{"Call Type": "x"})))
    landing.load()
    reasons = landing.reasons()[0]
    assert "unknown currency" in reasons and "unknown capability" in reasons and "unknown call type" in reasons


def test_conflicting_duplicate_usage_id_in_one_file(landing):
    landing.write("cdr/dup.csv", admin_csv(admin_row("d1"), admin_row("d1", Charge="9.99"), admin_row("ok")))
    report = landing.load()
    assert (report.rows_kept, report.rows_rejected) == (1, 2)
    assert all("UsageId repeated in the same file" in r for r in landing.reasons())


def test_verbatim_repeat_in_one_file_is_one_row(landing):
    landing.write("cdr/rep.csv", admin_csv(admin_row("d1"), admin_row("d1")))
    report = landing.load()
    assert (report.rows_kept, report.rows_duplicate, report.rows_rejected) == (1, 1, 0)


def test_ragged_csv_row(landing):
    landing.write("cdr/ragged.csv", admin_csv(admin_row("ok"), admin_row("bad") + ",extra,fields", admin_row("ok2")))
    report = landing.load()
    assert (report.rows_kept, report.rows_rejected) == (2, 1)
    assert "wrong number of fields" in landing.reasons()[0]


JUNK = {
    "cdr/empty.csv": (b"", "empty file"),
    "cdr/Calls.Export.truncated.zip": (zip_bytes({"a.csv": admin_csv(admin_row("z"))})[:40], "not a readable zip"),
    "cdr/binary.csv": (bytes(range(256)) * 4, "binary content"),
    "cdr/utf16.csv": (admin_csv(admin_row("u16")).encode("utf-16"), "UTF-16"),
    "cdr/latin1.csv": (admin_csv(admin_row("l1", **{"User Display Name": "Zoë"})).encode("latin-1"), "not UTF-8"),
    "cdr/no_start.csv": (
        admin_csv(header=ADMIN_HEADER.replace("Start Time,", "")).encode(),
        "missing required column 'Start Time'",
    ),
    "cdr/broken.json": (b'{"value": [ {"id": "x"', "invalid JSON"),
    "cdr/notes.txt": (b"hello", "unsupported file type '.txt'"),
    "stray.csv": (b"a,b\n1,2\n", "not under a cdr/, licenses/ or credits/ folder"),
}


def good_files(landing) -> None:
    landing.write("cdr/good1.csv", admin_csv(*(admin_row(f"g{i}") for i in range(5))))
    landing.write("licenses/licences_2024-01-01.csv", "user_id,sku_part_numbers\nuser-1,SPE_E5\n")


def content(frame: pl.DataFrame) -> list[tuple]:
    drop = ["load_id", "loaded_at", "file_seq"]
    return sorted(frame.drop(drop).rows())


def test_junk_never_stops_good_files(landing, tmp_path, validator):
    from conftest import Landing

    clean = Landing(tmp_path / "clean", validator)
    good_files(clean)
    clean.load()

    good_files(landing)
    for name, (payload, _) in JUNK.items():
        landing.write(name, payload)
    report = landing.load()
    rejected = landing.rejected_files()
    for name, (_, reason) in JUNK.items():
        assert reason in rejected[name], (name, rejected.get(name))
    assert report.units_rejected == len(JUNK)
    assert content(landing.calls()) == content(clean.calls())
    assert content(landing.archive.read("licence_users")) == content(clean.archive.read("licence_users"))


def test_unexpected_reader_error_rejects_only_that_file(landing, monkeypatch):
    good_files(landing)
    landing.write("credits/fundings.csv", "funded_at,amount,currency\n2024-01-01,5,USD\n")

    def explode(data: bytes):
        raise RuntimeError("boom")

    monkeypatch.setattr(loader_module.credits, "read_csv", explode)
    report = landing.load()
    assert "RuntimeError: boom" in landing.rejected_files()["credits/fundings.csv"]
    assert report.rows_kept == 6


def test_rejected_files_are_retried_on_request(landing):
    landing.write("cdr/no_start.csv", admin_csv(header="UsageId,Call Type"))
    landing.load()
    assert landing.load().files_skipped == 1
    assert landing.load(reprocess_rejected=True).units_rejected == 1


def test_large_batches_quarantine_the_same_rows_for_the_same_reasons(tmp_path, validator):
    """Above PSTN_GX_FULL_ROWS rows the rules run in polars on every row and GX on a sample: the
    quarantine must be the one a full GX validation gives (here with a threshold of 8 rows)."""
    from conftest import Landing

    from pstn.ingest.quality import Validator

    rows = [admin_row(f"ok{i}", start=f"2024-01-{10 + i % 9:02d}T10:00:00Z") for i in range(30)]
    rows += [ROW_CASES[case][0] for case in sorted(ROW_CASES)]
    rows += [admin_row("twice", seconds=60), admin_row("twice", seconds=61)]
    content = admin_csv(*rows)

    quarantines = []
    for name, checker in (("full", validator), ("sampled", Validator(tmp_path / "gx-small", full_rows=8))):
        landing = Landing(tmp_path / name, checker)
        landing.write("cdr/big.csv", content)
        report = landing.load()
        assert report.rows_kept == 30
        quarantines.append(landing.quarantine().select("source_line", "reasons").sort("source_line").rows())
    full, sampled = quarantines
    assert len(full) == len(ROW_CASES) + 2
    assert sampled == full


def test_a_row_great_expectations_rejects_but_the_rules_keep_stops_the_load(tmp_path, validator, monkeypatch):
    """The rules (polars, every row) and the Great Expectations suite are built from one list and
    must agree; if GX flags a row the rules kept, the load stops before its commit, naming the
    file, line and expectation, and nothing of it becomes visible."""
    from conftest import Landing

    from pstn.ingest.quality import ValidationDisagreement

    landing = Landing(tmp_path, validator)
    landing.write("cdr/calls.csv", admin_csv(admin_row("ok1"), ROW_CASES["unknown capability"][0]))
    monkeypatch.setattr(type(validator), "failures", lambda self, dataset, frame: {})
    with pytest.raises(ValidationDisagreement, match=r"cdr/calls.csv!? line 3: unknown capability"):
        landing.load()
    assert landing.manifest().is_empty()
    monkeypatch.undo()
    report = landing.load()
    assert (report.rows_kept, report.rows_rejected) == (1, 1)


# -- the loader's own failures ------------------------------------------------------------------
# A fault of the code or the machine (out of memory, a full disk, an incompatible library) is not
# the file's: the file is not recorded as rejected, so the next load reads it again, and the load
# says so and exits non-zero.


def fail_on(monkeypatch, path: str, error: Exception) -> None:
    """Make the loader fail on `path` after it compared the file's calls with the archive."""
    original = loader_module.Loader._against_archive

    def flaky(self, kept):
        result = original(self, kept)
        if kept.get_column("source_path")[0] == path:
            raise error
        return result

    monkeypatch.setattr(loader_module.Loader, "_against_archive", flaky)


def test_a_file_the_loader_fails_on_is_read_again_by_the_next_load(landing, monkeypatch):
    import os

    rows = [admin_row(f"f{i}") for i in range(4)]
    first = landing.write("cdr/first.csv", admin_csv(*rows))
    # The same calls in another file, read after the first (oldest first): they must be archived,
    # not taken for repeats of rows the failed file never archived.
    second = landing.write("cdr/second.csv", admin_csv(*reversed(rows)))
    os.utime(first, (1_700_000_000, 1_700_000_000))
    os.utime(second, (1_700_000_100, 1_700_000_100))
    fail_on(monkeypatch, "cdr/first.csv", MemoryError())

    report = landing.load()
    assert report.failed_files == [("cdr/first.csv", "could not be validated: MemoryError: ")]
    assert "NOT LOADED cdr/first.csv" in report.summary()
    assert (report.units_loaded, report.units_rejected, report.rows_kept, report.rows_duplicate) == (1, 0, 4, 0)
    assert "cdr/first.csv" not in landing.manifest().get_column("source_path").to_list()

    monkeypatch.undo()
    again = landing.load()
    assert (again.failed_files, again.units_loaded, again.rows_duplicate, again.files_skipped) == ([], 1, 4, 1)
    assert sorted(landing.manifest().get_column("source_path").to_list()) == ["cdr/first.csv", "cdr/second.csv"]
    assert landing.calls().height == 4


def test_a_zip_member_the_loader_fails_on_is_read_again_with_its_zip(landing, monkeypatch):
    members = {"a.csv": admin_csv(admin_row("za")), "b.csv": admin_csv(admin_row("zb"))}
    landing.write("cdr/Calls.Export.zip", zip_bytes(members))
    original = loader_module.Loader._process

    def flaky(self, dataset, frame, context, batch_name, outputs):
        if context["source_member"] == "b.csv":
            raise duckdb_error()
        return original(self, dataset, frame, context, batch_name, outputs)

    monkeypatch.setattr(loader_module.Loader, "_process", flaky)
    report = landing.load()
    assert [path for path, _ in report.failed_files] == ["cdr/Calls.Export.zip!b.csv"]
    assert "IOException" in report.failed_files[0][1]
    assert landing.calls().get_column("usage_id").to_list() == ["za"]

    monkeypatch.undo()
    again = landing.load()
    assert (again.failed_files, again.units_loaded, again.rows_kept) == ([], 1, 1)
    assert sorted(landing.calls().get_column("usage_id").to_list()) == ["za", "zb"]
    assert landing.load().files_skipped == 1  # the zip is now wholly recorded


def duckdb_error() -> Exception:
    import duckdb

    return duckdb.IOException("could not write to the temporary folder")


def test_a_machine_fault_while_reading_is_not_a_rejection(landing, monkeypatch):
    good_files(landing)
    landing.write("credits/fundings.csv", "funded_at,amount,currency\n2024-01-01,5,USD\n")

    def out_of_memory(data: bytes):
        raise MemoryError

    monkeypatch.setattr(loader_module.credits, "read_csv", out_of_memory)
    report = landing.load()
    assert report.failed_files == [("credits/fundings.csv", "could not be read: MemoryError: ")]
    assert report.rows_kept == 6 and landing.rejected_files() == {}


def test_the_load_command_and_the_nightly_fail_when_the_loader_failed(landing, monkeypatch, capsys):
    from pstn import cli
    from pstn.ops import nightly

    good_files(landing)
    fail_on(monkeypatch, "cdr/good1.csv", OSError(28, "No space left on device"))
    settings = landing.settings
    status = cli.main(["--raw-dir", str(settings.raw_dir), "--warehouse", str(settings.warehouse), "load"])
    captured = capsys.readouterr()
    assert status == 1
    assert (
        "pstn load: cdr/good1.csv was not loaded: could not be validated: OSError: [Errno 28] No space left on"
        " device; the next load reads it again"
    ) in captured.err
    assert "Traceback" not in captured.err + captured.out

    run = nightly.Nightly(settings)
    with pytest.raises(nightly.NightlyError, match=r"the load failed on cdr/good1\.csv: could not be validated"):
        run._load()
