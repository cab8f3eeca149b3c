"""Benchmark of the credits ledger walk: synthetic ledger days for N tenants x D days,
walked by the project's compiled models (int_credit_day_blocks -> int_credit_ledger_walked ->
int_credit_ledger_daily) in DuckDB, against one walk that records every day (the quadratic form
the block-wise walk replaces). Prints seconds and checks both give the same days to the cent.

    .venv/bin/python scripts/benchmark_credits.py --tenants 1 --days 3650
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
COMPILED = ROOT / "target" / "compiled" / "teams_pstn" / "models" / "intermediate" / "credits"
MODELS = ("int_credit_day_blocks", "int_credit_ledger_walked", "int_credit_ledger_daily")


def compiled(model: str) -> str:
    sql = (COMPILED / f"{model}.sql").read_text()
    # Point the refs at the in-memory tables of the same name.
    return re.sub(r'"[^"]*"\."intermediate"\."(\w+)"', r"\1", sql)


def synthetic_days(con: duckdb.DuckDBPyConnection, tenants: int, days: int) -> None:
    con.execute(
        f"""
        create table int_credit_days as
        select
            'tenant-' || t as tenant_id,
            'USD' as currency,
            cast(date '2015-01-01' + cast(d as integer) as date) as ledger_date,
            cast(round(abs(hash(t, d)) % 2000 / 100.0, 2) as decimal(18, 2)) as charges,
            cast(case when d % 90 = 0 then 500 else 0 end as decimal(18, 2)) as funded_amount,
            case
                when d % 90 = 0 then [struct_pack(
                    expires_on := cast(date '2015-01-01' + cast(d as integer) + interval 1 year as date),
                    offset_end := cast(500 as decimal(18, 2)))]
                else cast([] as struct(expires_on date, offset_end decimal(18, 2))[])
            end as new_lots,
            cast(50 as decimal(18, 2)) as trigger_amount,
            cast(200 as decimal(18, 2)) as recharge_amount,
            d % 700 > 350 as recharge_enabled
        from range({tenants}) as tenants(t), range({days}) as days(d)
        """
    )


def one_walk_sql() -> str:
    """The days recorded in a single walk: the reference the blocks must reproduce."""
    blocks = compiled("int_credit_day_blocks")
    walked = compiled("int_credit_ledger_daily")
    # Reuse the compiled fold: the daily model's walk over one block, applied to all days at once.
    fold = re.search(r"(list_reduce\(blocks\.days.*?\))\s*\.days as days", walked, re.S)
    if not fold:
        raise SystemExit("could not find the fold in the compiled int_credit_ledger_daily")
    body = fold.group(1).replace("blocks.days", "all_days.days")
    for field in ("consumed_total", "funded_total"):
        body = body.replace(f"block_starts.block_start.{field}", "0")
    body = body.replace(
        "block_starts.block_start.markers", "cast([] as struct(expires_on date, lot_end decimal(18,2))[])"
    )
    collect = re.search(r"(list\(struct_pack\(.*?order by ledger_date\))", blocks, re.S).group(1)
    return f"""
        with all_days as (
            select tenant_id, currency, {collect} as days from int_credit_days group by tenant_id, currency
        ),
        walked as (select tenant_id, currency, {body}.days as days from all_days)
        select tenant_id, currency, unnest(days, recursive := true) from walked
    """


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=1)
    parser.add_argument("--days", type=int, default=3650)
    parser.add_argument("--no-reference", action="store_true", help="skip the single recording walk")
    args = parser.parse_args()
    dbt = [str(ROOT / ".venv" / "bin" / "dbt"), "compile", "--profiles-dir", str(ROOT), "-q", "-s", *MODELS]
    subprocess.run(dbt, cwd=ROOT, check=True, capture_output=True)
    con = duckdb.connect()
    synthetic_days(con, args.tenants, args.days)
    timings = {}
    for model in MODELS:
        started = time.perf_counter()
        con.execute(f"create table {model} as {compiled(model)}")
        timings[model] = time.perf_counter() - started
    blockwise = sum(timings.values())
    rows = con.execute("select count(*) from int_credit_ledger_daily").fetchone()[0]
    print(f"tenants={args.tenants} days={args.days} ledger rows={rows:,}")
    for model, seconds in timings.items():
        print(f"  {model:<28} {seconds:8.2f} s")
    print(f"  block-wise walk total        {blockwise:8.2f} s")
    if not args.no_reference:
        started = time.perf_counter()
        con.execute(f"create table one_walk as {one_walk_sql()}")
        reference = time.perf_counter() - started
        differing = con.execute(
            "select count(*) from (select * from one_walk except all select * from int_credit_ledger_daily)"
        ).fetchone()[0]
        print(f"  one recording walk           {reference:8.2f} s  ({reference / blockwise:.1f}x the block-wise walk)")
        print(f"  rows differing               {differing:8d}")
        if differing:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
