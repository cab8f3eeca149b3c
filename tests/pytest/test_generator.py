"""The sample generator is deterministic and writes every input format and scenario."""

from __future__ import annotations

import hashlib
import json

import polars as pl

from pstn_sample.generate import KR_SCRIPT, SampleSpec, generate


def digests(root) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path):
    generate(tmp_path / "a", SampleSpec(seed=3, users=40, months=3))
    generate(tmp_path / "b", SampleSpec(seed=3, users=40, months=3))
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    generate(tmp_path / "c", SampleSpec(seed=4, users=40, months=3))
    assert digests(tmp_path / "a") != digests(tmp_path / "c")


def test_sample_has_every_format_and_scenario(tmp_path):
    stats = generate(tmp_path, SampleSpec())
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert any(n.startswith("cdr/Calls.Export.") and n.endswith(".zip") for n in names)
    assert any(n.endswith(".jsonl") for n in names) and any(n.endswith(".page000.json") for n in names)
    assert "cdr/PSTN.calls.2019-11.csv" in names  # before the 60-minute allotment
    assert any(n.startswith("licenses/graph_users_") for n in names)
    assert any(n.startswith("licenses/tenant_skus_") for n in names)
    assert {"credits/fundings.csv", "credits/auto_recharge.csv", "credits/fabrikam-kr/credits.json"} <= names
    assert stats["bad_rows"] == 6 and stats["overlap_rows"] > 0 and stats["corrected_rows"] == 3
    assert stats["kr_call_rows"] == len(KR_SCRIPT)
    assert (tmp_path / "cdr/PSTN.calls.2024-06.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    aliases = (tmp_path / "cdr/PSTN.calls.2024-02.csv").read_text().splitlines()[0]
    assert "Duration (seconds)" in aliases and "Workload" in aliases


def test_sample_covers_the_pool_scenario(tmp_path):
    generate(tmp_path, SampleSpec())
    march = pl.read_csv(tmp_path / "licenses/licences_2024-03-22.csv")
    february = pl.read_csv(tmp_path / "licenses/licences_2024-03-08.csv")

    def standalone(frame):
        return frame.filter(pl.col("sku_part_numbers").str.contains("MCOMEETADV")).height

    assert standalone(march) > standalone(february)  # licences added on the 15th
    skus = " ".join(march.get_column("sku_part_numbers").to_list())
    for sku in ("SPE_E5", "MCOMEETACPEA", "MCOPSTNC"):
        assert sku in skus
    kr = [
        json.loads(line) for line in (tmp_path / "cdr/fabrikam-kr/getPstnCalls.2024-03.jsonl").read_text().splitlines()
    ]
    assert sum(r["duration"] for r in kr[:22]) == 158_400  # 3 users x 900 min = 162,000 s
    calls = pl.read_csv(tmp_path / "cdr/PSTN.calls.2024-01.csv", infer_schema=False)
    assert calls.filter(pl.col("Destination Number").str.contains(r"\*")).height > 0
    assert (
        calls.filter(pl.col("Destination Dialed") == "Nigeria").height
        + calls.filter(
            pl.col("Destination Dialed").is_in(
                [
                    "Egypt",
                    "Pakistan",
                    "Viet Nam",
                    "Argentina",
                    "Israel",
                    "Philippines",
                    "Turkey",
                    "United Arab Emirates",
                ]
            )
        ).height
        > 0
    )


def test_large_sizes_stream_admin_center_csv_day_by_day(tmp_path, monkeypatch):
    """Above the BIG threshold only admin-center CSV is written, one day at a time, with the
    overlaps and the bad rows still there (the threshold is lowered so the test stays small)."""
    from pstn_sample import generate as generate_module

    monkeypatch.setattr(generate_module, "BIG", 1_000)
    stats = generate(tmp_path, SampleSpec(seed=5, users=60, months=2, calls=4_000))
    cdr = sorted(p.name for p in (tmp_path / "cdr").glob("*") if p.is_file())
    assert cdr == [
        "PSTN.calls.2019-11.csv",
        "PSTN.calls.2019-12.csv",
        "PSTN.calls.2024-01.csv",
        "PSTN.calls.2024-02.csv",
    ]
    january = pl.read_csv(tmp_path / "cdr" / "PSTN.calls.2024-01.csv", infer_schema=False)
    february = pl.read_csv(tmp_path / "cdr" / "PSTN.calls.2024-02.csv", infer_schema=False)
    assert january.columns == february.columns and len(january.columns) == 20
    assert stats["bad_rows"] == 6 and january.filter(pl.col("Call Type") == "conf_sideways").height == 1
    shared = set(january.get_column("UsageId")) & set(february.get_column("UsageId"))
    assert 0 < len(shared) <= stats["overlap_rows"]  # February's export repeats January's last two days
    assert 3_000 < stats["call_rows"] < 5_500
    snapshots = sorted(p.name for p in (tmp_path / "licenses").glob("licences_2024-01-*.csv"))
    assert snapshots == ["licences_2024-01-01.csv", "licences_2024-01-15.csv"]
