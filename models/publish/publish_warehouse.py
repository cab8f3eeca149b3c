"""Publishes the marts to $PSTN_WAREHOUSE, the file BI tools open, once every mart is built and
has passed its tests (dbt runs this model after all of them). One row per table published."""

from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from pstn.serve.warehouse import publish_marts


def model(dbt, session):
    dbt.config(materialized="table")
    # Every mart, written out: dbt reads a Python model's dependencies from literal refs only.
    marts = {
        "fct_alerts": dbt.ref("fct_alerts"),
        "fct_charge_discrepancies": dbt.ref("fct_charge_discrepancies"),
        "fct_charges_mcomeetadd": dbt.ref("fct_charges_mcomeetadd"),
        "fct_charges_mcopstnpp": dbt.ref("fct_charges_mcopstnpp"),
        "fct_credits_balance_daily": dbt.ref("fct_credits_balance_daily"),
        "fct_credits_lots": dbt.ref("fct_credits_lots"),
        "fct_focus_charges": dbt.ref("fct_focus_charges"),
        "fct_pool_alerts": dbt.ref("fct_pool_alerts"),
        "fct_pool_consumption_daily": dbt.ref("fct_pool_consumption_daily"),
        "fct_pstn_calls": dbt.ref("fct_pstn_calls"),
        "rpt_credits_forecast": dbt.ref("rpt_credits_forecast"),
        "rpt_ingest_rejections": dbt.ref("rpt_ingest_rejections"),
        "rpt_monthly_charges": dbt.ref("rpt_monthly_charges"),
        "rpt_monthly_blocked_calls": dbt.ref("rpt_monthly_blocked_calls"),
        "rpt_monthly_charges_by_administrative_unit": dbt.ref("rpt_monthly_charges_by_administrative_unit"),
        "rpt_monthly_charges_by_department": dbt.ref("rpt_monthly_charges_by_department"),
        "rpt_monthly_destinations": dbt.ref("rpt_monthly_destinations"),
        "rpt_monthly_organizers": dbt.ref("rpt_monthly_organizers"),
        "rpt_monthly_pool_usage": dbt.ref("rpt_monthly_pool_usage"),
        "rpt_monthly_reconciliation": dbt.ref("rpt_monthly_reconciliation"),
        "rpt_pool_forecast": dbt.ref("rpt_pool_forecast"),
        "rpt_unknown_skus": dbt.ref("rpt_unknown_skus"),
    }
    target = Path(dbt.config.get("published_warehouse")).resolve()
    start_from = dbt.config.get("published_from")
    published = publish_marts(session, target, list(marts), Path(start_from).resolve() if start_from else None)
    now = datetime.now(UTC).replace(tzinfo=None)
    return pa.table(
        {
            "table_name": [table for table, _ in published],
            "row_count": pa.array([count for _, count in published], pa.int64()),
            "published_at": pa.array([now] * len(published), pa.timestamp("us")),
            "published_to": [str(target)] * len(published),
        }
    )
