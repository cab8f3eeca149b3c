"""Great Expectations on the marts before they are published (the nightly's last gate): keys,
closed vocabularies and ranges that BI users rely on. dbt tests guard the DAG; this checks the
published product once more with an independent tool.

It reads only the columns the expectations use, of a fact table only the rows rated by the latest
run (tonight's work; dbt's tests have checked the whole table), and at most `MAX_ROWS` of them
(a repeatable reservoir sample): at 100M rows a mart must not be copied into pandas whole."""

from __future__ import annotations

import os
from pathlib import Path

from pstn.ingest.quality import expectation_columns, quiet_gx
from pstn.settings import PROJECT_ROOT


def accepted_values(model: str, column: str) -> list:
    """The closed vocabulary of a mart's column as its dbt YAML declares it (the accepted_values
    test): one statement of each vocabulary, which dbt's tests and these checks both use."""
    import yaml

    project = Path(os.environ.get("PSTN_PROJECT_DIR", PROJECT_ROOT))
    for path in sorted((project / "models").rglob("*.yml")):
        for node in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if node.get("name") != model:
                continue
            for col in node.get("columns", []):
                for test in col.get("data_tests", []) if col.get("name") == column else []:
                    if isinstance(test, dict) and "accepted_values" in test:
                        return list(test["accepted_values"]["arguments"]["values"])
    raise LookupError(f"no accepted_values test on {model}.{column} in the dbt YAML")


# One pool: the dial-out pool, or a Calling Plan pool by country and minute type (MCOPSTN8 by user).
POOL_GRAIN = ("tenant_id", "pool_capability", "pool_country", "minute_type", "pool_user_id")


def _suites(gx) -> dict[str, list]:
    e = gx.expectations
    capabilities = accepted_values("fct_pstn_calls", "rated_capability")
    reasons = accepted_values("fct_pstn_calls", "charge_reason")
    return {
        "fct_pstn_calls": [
            e.ExpectCompoundColumnsToBeUnique(column_list=["tenant_id", "usage_id"]),
            e.ExpectColumnValuesToBeInSet(column="rated_capability", value_set=capabilities),
            e.ExpectColumnValuesToBeInSet(column="charge_reason", value_set=reasons),
            e.ExpectColumnValuesToBeBetween(column="pooled_seconds", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="overflow_seconds", min_value=0),
            e.ExpectColumnValuesToNotBeNull(column="rated_charge"),
        ],
        "fct_pool_consumption_daily": [
            e.ExpectCompoundColumnsToBeUnique(column_list=[*POOL_GRAIN, "usage_date"]),
            e.ExpectColumnValuesToBeBetween(column="utilization_pct", min_value=0),
            e.ExpectColumnValuesToBeBetween(column="remaining_minutes", min_value=0),
        ],
        "rpt_monthly_pool_usage": [
            e.ExpectCompoundColumnsToBeUnique(column_list=[*POOL_GRAIN, "billing_month"]),
            e.ExpectColumnValuesToBeBetween(column="pool_minutes", min_value=0),
        ],
        "rpt_monthly_charges": [
            e.ExpectColumnValuesToBeInSet(column="rated_capability", value_set=capabilities),
            e.ExpectColumnValuesToNotBeNull(column="rated_charge"),
        ],
        "fct_pool_alerts": [
            e.ExpectColumnValuesToBeInSet(column="threshold_pct", value_set=[50, 60, 70, 75, 80, 90, 95, 100]),
            e.ExpectColumnValuesToNotBeNull(column="usage_id"),
        ],
    }


MAX_ROWS = int(os.environ.get("PSTN_MART_CHECK_MAX_ROWS", "1000000"))


def _columns(expectations: list) -> list[str]:
    names: list[str] = []
    for expectation in expectations:
        for name in expectation_columns(expectation.configuration):
            if name not in names:
                names.append(name)
    return names


def mart_query(con, mart: str, columns: list[str], max_rows: int = MAX_ROWS) -> str:
    """The rows and columns of `mart` the suite reads."""
    present = {row[0] for row in con.execute(f"describe marts.{mart}").fetchall()}
    where = f"where rated_at = (select max(rated_at) from marts.{mart})" if "rated_at" in present else ""
    selected = ", ".join(f'"{c}"' for c in columns)
    return (
        f"select * from (select {selected} from marts.{mart} {where}) as checked "
        f"using sample reservoir({max_rows} rows) repeatable (7)"
    )


def validate_marts(warehouse: Path) -> list[str]:
    """Run the suites on the marts of `warehouse`; returns a description of every failure."""
    import duckdb

    gx = quiet_gx()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas("published_marts")
    problems = []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for mart, expectations in _suites(gx).items():
            try:
                frame = con.execute(mart_query(con, mart, _columns(expectations))).df()
            except duckdb.CatalogException as exc:
                problems.append(f"{mart}: cannot be read ({exc})")
                continue
            batch = (
                source.add_dataframe_asset(mart)
                .add_batch_definition_whole_dataframe("all")
                .get_batch(batch_parameters={"dataframe": frame})
            )
            for expectation in expectations:
                result = batch.validate(expectation)
                if not result.success:
                    problems.append(f"{mart}: {expectation.expectation_type} {dict(expectation.configuration.kwargs)}")
    return problems
