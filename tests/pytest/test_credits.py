"""The Communications Credits ledger and the forecasts, on a small landing folder whose
every figure is worked out by hand below from the rules: lots used first in, first out; a lot
expires 12 months after purchase and its remainder is forfeited; auto-recharge fires when the
balance after a day's charges would fall below the trigger, unless the funding file records that
recharge within a few days.

The organizer holds E5 (Audio Conferencing) and Communications Credits; dial-outs to Vietnam
(outside Zone A) are charged to credits at the sample rate card's VN standard rate, 0.3414 per
minute + 0.05 per call:

    10 min -> 3.414 + 0.05 = 3.46     20 min -> 6.878 -> 6.88 (6.828 + 0.05)
    50 min -> 17.07 + 0.05 = 17.12    100 min -> 34.14 + 0.05 = 34.19

Timeline (billing days, UTC):

    2023-01-10  fund A  20.00 manual                    (expires 2024-01-10)
    2023-03-01  fund B  30.00 manual                    (expires 2024-03-01)
    2023-03-15  charge  3.46  -> from A (A left 16.54)
    2023-04-15  charge 17.12  -> A 16.54 (A used up), B 0.58 (B left 29.42)   <- FIFO
    2024-01-10  A expires with nothing left: nothing forfeited
    2024-03-01  B expires: 29.42 forfeited                                    <- expiry
    2024-03-20  charge  3.46  with a balance of 0 and no auto-recharge: unfunded
    2024-04-02  fund C  15.00 manual, and auto-recharge on: trigger 10.00, recharge 25.00
                (balance 15 >= 10: no recharge; had it been switched on the day before, with a
                balance of 0, the ledger would have recharged at once)
    2024-04-05  dial-out to the US, 50 min, pooled (Zone A)
    2024-04-10  charge  6.88  -> 15 - 6.88 = 8.12 < 10, but the file records a recharge on
                                 04-11 (within 3 days): none simulated; C left 8.12
    2024-04-11  recorded auto-recharge R1 25.00 -> balance 33.12
    2024-04-20  charge 34.19  -> 33.12 - 34.19 < 10: n = ceil((10 - (33.12 - 34.19)) / 25) = 1
                                 simulated recharge R2 25.00; C 8.12 + R1 25 used up, R2 1.07
                                 -> closing 23.93                               <- recharge
"""

from __future__ import annotations

import os
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
from conftest import pstn

import pytest

HEADER = (
    "UsageId,Call Type,Start Time,End Time,Duration Seconds,AAD ObjectId,UPN,Destination Dialed,"
    "Destination Number,Charge,Currency,Capability\n"
)


def call(usage_id: str, day: str, minutes: int, country: str = "Vietnam", number: str = "+842812345678") -> str:
    start = f"{day}T10:00:00Z"
    end_minute = 10 * 60 + minutes
    end = f"{day}T{end_minute // 60:02d}:{end_minute % 60:02d}:00Z"
    return f"{usage_id},conf_out,{start},{end},{minutes * 60},u1,ada@contoso.example,{country},{number},0,USD,\n"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    root = tmp_path_factory.mktemp("credits")
    raw = root / "raw"
    for folder in ("cdr", "licenses", "credits"):
        (raw / folder).mkdir(parents=True)
    (raw / "cdr" / "calls.csv").write_text(
        HEADER
        + call("c1", "2023-03-15", 10)
        + call("c2", "2023-04-15", 50)
        + call("c5", "2024-03-20", 10)
        + call("us", "2024-04-05", 50, "United States", "+12125550123")
        + call("c3", "2024-04-10", 20)
        + call("c4", "2024-04-20", 100)
    )
    (raw / "licenses" / "licences_2023-01-01.csv").write_text("user_id,sku_part_numbers\nu1,SPE_E5;MCOPSTNC\n")
    (raw / "credits" / "fundings.csv").write_text(
        "funded_at,amount,currency,kind\n"
        "2023-01-10T08:00:00Z,20.00,USD,manual\n"
        "2023-03-01T08:00:00Z,30.00,USD,manual\n"
        "2024-04-02T08:00:00Z,15.00,USD,manual\n"
        "2024-04-11T08:00:00Z,25.00,USD,auto_recharge\n"
    )
    (raw / "credits" / "auto_recharge.csv").write_text(
        "effective_from,trigger_amount,recharge_amount,currency,enabled\n2024-04-02,10.00,25.00,USD,true\n"
    )
    env = dict(os.environ, PSTN_RAW_DIR=str(raw), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    env.pop("PSTN_ARCHIVE_DIR", None)
    result = pstn(env, "run")
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-3000:]
    return root


def query(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "wh" / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def day(root: Path, when: str) -> dict:
    with duckdb.connect(str(root / "wh" / "warehouse.duckdb"), read_only=True) as con:
        frame = con.execute(
            "select * from marts.fct_credits_balance_daily where balance_date = ?", [date.fromisoformat(when)]
        ).pl()
    assert frame.height == 1, when
    return frame.row(0, named=True)


D = Decimal


def test_the_charges_are_the_hand_computed_ones(ledger):
    rows = query(ledger, "select usage_id, rated_capability, rated_charge from marts.fct_pstn_calls order by usage_id")
    assert rows == [
        ("c1", "MCOPSTNPP", D("3.46")),
        ("c2", "MCOPSTNPP", D("17.12")),
        ("c3", "MCOPSTNPP", D("6.88")),
        ("c4", "MCOPSTNPP", D("34.19")),
        ("c5", "MCOPSTNPP", D("3.46")),
        ("us", "MCOMEETADD", D("0.00")),
    ]


def test_fifo_draws_the_oldest_lot_first(ledger):
    april = day(ledger, "2023-04-15")
    assert (april["opening_balance"], april["charges"], april["drawn_amount"], april["closing_balance"]) == (
        D("46.54"),
        D("17.12"),
        D("17.12"),
        D("29.42"),
    )
    lots = dict(
        (when, (used, forfeited, remaining, status, used_up))
        for when, used, forfeited, remaining, status, used_up in query(
            ledger,
            "select funded_date, used_amount, forfeited_amount, remaining_amount, lot_status, used_up_on"
            " from marts.fct_credits_lots",
        )
    )
    # A is used up on 2023-04-15 by the second charge; B gives only 0.58 before it expires.
    assert lots[date(2023, 1, 10)] == (D("20.00"), D("0.00"), D("0.00"), "used_up", date(2023, 4, 15))
    assert lots[date(2023, 3, 1)] == (D("0.58"), D("29.42"), D("0.00"), "expired", None)


def test_a_lot_expires_twelve_months_after_purchase(ledger):
    # A expired with nothing left; B's remainder goes on its anniversary, not a day earlier.
    assert day(ledger, "2024-01-10")["forfeited_amount"] == D("0.00")
    assert day(ledger, "2024-02-29")["closing_balance"] == D("29.42")
    expiry = day(ledger, "2024-03-01")
    assert (expiry["opening_balance"], expiry["forfeited_amount"], expiry["closing_balance"]) == (
        D("29.42"),
        D("29.42"),
        D("0.00"),
    )
    assert query(ledger, "select forfeited_on from marts.fct_credits_lots where funded_date = date '2023-03-01'") == [
        (date(2024, 3, 1),)
    ]


def test_charges_without_funds_are_unfunded_not_hidden(ledger):
    march = day(ledger, "2024-03-20")
    assert (march["charges"], march["drawn_amount"], march["unfunded_amount"], march["closing_balance"]) == (
        D("3.46"),
        D("0.00"),
        D("3.46"),
        D("0.00"),
    )
    assert query(ledger, "select sum(unfunded_amount) from marts.fct_credits_balance_daily") == [(D("3.46"),)]


def test_a_recorded_recharge_is_not_simulated_twice(ledger):
    tenth = day(ledger, "2024-04-10")
    assert tenth["recorded_recharge_due"] is True
    assert (tenth["simulated_recharges"], tenth["closing_balance"]) == (0, D("8.12"))
    eleventh = day(ledger, "2024-04-11")
    assert (eleventh["funded_amount"], eleventh["closing_balance"]) == (D("25.00"), D("33.12"))


def test_auto_recharge_is_simulated_when_the_balance_falls_below_the_trigger(ledger):
    last = day(ledger, "2024-04-20")
    assert (last["opening_balance"], last["simulated_recharges"], last["simulated_recharge_amount"]) == (
        D("33.12"),
        1,
        D("25.00"),
    )
    assert (last["drawn_amount"], last["closing_balance"], last["trigger_amount"]) == (
        D("34.19"),
        D("23.93"),
        D("10.00"),
    )
    lots = query(
        ledger,
        "select funded_date, lot_source, kind, amount, used_amount, remaining_amount, lot_status"
        " from marts.fct_credits_lots where funded_date >= date '2024-04-01' order by lot_start",
    )
    assert lots == [
        (date(2024, 4, 2), "recorded", "manual", D("15.00"), D("15.00"), D("0.00"), "used_up"),
        (date(2024, 4, 11), "recorded", "auto_recharge", D("25.00"), D("25.00"), D("0.00"), "used_up"),
        (date(2024, 4, 20), "simulated", "auto_recharge", D("25.00"), D("1.07"), D("23.93"), "open"),
    ]


def test_ledger_adds_up(ledger):
    """Everything funded = used + forfeited + left, to the cent."""
    funded, used, forfeited, left = query(
        ledger,
        "select sum(amount), sum(used_amount), sum(forfeited_amount), sum(remaining_amount)"
        " from marts.fct_credits_lots",
    )[0]
    assert funded == D("20") + D("30") + D("15") + D("25") + D("25")
    assert used == D("3.46") + D("17.12") + D("6.88") + D("34.19")
    assert forfeited == D("29.42")
    assert left == D("23.93") == funded - used - forfeited


def test_days_until_zero_and_the_recommendation(ledger):
    """As of 2024-04-20 the last 30 days (03-22 .. 04-20) charged 6.88 + 34.19 = 41.07: 1.369 ->
    1.37 a day. 23.93 lasts 17 days (17 x 1.37 = 23.29, 0.64 left) and is gone on day 18.
    Complete months: 2023-04 .. 2024-03 (12): 17.12 in 2023-04, 3.46 in 2024-03, else 0; p95 by
    nearest rank = the 12th smallest = 17.12; mean = 20.58 / 12 = 1.715 -> 1.72. Recharge: 17.12
    rounded up to 10 = 20.00 (under the cap 12 x 1.72 = 20.64 -> 30.00). Daily p95 over the latest
    365 days is 0 (3 charged days): trigger = the 10.00 minimum."""
    with duckdb.connect(str(ledger / "wh" / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute("select * from marts.rpt_credits_forecast").pl().row(0, named=True)
    assert row["as_of_date"] == date(2024, 4, 20)
    assert (row["balance"], row["recent_charges"], row["daily_burn_rate"]) == (D("23.93"), D("41.07"), D("1.37"))
    assert row["projected_zero_date"] == date(2024, 4, 20) + timedelta(days=18)
    assert (row["days_until_zero"], row["zero_reason"]) == (18, "spending")
    assert row["next_expiry_date"] == date(2025, 4, 20)
    assert (row["months_observed"], row["monthly_spend_p95"], row["monthly_spend_mean"]) == (12, D("17.12"), D("1.72"))
    assert (row["recommended_recharge_amount"], row["recommended_trigger_amount"]) == (D("20.00"), D("10.00"))
    assert row["daily_spend_p95"] == D("0.00")
    # As configured (trigger 10, recharge 25) at 1.37 a day: 23.93 falls below 10 on day 11
    # (23.93 - 11 x 1.37 = 8.86), then every 25 / 1.37 = 18.2 days; 365 x 1.37 = 500.05 of
    # charges need (500.05 - 23.93 + 10) / 25 = 19.4 -> 20 recharges within the year.
    assert row["projected_recharges_as_configured"] == 20
    assert row["recommendation_basis"].startswith("recharge = 95th percentile of monthly spend")


def test_pool_forecast_for_the_month_in_progress(ledger):
    """April 2024 as of the 20th: one Audio Conferencing user, 60 min = 3,600 s of pool. The US
    dial-out used 3,000 s in 20 days: 150 s a day, 4,500 s by the 30th, 900 s (15 min) past
    the pool, which runs out 600 / 150 = 4 days later, on the 24th. The pooled call is worth 50 x
    0.0315 = 1.575 -> 1.58 at credit rates: 0.0316 a minute; 15 x 0.0316 = 0.474 -> 0.47."""
    with duckdb.connect(str(ledger / "wh" / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute("select * from marts.rpt_pool_forecast").pl().row(0, named=True)
    assert (row["billing_month"], row["as_of_date"], row["days_elapsed"], row["days_in_month"]) == (
        date(2024, 4, 1),
        date(2024, 4, 20),
        20,
        30,
    )
    minutes = (row["pool_minutes"], row["mtd_minutes_used"], row["projected_demand_minutes"])
    assert minutes == (D("60"), D("50"), D("75"))
    assert (row["projected_exhaustion_date"], row["projected_overflow_minutes"]) == (date(2024, 4, 24), D("15"))
    assert (row["credit_rate_per_minute"], row["projected_overflow_cost"]) == (D("0.0316"), D("0.47"))
    assert row["is_month_complete"] is False
