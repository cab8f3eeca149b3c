"""The landing folder is read, never obeyed: a hostile corpus made at test time, loaded beside
good files. Every good row is kept, every bad file or row is named with its reason, nothing is
read through a link or written outside the archive, and the loader's memory stays bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl
from conftest import ADMIN_HEADER, ROOT, admin_csv, admin_row

import pytest
from pstn.ingest.bounds import Bounds

GIB = 1 << 30
SECRET = "+49301234567 root:x:0:0:secret-canary"


def good_rows(prefix: str, count: int = 3) -> list[str]:
    return [admin_row(f"{prefix}-{i}", start=f"2024-01-1{i}T10:00:00Z") for i in range(count)]


def write_bomb(path: Path, inflated: int = GIB + (8 << 20)) -> None:
    """A zip of a few MB whose CSV member inflates to `inflated` bytes."""
    line = (admin_row("bomb-row").ljust(4000) + "\n").encode()
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive,
        archive.open("PSTN.calls.2024-01.csv", "w", force_zip64=True) as member,
    ):
        member.write((ADMIN_HEADER + "\n").encode())
        block = line * 256
        for _ in range(inflated // len(block) + 1):
            member.write(block)


def make_corpus(raw: Path, outside: Path) -> dict[str, list[str]]:
    """Write the corpus; returns the UsageIds that must be kept, by file."""
    cdr = raw / "cdr"
    cdr.mkdir(parents=True)
    keep: dict[str, list[str]] = {}

    def good(name: str, prefix: str, *extra: str) -> None:
        rows = good_rows(prefix)
        (cdr / name).write_text(admin_csv(*rows[:2], *extra, rows[2]))
        keep[name] = [f"{prefix}-{i}" for i in range(3)]

    good("good.csv", "good")
    # A 50 MB line between good rows: the line is quarantined with its length, the rows kept.
    good("long-line.csv", "line", "X" * (50 << 20))
    # A 50 MB quoted field whose lines are short: the row is quarantined for the field bound.
    field = "\n".join("F" * 99 for _ in range((50 << 20) // 100))
    good("big-field.csv", "field", admin_row("field-big", **{"User Display Name": f'"{field}"'}))
    # A NUL byte after the first 64 KiB and an escape code: those two rows are quarantined.
    padding = [admin_row(f"pad-{i}", start="2024-01-20T10:00:00Z") for i in range(400)]
    control_rows = [
        *padding,
        admin_row("nul-row", **{"User Display Name": "Ada\x00Lovelace"}),
        admin_row("esc-row", **{"Conference ID": "1234\x1b[31m5678"}),
    ]
    (cdr / "control.csv").write_text(admin_csv(*control_rows))
    keep["control.csv"] = [f"pad-{i}" for i in range(400)]
    # Formula cells are data: kept here, neutralised where a spreadsheet opens them.
    formula = admin_row("formula-row", **{"User Display Name": '"=HYPERLINK(""http://x.example"",""x"")"'})
    (cdr / "formula.csv").write_text(admin_csv(formula))
    keep["formula.csv"] = ["formula-row"]
    # Header of 10^5 columns.
    (cdr / "wide.csv").write_text(",".join(f"c{i}" for i in range(100_000)) + "\n" + "1," * 10 + "\n")
    # Zip bomb, zip slip, absolute member names and a nested zip (with one good member beside).
    write_bomb(cdr / "bomb.zip")
    with zipfile.ZipFile(cdr / "slip.zip", "w") as archive:
        archive.writestr("../../escaped.csv", admin_csv(admin_row("slip-row")))
        archive.writestr("/etc/absolute.csv", admin_csv(admin_row("abs-row")))
        archive.writestr("PSTN.calls.ok.csv", admin_csv(admin_row("zip-good")))
        inner = raw.parent / "inner.zip"
        with zipfile.ZipFile(inner, "w") as nested:
            nested.writestr("PSTN.calls.csv", admin_csv(admin_row("nested-row")))
        archive.write(inner, "nested.zip")
    keep["slip.zip"] = ["zip-good"]
    # Links inside and outside the folder, a linked folder, a FIFO, a dot-named tenant folder.
    outside.mkdir()
    (outside / "secret.csv").write_text(admin_csv(admin_row("outside-row", **{"Destination Number": SECRET})))
    (outside / "secret.jsonl").write_text(json.dumps({"secret": SECRET}) + "\n")
    os.symlink(outside / "secret.csv", cdr / "outside-link.csv")
    os.symlink(outside / "secret.jsonl", cdr / "passwd.jsonl")
    os.symlink(cdr / "good.csv", cdr / "inside-link.csv")
    os.symlink(outside, cdr / "linked-tenant")
    os.mkfifo(cdr / "pipe.csv")
    (cdr / "..evil").mkdir()
    (cdr / "..evil" / "calls.csv").write_text(admin_csv(*good_rows("evil")))
    return keep


def run_load(raw: Path, warehouse: Path) -> tuple[subprocess.CompletedProcess, int]:
    """`pstn load` in a child process; returns it and the child's peak resident memory in bytes."""
    script = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(done.returncode)\n"
    )
    env = dict(os.environ, PSTN_RAW_DIR=str(raw), PSTN_WAREHOUSE=str(warehouse))
    env.pop("PSTN_ARCHIVE_DIR", None)
    result = subprocess.run(
        [sys.executable, "-c", script, sys.executable, "-m", "pstn", "load"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    peak_kib = int(result.stderr.strip().splitlines()[-1])
    return result, peak_kib * 1024


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    raw = root / "raw"
    keep = make_corpus(raw, root / "outside")
    before = files_under(root) - {"wh"}
    result, peak = run_load(raw, root / "wh" / "warehouse.duckdb")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    archive = root / "wh" / "archive"
    manifest = pl.read_parquet(archive / "_manifest" / "*.parquet")
    quarantine = pl.read_parquet(archive / "quarantine" / "**" / "*.parquet")
    calls = pl.read_parquet(archive / "calls" / "**" / "*.parquet")
    return root, keep, result, peak, manifest, quarantine, calls, before


def refusal(manifest: pl.DataFrame, path: str, member: str | None = None) -> tuple[str, str]:
    rows = manifest.filter(pl.col("source_path") == path)
    if member is not None:
        rows = rows.filter(pl.col("source_member") == member)
    rows = rows.filter(pl.col("status").is_in(["rejected", "skipped"]))
    assert rows.height == 1, (path, member, manifest.select("source_path", "source_member", "status", "reason"))
    return rows.get_column("status")[0], rows.get_column("reason")[0]


def test_every_good_row_is_kept(hostile):
    _, keep, _, _, _, _, calls, _ = hostile
    kept = set(calls.get_column("usage_id").to_list())
    assert kept == {usage_id for ids in keep.values() for usage_id in ids}


@pytest.mark.parametrize(
    ("path", "member", "status", "words"),
    [
        ("cdr/wide.csv", None, "rejected", "header of 100,000 columns is over the bound of 1,000"),
        ("cdr/bomb.zip", "PSTN.calls.2024-01.csv", "rejected", "inflates more than 200 times"),
        ("cdr/slip.zip", "../../escaped.csv", "rejected", "path traversal"),
        ("cdr/slip.zip", "/etc/absolute.csv", "rejected", "absolute path"),
        ("cdr/slip.zip", "nested.zip", "rejected", "not a CSV file"),
        ("cdr/outside-link.csv", None, "rejected", "symbolic link: not followed"),
        ("cdr/passwd.jsonl", None, "rejected", "symbolic link: not followed"),
        ("cdr/inside-link.csv", None, "rejected", "symbolic link: not followed"),
        ("cdr/linked-tenant", None, "rejected", "symbolic link: not followed"),
        ("cdr/pipe.csv", None, "rejected", "a FIFO"),
        ("cdr/..evil/", None, "skipped", "hidden folder (name starts with '.'): its 1 file(s)"),
    ],
)
def test_each_refused_file_is_named_with_its_reason(hostile, path, member, status, words):
    _, _, result, _, manifest, _, _, _ = hostile
    found_status, reason = refusal(manifest, path, member)
    assert found_status == status and words in reason
    assert path in result.stdout  # the load summary names it too


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("cdr/long-line.csv", "line of 52,428,8"),
        ("cdr/big-field.csv", "field 'User Display Name' of"),
        ("cdr/control.csv", "field 'User Display Name' holds a control character"),
        ("cdr/control.csv", "field 'Conference ID' holds a control character"),
    ],
)
def test_rows_over_a_bound_or_with_control_characters_are_quarantined(hostile, path, words):
    _, _, _, _, _, quarantine, _, _ = hostile
    reasons = quarantine.filter(pl.col("source_path") == path).get_column("reasons").to_list()
    assert any(words.replace(",", "") in r.replace(",", "") for r in reasons), reasons
    # What the quarantine keeps of a row is bounded, however large the row was.
    assert quarantine.get_column("raw_record").str.len_chars().max() < 4200


def test_nothing_is_read_through_a_link_or_written_outside(hostile):
    root, _, _, _, _, _, calls, before = hostile
    archive_text = "".join(path.read_bytes().decode("latin-1") for path in (root / "wh").rglob("*") if path.is_file())
    assert "secret-canary" not in archive_text and "outside-row" not in archive_text
    assert files_under(root) - {"wh"} - {f for f in files_under(root) if f.startswith("wh/")} == before
    assert not (root.parent / "escaped.csv").exists() and not Path("/etc/absolute.csv").exists()
    assert "outside-row" not in calls.get_column("usage_id").to_list()


def test_a_second_load_lists_nothing_again(hostile, tmp_path):
    """What was refused or skipped is listed once, not every night."""
    root, _, _, _, manifest, _, _, _ = hostile
    result, _ = run_load(root / "raw", root / "wh" / "warehouse.duckdb")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "0 loaded, 0 rejected, 0 skipped as not data" in result.stdout
    again = pl.read_parquet(root / "wh" / "archive" / "_manifest" / "*.parquet")
    assert again.height == manifest.height


def test_memory_stays_bounded_on_every_hostile_input(hostile, tmp_path):
    """Each heavy input alone, against a clean file of the same rows: within 1.5x, under 2 GB."""
    root, *_ = hostile
    clean = tmp_path / "clean" / "raw" / "cdr"
    clean.mkdir(parents=True)
    (clean / "good.csv").write_text(admin_csv(*good_rows("clean", 4)))
    _, baseline = run_load(clean.parent, tmp_path / "clean" / "wh" / "w.duckdb")
    peaks = {}
    for name in ("bomb.zip", "long-line.csv", "big-field.csv", "wide.csv"):
        folder = tmp_path / name / "raw" / "cdr"
        folder.mkdir(parents=True)
        os.link(root / "raw" / "cdr" / name, folder / name)
        result, peaks[name] = run_load(folder.parent, tmp_path / name / "wh" / "w.duckdb")
        assert result.returncode == 0, result.stderr[-2000:]
    assert all(peak <= 1.5 * baseline and peak < 2 * GIB for peak in peaks.values()), (baseline, peaks)


def test_bounds_have_defaults_and_overrides():
    assert Bounds.from_env({}).max_line_bytes == 1 << 20
    assert Bounds.from_env({"PSTN_MAX_LINE_BYTES": "2_000_000"}).max_line_bytes == 2_000_000
    with pytest.raises(ValueError, match="PSTN_MAX_ZIP_RATIO must be a whole number"):
        Bounds.from_env({"PSTN_MAX_ZIP_RATIO": "lots"})


def test_a_raised_bound_lets_a_wide_export_in(landing, monkeypatch):
    monkeypatch.setenv("PSTN_MAX_HEADER_COLUMNS", "200000")
    landing.write("cdr/wide.csv", ADMIN_HEADER + "," + ",".join(f"x{i}" for i in range(2000)) + "\n")
    report = landing.load()
    assert "cdr/wide.csv" not in landing.rejected_files(), report.summary()


def test_a_json_document_over_its_bound_is_refused_as_it_streams(landing, monkeypatch):
    """A .json document is parsed whole, so it has a bound of its own (PSTN_MAX_JSON_BYTES), met
    while the file streams in: the loader never holds more of it than the bound."""
    from pstn.ingest import landing as landing_module

    monkeypatch.setenv("PSTN_MAX_JSON_BYTES", "100000")
    held = []
    original = landing_module.read_bounded

    def measuring(stream, bounds, lines, **options):
        try:
            return original(stream, bounds, lines, **options)
        finally:
            held.append(stream.tell())

    monkeypatch.setattr(landing_module, "read_bounded", measuring)
    rows = [{"id": f"j-{i}", "callType": "conf_out", "padding": "x" * 1000} for i in range(1000)]
    landing.write("cdr/page.json", json.dumps({"value": rows}))
    landing.write("cdr/good.csv", admin_csv(*good_rows("good")))
    landing.load()
    reason = landing.rejected_files()["cdr/page.json"]
    assert "JSON document more than 100,000 bytes" in reason and "PSTN_MAX_JSON_BYTES" in reason
    assert max(held) <= 100_000 + (1 << 20)  # stopped within one read step of the bound
    assert set(landing.calls().get_column("usage_id").to_list()) == {"good-0", "good-1", "good-2"}
