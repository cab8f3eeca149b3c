"""`pstn run` as a user runs it: sample data into an empty landing folder, load, dbt build
(models and data tests), then the numbers in the warehouse; dbt's unit tests on that warehouse;
then the idempotence and history guarantees end to end."""

from __future__ import annotations

import csv
import os
import re
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
from conftest import pstn

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    env = dict(os.environ, PSTN_RAW_DIR=str(root / "raw"), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    env.pop("PSTN_ARCHIVE_DIR", None)
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return root, env, result


def query(root: Path, sql: str, database: str = "warehouse.duckdb") -> list[tuple]:
    """`sql` on the published warehouse (marts), or with `database=BUILD` on the private build one."""
    with duckdb.connect(str(root / "wh" / database), read_only=True) as con:
        return con.execute(sql).fetchall()


BUILD = "private/warehouse.duckdb"


def test_run_generates_loads_and_builds(built):
    root, _, result = built
    assert "generating the bundled sample tenant" in result.stdout
    assert "Completed successfully" in result.stdout
    assert (root / "wh" / "archive" / "calls").is_dir()
    tenants = dict(query(root, "select tenant_id, count(*) from staging.stg_archive__pstn_calls group by 1", BUILD))
    assert tenants["fabrikam-kr"] == 25
    assert tenants["default"] > 5000


def test_every_dbt_unit_test_passes(built):
    """The main job leaves unit tests out (they check the code, not the data); here they run."""
    import json

    root, env, _ = built
    unit = pstn(env, "unit-tests")
    assert unit.returncode == 0, unit.stdout[-5000:] + unit.stderr[-3000:]
    target = root / "wh" / "private" / "warehouse.dbt-target"
    results = json.loads((target / "run_results.json").read_text())["results"]
    statuses = [r["status"] for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(statuses) >= 12 and set(statuses) == {"pass"}, statuses


def test_rejections_table_names_file_line_and_reason(built):
    root, _, _ = built
    rows = query(root, "select source_path, source_line, reasons from marts.rpt_ingest_rejections order by 2")
    assert len(rows) == 6
    assert all(path == "cdr/PSTN.calls.2024-01.csv" for path, _, _ in rows)
    assert any("is not an ISO 8601 timestamp" in r for _, _, r in rows)


def test_staging_keeps_the_newest_version_of_corrected_calls(built):
    root, _, _ = built
    rows = query(
        root, "select version_count, source_path from staging.stg_archive__pstn_calls where version_count > 1", BUILD
    )
    assert len(rows) == 3
    assert {path for _, path in rows} == {"cdr/PSTN.calls.2024-01.correction.csv"}


def test_second_run_changes_nothing_and_history_survives(built):
    root, env, _ = built
    before = pstn(env, "checksum").stdout
    again = pstn(env, "run")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "0 loaded, 0 rejected" in again.stdout
    # dbt reuses this warehouse's parse of the project, though other builds ran in between.
    assert "partial parsing because profile has changed" not in again.stdout
    assert pstn(env, "checksum").stdout == before
    calls_before = query(root, "select count(*), sum(duration_seconds) from staging.stg_archive__pstn_calls", BUILD)

    moved = root / "raw-moved"
    (root / "raw").rename(moved)
    (root / "raw").mkdir()
    (root / "raw" / "README.txt").write_text("raw files were moved away")
    after_removal = pstn(env, "run")
    (root / "raw").rename(root / "raw-empty")
    moved.rename(root / "raw")
    assert after_removal.returncode == 0, after_removal.stdout[-3000:]
    assert (
        query(root, "select count(*), sum(duration_seconds) from staging.stg_archive__pstn_calls", BUILD)
        == calls_before
    )


# ---- The rating engine on the sample, against figures computed by hand ------------------------
def rate(country: str, number_type: str, day: str) -> tuple[Decimal, Decimal]:
    """(rate per minute, connection fee) from the sample rate card, read independently of dbt."""
    with (ROOT / "seeds" / "rate_card.csv").open() as handle:
        for row in csv.DictReader(handle):
            if (row["destination_country"], row["number_type"]) == (country, number_type) and row[
                "valid_from"
            ] <= day <= (row["valid_to"] or "9999-12-31"):
                return Decimal(row["rate_per_minute"]), Decimal(row["connection_fee"])
    raise KeyError((country, number_type, day))


def money(minutes: int, country: str, number_type: str, day: str) -> Decimal:
    per_minute, fee = rate(country, number_type, day)
    return (minutes * per_minute + fee).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_korean_pool_month_by_hand(built):
    """3 users x 900 min = 2,700 min = 162,000 s; 22 calls of 7,200 s use 158,400 s."""
    root, _, _ = built
    month = query(
        root,
        "select pool_minutes, minutes_used, overflow_minutes, utilization_pct, exhausted_on, licensed_users "
        "from marts.rpt_monthly_pool_usage where tenant_id = 'fabrikam-kr'",
    )
    assert month == [(Decimal("2700"), Decimal("2700"), Decimal("65"), Decimal("100.00"), date(2024, 3, 26), 3)]
    alerts = query(
        root,
        "select threshold_pct, usage_id, crossed_at, mtd_seconds_used from marts.fct_pool_alerts "
        "where tenant_id = 'fabrikam-kr' order by threshold_pct",
    )
    assert alerts == [
        # 80 % of 162,000 s = 129,600 s = exactly the end of the 18th call (2024-03-21 09:00 + 2 h).
        (80, "kr-usage-018", datetime(2024, 3, 21, 11, 0), 129_600),
        # 3,600 s were left when the 23rd call started at 10:00: it crossed 100 % at 11:00.
        (100, "kr-usage-023", datetime(2024, 3, 26, 11, 0), 162_000),
    ]


def test_korean_calls_rated_by_hand(built):
    root, _, _ = built
    rows = query(
        root,
        "select usage_id, pooled_seconds, overflow_seconds, rated_capability, charge_reason, billable_minutes, "
        "rated_charge from marts.fct_pstn_calls where usage_id in ('kr-usage-022', 'kr-usage-023', "
        "'kr-usage-024', 'kr-usage-025') order by usage_id",
    )
    assert rows == [
        ("kr-usage-022", 7200, 0, "MCOMEETADD", None, Decimal("0"), Decimal("0")),
        # Straddles exhaustion: 3,600 s pooled, 3,600 s = 60 min to Japan on credits (user 1 holds them).
        (
            "kr-usage-023",
            3600,
            3600,
            "MCOPSTNPP",
            "pool_exhausted",
            Decimal("60"),
            money(60, "JP", "standard", "2024-03-26"),
        ),
        # Viet Nam is outside Zone A: 600 s charged from the first second.
        ("kr-usage-024", 0, 0, "MCOPSTNPP", "outside_zone_a", Decimal("10"), money(10, "VN", "standard", "2024-03-27")),
        # Pool used up and the organizer holds no credits: blocked, nothing charged.
        ("kr-usage-025", 0, 300, "blocked", "pool_exhausted", Decimal("5"), Decimal("0")),
    ]


def licence_holders(root: Path, day: str) -> int:
    """Users holding a SKU with MCOMEETADV in the raw snapshot CSV of that day, counted in Python."""
    with (root / "raw" / "licenses" / f"licences_{day}.csv").open() as handle:
        return sum(
            1 for row in csv.DictReader(handle) if {"SPE_E5", "MCOMEETADV"} & set(row["sku_part_numbers"].split(";"))
        )


def test_calling_plan_pools_by_hand(built):
    """northwind, April 2024. UK MCOPSTN5: 2 users x 120 min = 14,400 s; five calls of 2,400 s use
    12,000 s, the sixth (3,600 s) is split 2,400 pooled / 1,200 on credits; UK MCOPSTN2: 600 min =
    36,000 s international, used up by the sixth call to the US (6,000 of 7,000 s), which closes
    the 1,200-minute domestic counter too; US MCOPSTN1 (a US and a Puerto Rico user, one pool):
    2 x 3,000 min, 1,800 + 900 s domestic (Puerto Rico to the US and back)."""
    root, _, _ = built
    pools = query(
        root,
        "select pool_capability, pool_country, minute_type, licensed_users, pool_minutes, minutes_used, "
        "overflow_minutes, exhausted_on from marts.rpt_monthly_pool_usage "
        "where tenant_id = 'northwind' and pool_capability <> 'MCOMEETADD' order by 1, 2, 3",
    )
    assert pools == [
        ("MCOPSTN1", "US", "domestic", 2, Decimal(6000), Decimal(45), Decimal(0), None),
        ("MCOPSTN2", "GB", "domestic", 1, Decimal(1200), Decimal(20), Decimal(10), date(2024, 4, 11)),
        ("MCOPSTN2", "GB", "international", 1, Decimal(600), Decimal(600), Decimal("16.6667"), date(2024, 4, 11)),
        ("MCOPSTN5", "GB", "domestic", 2, Decimal(240), Decimal(240), Decimal(30), date(2024, 4, 10)),
    ]
    closed = query(
        root,
        "select distinct minute_type, closed_by_minute_type from marts.fct_pool_consumption_daily "
        "where tenant_id = 'northwind' and pool_capability = 'MCOPSTN2' and usage_date = '2024-04-11'",
    )
    assert sorted(closed) == [("domestic", "international"), ("international", "international")]
    alerts = query(
        root,
        "select pool_capability, minute_type, threshold_pct, crossed_at from marts.fct_pool_alerts "
        "where tenant_id = 'northwind' order by 1, 2, 3",
    )
    assert alerts == [
        # 80 % of 36,000 s = 28,800 s: 4,800 s into the fifth international call (14:00 on the 10th).
        ("MCOPSTN2", "international", 80, datetime(2024, 4, 10, 15, 20)),
        ("MCOPSTN2", "international", 100, datetime(2024, 4, 11, 15, 40)),
        # 80 % of 14,400 s = 11,520 s: 1,920 s into the fifth call (09:00 on the 8th).
        ("MCOPSTN5", "domestic", 80, datetime(2024, 4, 8, 9, 32)),
        ("MCOPSTN5", "domestic", 100, datetime(2024, 4, 10, 9, 40)),
    ]
    calls = dict(
        (usage_id, rest)
        for usage_id, *rest in query(
            root,
            "select usage_id, pool_capability, pooled_seconds, rated_capability, charge_reason, rated_charge "
            "from marts.fct_pstn_calls where tenant_id = 'northwind'",
        )
    )
    assert calls["nw-usage-006"] == ["MCOPSTN5", 2400, "MCOPSTNPP", "calling_plan_exhausted", Decimal("0.84")]
    assert calls["nw-usage-007"] == ["MCOPSTN5", 0, "blocked", "calling_plan_exhausted", Decimal(0)]
    assert calls["nw-usage-008"] == [None, 0, "included", None, Decimal(0)]  # domestic freephone
    assert calls["nw-usage-009"] == [None, 0, "blocked", "international_not_in_plan", Decimal(0)]
    assert calls["nw-usage-010"] == [None, 0, "MCOPSTNPP", "premium_number", Decimal("4.75")]
    assert calls["nw-usage-018"] == ["MCOPSTN2", 0, "blocked", "calling_plan_exhausted", Decimal(0)]
    assert calls["nw-usage-019"] == ["MCOPSTN1", 1800, "MCOPSTN1", None, Decimal(0)]  # Puerto Rico to the US
    assert calls["nw-usage-021"] == [None, 0, "blocked", "international_not_in_plan", Decimal(0)]  # US to Canada
    # The export labels the US-to-Puerto Rico call International; the rule rates it domestic and says so.
    overruled = query(
        root,
        "select usage_id, minute_type from marts.fct_pstn_calls "
        "where tenant_id = 'northwind' and is_destination_context_overruled",
    )
    assert overruled == [("nw-usage-020", "domestic")]
    # Both credits calls are the second UK user's, in two administrative units: counted in each.
    units = query(
        root,
        "select administrative_unit, calls, calls_in_other_units, rated_charge "
        "from marts.rpt_monthly_charges_by_administrative_unit where tenant_id = 'northwind' order by 1",
    )
    assert units == [("Sales", 2, 2, Decimal("5.59")), ("United Kingdom", 2, 2, Decimal("5.59"))]


def test_contoso_capacity_from_the_raw_snapshots(built):
    root, _, _ = built
    capacity = dict(
        query(
            root,
            "select usage_date, pool_minutes from marts.fct_pool_consumption_daily where tenant_id = 'default' "
            "and pool_capability = 'MCOMEETADD' "
            "and usage_date in ('2019-11-30', '2019-12-31', '2024-03-14', '2024-03-15', '2024-05-31')",
        )
    )
    assert capacity[date(2019, 11, 30)] == 900 * licence_holders(root, "2019-11-22")  # complimentary period
    assert capacity[date(2019, 12, 31)] == 60 * licence_holders(root, "2019-12-22")
    assert capacity[date(2024, 3, 14)] == 60 * licence_holders(root, "2024-03-08")  # carried forward
    assert capacity[date(2024, 3, 15)] == 60 * licence_holders(root, "2024-03-15") > capacity[date(2024, 3, 14)]
    assert capacity[date(2024, 5, 31)] == 60 * licence_holders(root, "2024-05-22")


def test_contoso_march_runs_out_reopens_and_runs_out_again(built):
    root, _, _ = built
    (exhausted_on, used, pool, overflow) = query(
        root,
        "select exhausted_on, minutes_used, pool_minutes, overflow_minutes from marts.rpt_monthly_pool_usage "
        "where tenant_id = 'default' and billing_month = '2024-03-01' and pool_capability = 'MCOMEETADD'",
    )[0]
    assert exhausted_on < date(2024, 3, 15) and used == pool and overflow > 0
    reopened = query(
        root,
        "select seconds_used from marts.fct_pool_consumption_daily where tenant_id = 'default' "
        "and usage_date = '2024-03-15' and pool_capability = 'MCOMEETADD'",
    )[0][0]
    assert reopened > 0
    # Each day's projection: the day it ran out while used up; forward from that day while open,
    # also after the pool reopened (never a day before the row's own).
    projections = query(
        root,
        "select usage_date, remaining_seconds, projected_exhaustion_date from marts.fct_pool_consumption_daily "
        "where tenant_id = 'default' and billing_month = '2024-03-01' and pool_capability = 'MCOMEETADD' "
        "order by usage_date",
    )
    remaining_on = {day: remaining for day, remaining, _ in projections}
    for day, remaining, projected in projections:
        if remaining > 0 and projected is not None:
            assert projected >= day, (day, projected)
        if remaining == 0 and day >= exhausted_on:
            # The first day of this used-up stretch: used up from it to this day, open the day before.
            stretch = [d for d in remaining_on if projected <= d <= day]
            assert all(remaining_on[d] == 0 for d in stretch), (day, projected)
            assert remaining_on.get(projected - timedelta(days=1), 1) > 0, (day, projected)
    by_day = {day: projected for day, _, projected in projections}
    assert by_day[date(2024, 3, 14)] == exhausted_on == date(2024, 3, 14)
    assert by_day[date(2024, 3, 15)] > date(2024, 3, 15)
    # The call that exhausts the pool is split: part pooled, the rest on credits.
    straddling = query(
        root,
        "select count(*) from marts.fct_pstn_calls where tenant_id = 'default' and billing_month = '2024-03-01' "
        "and pooled_seconds > 0 and overflow_seconds > 0 and rated_capability = 'MCOPSTNPP'",
    )[0][0]
    assert straddling >= 1
    # Every month's daily rows cover the whole month, zero days included.
    days = dict(
        query(
            root,
            "select billing_month, count(*) from marts.fct_pool_consumption_daily "
            "where tenant_id = 'default' and pool_capability = 'MCOMEETADD' group by 1",
        )
    )
    assert days[date(2024, 2, 1)] == 29 and days[date(2024, 3, 1)] == 31


def test_charges_and_departments_add_up_to_the_cent(built):
    root, _, _ = built
    facts = query(root, "select sum(rated_charge) from marts.fct_charges_mcopstnpp")[0][0]
    departments = query(root, "select sum(rated_charge) from marts.rpt_monthly_charges_by_department")[0][0]
    report = query(root, "select sum(rated_charge) from marts.rpt_monthly_charges where rated_capability = 'MCOPSTNPP'")
    assert facts == departments == report[0][0] > 0
    vocabulary = {r[0] for r in query(root, "select distinct rated_capability from marts.fct_pstn_calls")}
    assert vocabulary == {
        "MCOMEETADD",
        "MCOPSTN1",
        "MCOPSTN2",
        "MCOPSTN5",
        "MCOPSTNPP",
        "included",
        "blocked",
        "out_of_scope",
    }
    reasons = {r[0] for r in query(root, "select distinct charge_reason from marts.fct_pstn_calls")} - {None}
    allowed = {
        "pool_exhausted",
        "outside_zone_a",
        "premium_number",
        "toll_free_dial_in",
        "pay_per_minute",
        "not_pool_eligible",
        "calling_plan_exhausted",
        "international_not_in_plan",
    }
    # The sample exercises every reason except not_pool_eligible (which needs a dial-out organizer with
    # neither monthly nor pay-per-minute Audio Conferencing).
    assert allowed - {"not_pool_eligible"} <= reasons <= allowed


def test_numbers_are_masked_in_the_marts(built):
    root, _, _ = built
    masked = query(root, "select destination_number_masked from marts.fct_pstn_calls where usage_id = 'kr-usage-024'")[
        0
    ][0]
    assert masked == "+84***678"
    columns = {
        r[0]
        for r in query(
            root,
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_pstn_calls'",
        )
    }
    assert "callee_number" not in columns and "caller_number" not in columns


CDR_HEADER = (
    "UsageId,Call Type,Start Time,End Time,Duration Seconds,AAD ObjectId,Destination Dialed,"
    "Destination Number,Charge,Currency,Capability\n"
)


def small_site(root: Path, calls: str, licences: dict[str, str]) -> dict:
    """A landing folder of one admin-center export (`calls`: its rows) and licence snapshot CSVs
    (`licences`: day -> content); returns the environment of a site on it."""
    raw = root / "raw"
    (raw / "cdr").mkdir(parents=True)
    (raw / "licenses").mkdir()
    (raw / "cdr" / "export.csv").write_text(CDR_HEADER + calls)
    for day, content in licences.items():
        (raw / "licenses" / f"licences_{day}.csv").write_text(content)
    env = dict(os.environ, PSTN_RAW_DIR=str(raw), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    env.pop("PSTN_ARCHIVE_DIR", None)
    return env


def test_a_missing_rate_fails_the_build_and_names_the_destination(tmp_path):
    """A chargeable call whose destination has no rate is a data-quality failure that names the
    destination, never a silent zero."""
    env = small_site(
        tmp_path,
        "aq-1,conf_out,2024-02-10T10:00:00Z,2024-02-10T10:05:00Z,300,u1,Antarctica,+6721234567,0,USD,MCOPSTNPP\n"
        "us-1,conf_out,2024-02-10T11:00:00Z,2024-02-10T11:05:00Z,300,u1,United States,+12125550123,0,USD,MCOMEETADD\n",
        {"2024-02-01": "user_id,sku_part_numbers\nu1,SPE_E5;MCOPSTNC\n"},
    )
    result = pstn(env, "run")
    assert result.returncode != 0
    assert "assert_every_charged_call_has_a_rate" in result.stdout
    failure = result.stdout[result.stdout.index("the rows that need attention") :]
    assert "AQ" in failure and "standard" in failure and "2024-02-10" in failure
    # The call is kept, flagged, with a null charge rather than a zero, in the build warehouse;
    # a build whose tests fail publishes nothing.
    rows = query(
        tmp_path, "select is_missing_rate, rated_charge from marts.fct_pstn_calls where usage_id = 'aq-1'", BUILD
    )
    assert rows == [(True, None)]
    assert not (tmp_path / "wh" / "warehouse.duckdb").exists()


def test_the_licence_catalogue_grants_known_skus_and_lists_unknown_ones(tmp_path):
    """A suite the catalogue knows grants its plans (the E5 without Teams keeps Audio Conferencing;
    SKUs are matched whatever their case, and the loader writes them upper case);
    a product without them grants nothing and is not reported; a SKU nobody knows grants nothing,
    is listed with its days and users, warns in the build and raises one alert."""
    snapshot = "user_id,sku_part_numbers\nu1,Microsoft_365_E5_(no_Teams)\nu2,Contoso_Custom_Bundle\nu3,ENTERPRISEPACK\n"
    env = small_site(
        tmp_path,
        "us-1,conf_out,2024-02-10T11:00:00Z,2024-02-10T11:05:00Z,300,u1,United States,+12125550123,0,USD,MCOMEETADD\n",
        {"2024-02-01": snapshot, "2024-02-08": snapshot},
    )
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"WARN 1 assert_every_licence_sku_is_known", result.stdout), result.stdout[-3000:]
    # Only u1 counts toward the pool: 60 minutes on every day of February built.
    assert query(tmp_path, "select distinct pool_minutes from marts.fct_pool_consumption_daily") == [(60,)]
    assert query(
        tmp_path,
        "select tenant_id, sku_reference, first_seen_date, last_seen_date, snapshot_days, holding_users,"
        " is_assigned_to_users, is_subscribed from marts.rpt_unknown_skus",
    ) == [("default", "CONTOSO_CUSTOM_BUNDLE", date(2024, 2, 1), date(2024, 2, 8), 2, 1, True, False)]
    alerts = query(tmp_path, "select alert_id, message from marts.fct_alerts where alert_id like 'unknown_sku|%'")
    assert alerts == [
        (
            "unknown_sku|default|CONTOSO_CUSTOM_BUNDLE",
            "Licence snapshots of default hold SKU CONTOSO_CUSTOM_BUNDLE, which the licence catalogue does not know"
            " (1 user, 2024-02-01 to 2024-02-08): it grants nothing until seeds/licence_products.csv lists it"
            " (see marts.rpt_unknown_skus).",
        )
    ]


def test_a_calling_plan_held_where_no_allotment_is_seeded_holds_nothing_and_is_reported(tmp_path):
    """A Domestic Calling Plan in Japan (not in the allotment seed) is a pool of 0 minutes: its
    user's domestic call is allocated against it, goes past it and is blocked (no credits); the
    build warns and the nightly's alert names the plan, country and user count. The same plan in
    the US pools as usual."""
    env = small_site(
        tmp_path,
        "jp-1,user_out,2024-02-10T11:00:00Z,2024-02-10T11:05:00Z,300,u1,Japan,+81312345678,0,USD,MCOPSTN1\n"
        "us-1,user_out,2024-02-10T12:00:00Z,2024-02-10T12:05:00Z,300,u2,United States,+12125550123,0,USD,MCOPSTN1\n",
        {"2024-02-01": "user_id,usage_location,sku_part_numbers\nu1,JP,MCOPSTN1\nu2,US,MCOPSTN1\n"},
    )
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    assert re.search(r"WARN 1 assert_every_calling_plan_country_has_an_allotment", result.stdout), result.stdout[-3000:]
    calls = query(
        tmp_path,
        "select usage_id, pool_capability, pool_country, pooled_seconds, rated_capability, charge_reason "
        "from marts.fct_pstn_calls order by 1",
    )
    assert calls == [
        ("jp-1", "MCOPSTN1", "JP", 0, "blocked", "calling_plan_exhausted"),
        ("us-1", "MCOPSTN1", "US", 300, "MCOPSTN1", None),
    ]
    alerts = query(tmp_path, "select alert_id, message from marts.fct_alerts where alert_id like 'calling_plan%'")
    assert alerts == [
        (
            "calling_plan_allotment_missing|default|MCOPSTN1|JP",
            "MCOPSTN1 is held in JP by 1 user of default (2024-02-01 to 2024-02-10) but"
            " seeds/calling_plan_allotments.csv has no minutes for it there: its calls go to credits or are blocked.",
        )
    ]


def test_calls_before_the_first_licence_snapshot_are_rated_on_it_and_flagged(tmp_path):
    """A backfill: calls from before the only licence snapshot (Graph keeps no licence history) are
    rated on that snapshot, and every such call and pool day says so, down to the monthly reports;
    a snapshot that arrives later and is earlier still re-rates the months before it."""
    call = "{0}-1,conf_out,2024-{1}-10T11:00:00Z,2024-{1}-10T11:05:00Z,300,u1,United States,+12125550123,0,USD,{2}\n"
    env = small_site(
        tmp_path,
        call.format("jan", "01", "MCOMEETADD") + call.format("feb", "02", "MCOMEETADD"),
        {"2024-02-01": "user_id,sku_part_numbers\nu1,SPE_E5\nu2,SPE_E5\n"},
    )
    raw = tmp_path / "raw"
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    calls = "select usage_id, is_licence_assumed, rated_capability, pooled_seconds from marts.fct_pstn_calls order by 1"
    assert query(tmp_path, calls) == [("feb-1", False, "MCOMEETADD", 300), ("jan-1", True, "MCOMEETADD", 300)]
    days = (
        "select billing_month, bool_and(is_licence_assumed), bool_or(is_licence_assumed), min(pool_minutes),"
        " max(pool_minutes) from marts.fct_pool_consumption_daily group by 1 order by 1"
    )
    assert query(tmp_path, days) == [
        (date(2024, 1, 1), True, True, 120, 120),
        (date(2024, 2, 1), False, False, 120, 120),
    ]
    monthly = "select billing_month, licence_assumed_days from marts.rpt_monthly_pool_usage order by 1"
    assert query(tmp_path, monthly) == [(date(2024, 1, 1), 31), (date(2024, 2, 1), 0)]
    charges = "select billing_month, sum(licence_assumed_calls) from marts.rpt_monthly_charges group by 1 order by 1"
    assert query(tmp_path, charges) == [(date(2024, 1, 1), 1), (date(2024, 2, 1), 0)]

    # An older snapshot arrives: January is rated on it (one user), no longer assumed.
    (raw / "licenses" / "licences_2024-01-01.csv").write_text("user_id,sku_part_numbers\nu1,SPE_E5\n")
    again = pstn(env, "run")
    assert again.returncode == 0, again.stdout[-5000:] + again.stderr[-3000:]
    assert query(tmp_path, days) == [
        (date(2024, 1, 1), False, False, 60, 60),
        (date(2024, 2, 1), False, False, 120, 120),
    ]
    assert query(tmp_path, calls)[1] == ("jan-1", False, "MCOMEETADD", 300)


def test_the_alerts_mart_raises_each_condition_once(built):
    """fct_alerts against the conditions read from the other marts one by one."""
    root, _, _ = built

    def alerts(kind: str, prefix: str = "") -> dict[str, str]:
        rows = query(
            root,
            f"select alert_id, message from marts.fct_alerts where alert_kind = '{kind}' and alert_id like '{prefix}%'",
        )
        return dict(rows)

    crossings = query(
        root,
        "select tenant_id, billing_month, threshold_pct, case when pool_capability = 'MCOMEETADD' then '' "
        "else concat('|', pool_capability, '|', pool_country, '|', minute_type) end from marts.fct_pool_alerts",
    )
    threshold = alerts("pool_threshold")
    assert set(threshold) == {f"pool_threshold|{t}|{m}|{p}{pool}" for t, m, p, pool in crossings}
    assert threshold["pool_threshold|fabrikam-kr|2024-03-01|100"].startswith(
        "Teams dial-out pool of fabrikam-kr reached 100 % on 2024-03-26 11:00 UTC (2,700 of 2,700 minutes"
    )
    blocked = query(
        root,
        "select tenant_id, billing_month, count(*) from marts.fct_pstn_calls where is_blocked group by all",
    )
    assert set(alerts("blocked_calls")) == {f"blocked_calls|{t}|{m}|{n}" for t, m, n in blocked} and blocked
    for t, m, n in blocked:
        noun = "call" if n == 1 else "calls"
        assert alerts("blocked_calls")[f"blocked_calls|{t}|{m}|{n}"].startswith(f"{n:,} {noun} of {t} in {str(m)[:7]} ")
    # A forecast only for a pool whose latest day still has minutes and a projected date.
    latest = query(
        root,
        "select tenant_id, billing_month, projected_exhaustion_date, is_exhausted, case when pool_capability = "
        "'MCOMEETADD' then '' else concat('|', pool_capability, '|', pool_country, '|', minute_type, "
        "coalesce('|' || pool_user_id, '')) end from marts.fct_pool_consumption_daily "
        "qualify row_number() over (partition by tenant_id, pool_capability, pool_country, minute_type, pool_user_id "
        "order by usage_date desc) = 1",
    )
    expected = {f"pool_forecast|{t}|{m}|{p}{pool}" for t, m, p, exhausted, pool in latest if p and not exhausted}
    assert set(alerts("pool_forecast")) == expected
    # The sample is years old: every tenant is stale, named with its newest call.
    newest = query(root, "select tenant_id, max(start_at) from marts.fct_pstn_calls group by 1")
    stale = alerts("data_quality", "stale|")
    assert set(stale) == {f"stale|{t}|{at}" for t, at in newest}
    assert stale[f"stale|fabrikam-kr|{dict(newest)['fabrikam-kr']}"].startswith(
        "The newest call of fabrikam-kr started on 2024-03-28 10:00 UTC, more than 48 hours ago"
    )
    # One alert per load and tenant that refused rows or files, with the counts.
    refused = query(
        root,
        "select load_id, tenant_id, count(*) filter (rejection_level = 'file'), "
        "count(*) filter (rejection_level = 'row') "
        "from marts.rpt_ingest_rejections where rejection_level <> 'skipped_file' group by all",
    )
    rejected = alerts("data_quality", "rejected_input|")
    assert refused and set(rejected) == {f"rejected_input|{t}|{load}" for load, t, _, _ in refused}

    def counted(n: int, noun: str) -> str:
        return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"

    for load, tenant, files, rows in refused:
        parts = [f"rejected {counted(files, 'file')}"] * (files > 0) + [f"quarantined {counted(rows, 'row')}"] * (
            rows > 0
        )
        expected = f" {' and '.join(parts)} (see marts.rpt_ingest_rejections)."
        assert expected in rejected[f"rejected_input|{tenant}|{load}"]


def test_the_metrics_are_the_marts_figures(built, tmp_path):
    """Each metric is defined once (models/semantic/); MetricFlow's answer per month is the marts'."""
    _, env, _ = built
    out = tmp_path / "metrics.csv"
    names = "overflow_minutes,pool_minutes_used,pool_utilization,credits_charges,blocked_calls,calls"
    names += ",reconciliation_difference,calling_plan_minutes_used"
    result = pstn(env, "metrics", "query", "--metrics", names, "--group-by", "metric_time__month", "--csv", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with out.open() as handle:
        answered = {row["metric_time__month"][:10]: row for row in csv.DictReader(handle)}
    root = built[0]
    pool = query(
        root,
        "select cast(billing_month as varchar), sum(overflow_minutes), sum(minutes_used), "
        "sum(minutes_used) / sum(pool_minutes) from marts.rpt_monthly_pool_usage "
        "where pool_capability = 'MCOMEETADD' group by 1",
    )
    calls = query(
        root,
        "select cast(billing_month as varchar), sum(rated_charge), count(*) filter (is_blocked), count(*), "
        "sum(charge_difference) from marts.fct_pstn_calls group by 1",
    )
    assert set(answered) == {month for month, *_ in calls} and len(answered) >= 6
    for month, overflow, used, utilization in pool:
        row = answered[month]
        assert Decimal(row["overflow_minutes"]).quantize(Decimal("0.01")) == overflow.quantize(Decimal("0.01"))
        assert Decimal(row["pool_minutes_used"]).quantize(Decimal("0.01")) == used.quantize(Decimal("0.01"))
        assert abs(float(row["pool_utilization"]) - float(utilization)) < 1e-6
    for month, charges, blocked, count, difference in calls:
        row = answered[month]
        assert Decimal(row["credits_charges"]).quantize(Decimal("0.01")) == charges
        assert Decimal(row["reconciliation_difference"] or 0).quantize(Decimal("0.01")) == (difference or 0)
        assert int(float(row["blocked_calls"])) == blocked and int(float(row["calls"])) == count
    assert Decimal(answered["2024-03-01"]["overflow_minutes"]) > 1000
    calling_plans = dict(
        query(
            root,
            "select cast(billing_month as varchar), sum(minutes_used) from marts.rpt_monthly_pool_usage "
            "where pool_capability <> 'MCOMEETADD' group by 1",
        )
    )
    for month, row in answered.items():
        used = Decimal(row["calling_plan_minutes_used"] or 0).quantize(Decimal("0.01"))
        assert used == calling_plans.get(month, Decimal(0)).quantize(Decimal("0.01")), month
    assert Decimal(answered["2024-04-01"]["calling_plan_minutes_used"]) > 1000


def test_the_published_warehouse_holds_every_mart_and_nothing_else(built):
    """BI tools open $PSTN_WAREHOUSE: schema marts only, every mart the project defines, every
    table and column described; the private build warehouse holds the rest, owner-only."""
    root, _, _ = built
    marts = {path.stem for path in (ROOT / "models" / "marts").rglob("*.sql")}
    published = query(root, "select schema_name, table_name, comment from duckdb_tables()")
    assert {schema for schema, _, _ in published} == {"marts"}
    assert {table for _, table, _ in published} == marts
    assert all(comment for _, _, comment in published)
    undocumented = query(
        root, "select table_name, column_name from duckdb_columns() where schema_name = 'marts' and comment is null"
    )
    assert undocumented == []
    schemas = {row[0] for row in query(root, "select distinct schema_name from duckdb_tables()", BUILD)}
    assert {"staging", "intermediate", "marts", "ops"} <= schemas
    assert (root / "wh" / "private").stat().st_mode & 0o777 == 0o700
    # Both sides agree to the row.
    for mart in sorted(marts):
        count = f"select count(*) from marts.{mart}"
        assert query(root, count) == query(root, count, BUILD), mart


def test_the_sample_conforms_to_focus(built, tmp_path):
    """The FOCUS export of the sample passes the FOCUS validator and the cost identities."""
    from test_focus import check_against_calls, check_focus_export

    root, _, _ = built
    focus = check_focus_export(root / "wh" / "warehouse.duckdb", tmp_path)
    check_against_calls(root / "wh" / "warehouse.duckdb", focus)
    assert set(focus.get_column("x_charge_component")) == {"pool_minutes", "credit_minutes", "connection_fee"}
