"""Great Expectations on the marts before they are published (the nightly's last gate): keys,
closed vocabularies and ranges that BI users rely on. dbt tests guard the DAG; this checks the
published product once more with an independent tool."""

from __future__ import annotations

from pathlib import Path

from pstn.quality import quiet_gx

CAPABILITIES = ["MCOMEETADD", "MCOPSTNPP", "included", "blocked", "out_of_scope"]
REASONS = [
    "pool_exhausted",
    "outside_zone_a",
    "premium_number",
    "toll_free_dial_in",
    "pay_per_minute",
    "not_pool_eligible",
]


def _suites(gx) -> dict[str, list]:
    e = gx.expectations
    return {
        "fct_pstn_calls": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["tenant_id", "usage_id"]),
            e.ExpectColumnValuesToBeInSet(column="rated_capability", value_set=CAPABILITIES),
            e.ExpectColumnValuesToBeInSet(column="charge_reason", value_set=REASONS),
            e.ExpectColumnValuesToBeBetween(column="pooled_seconds", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="overflow_seconds", min_value=0),
            e.ExpectColumnValuesToNotBeNull(column="rated_charge"),
        ],
        "fct_pool_consumption_daily": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["tenant_id", "pool_capability", "usage_date"]),
            e.ExpectColumnValuesToBeBetween(column="utilization_pct", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="remaining_minutes", min_value=0),
        ],
        "rpt_monthly_pool_usage": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["tenant_id", "pool_capability", "billing_month"]),
            e.ExpectColumnValuesToBeBetween(column="pool_minutes", min_value=0),
        ],
        "rpt_monthly_charges": [
            e.ExpectColumnValuesToBeInSet(column="rated_capability", value_set=CAPABILITIES),
            e.ExpectColumnValuesToNotBeNull(column="rated_charge"),
        ],
        "fct_pool_alerts": [
            e.ExpectColumnValuesToBeInSet(column="threshold_pct", value_set=[50, 60, 70, 75, 80, 90, 95, 100]),
            e.ExpectColumnValuesToNotBeNull(column="usage_id"),
        ],
    }


def validate_marts(warehouse: Path) -> list[str]:
    """Run the suites on the marts of `warehouse`; returns a description of every failure."""
    import duckdb

    gx = quiet_gx()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("published_marts")
    problems = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart, expectations in _suites(gx).items():
            frame = con.execute(f"select * from marts.{mart}").df()
            batch = (
                source.add_dataframe_asset(mart)
                .add_batch_definition_whole_dataframe("all")
                .get_batch(batch_parameters={"dataframe": frame})
            )
            for expectation in expectations:
                result = batch.validate(expectation)
                if not result.success:
                    problems.append(
                        f"{mart}: {expectation.expectation_type} {expectation.model_dump(exclude_none=True)}"
                    )
    return problems
