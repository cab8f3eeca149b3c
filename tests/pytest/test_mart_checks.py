"""The nightly's Great Expectations gate reads tonight's rows, only the columns it checks, and a
bounded sample: a 100M-row mart must never be copied into pandas whole."""

from __future__ import annotations

import duckdb

from pstn.ops import mart_checks


def test_gate_reads_the_latest_rated_rows_and_caps_them(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            """create table marts.fct_pstn_calls as
               select 't' as tenant_id, 'u' || i as usage_id, 'MCOMEETADD' as rated_capability,
                      timestamp '2024-01-01' + to_days(cast(i % 2 as integer)) as rated_at, 'x' as other
               from range(5000) as r(i)"""
        )
        con.execute("create table marts.rpt_monthly_charges as select 'included' as rated_capability")
        query = mart_checks.mart_query(con, "fct_pstn_calls", ["tenant_id", "usage_id"], max_rows=1000)
        rows = con.execute(query).fetchall()
        assert len(rows) == 1000
        assert len(rows[0]) == 2
        tonight = "select usage_id from marts.fct_pstn_calls where rated_at > '2024-01-01'"
        latest = {r[0] for r in con.execute(tonight).fetchall()}
        assert {usage_id for _, usage_id in rows} <= latest
        # A mart without rated_at is read whole (up to the cap).
        assert con.execute(mart_checks.mart_query(con, "rpt_monthly_charges", ["rated_capability"])).fetchall() == [
            ("included",)
        ]


def test_gate_names_a_failing_expectation(tmp_path):
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            """create table marts.rpt_monthly_charges as
               select * from (values ('included', 0.0), ('teleported', null)) as t(rated_capability, rated_charge)"""
        )
    problems = [p for p in mart_checks.validate_marts(warehouse) if p.startswith("rpt_monthly_charges")]
    assert any("expect_column_values_to_be_in_set" in p for p in problems)
    assert any("expect_column_values_to_not_be_null" in p for p in problems)
    assert any(p.startswith("fct_pstn_calls: cannot be read") for p in mart_checks.validate_marts(warehouse))


def test_vocabularies_come_from_the_dbt_yaml():
    """The gate's closed vocabularies are the ones the marts' YAML states, not a copy."""
    import pytest

    capabilities = mart_checks.accepted_values("fct_pstn_calls", "rated_capability")
    reasons = mart_checks.accepted_values("fct_pstn_calls", "charge_reason")
    plans = {"MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN6", "MCOPSTN8"}
    assert {"MCOMEETADD", "MCOPSTNPP", "included", "blocked", "out_of_scope"} | plans == set(capabilities)
    assert {"pool_exhausted", "premium_number", "calling_plan_exhausted", "international_not_in_plan"} <= set(reasons)
    with pytest.raises(LookupError):
        mart_checks.accepted_values("fct_pstn_calls", "usage_id")
