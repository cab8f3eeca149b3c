"""A FOCUS-shaped export of Teams telephony charges (FinOps Open Cost and Usage Specification 1.2
column names; our own columns prefixed `x_`), so FinOps tools ingest Teams spend beside cloud
spend. One row per call charged to Communications Credits (BilledCost = the rated charge) and
per call drawing on the dial-out pool (BilledCost 0, ListCost = what it would have cost)."""

from __future__ import annotations

from pathlib import Path

FOCUS_SQL = """
with calls as (
    select * from marts.fct_pstn_calls
    where rated_capability = 'MCOPSTNPP' or pooled_seconds > 0
)
select
    cast(case when rated_capability = 'MCOPSTNPP' then rated_charge else 0 end as decimal(18, 2)) as BilledCost,
    cast(case when rated_capability = 'MCOPSTNPP' then rated_charge else 0 end as decimal(18, 2)) as EffectiveCost,
    cast(case when rated_capability = 'MCOPSTNPP' then rated_charge else 0 end as decimal(18, 2)) as ContractedCost,
    cast(
        case when rated_capability = 'MCOPSTNPP' then charge_at_credit_rates else pooled_value_at_credit_rates end
        as decimal(18, 2)
    ) as ListCost,
    tenant_id as BillingAccountId,
    tenant_id as BillingAccountName,
    'Tenant' as BillingAccountType,
    currency as BillingCurrency,
    cast(billing_month as timestamp) as BillingPeriodStart,
    cast(billing_month + interval 1 month as timestamp) as BillingPeriodEnd,
    'Usage' as ChargeCategory,
    cast(null as varchar) as ChargeClass,
    concat(
        'Teams meeting ', replace(call_direction, '_', '-'), ' to ', coalesce(destination_country, 'unknown'),
        case when rated_capability = 'MCOPSTNPP' then concat(' on Communications Credits (', charge_reason, ')')
             else ' from the Audio Conferencing dial-out pool' end
    ) as ChargeDescription,
    'Usage-Based' as ChargeFrequency,
    start_at as ChargePeriodStart,
    end_at as ChargePeriodEnd,
    cast(case when rated_capability = 'MCOPSTNPP' then billable_minutes else pooled_minutes end as decimal(18, 4))
        as ConsumedQuantity,
    'Minutes' as ConsumedUnit,
    cast(case when rated_capability = 'MCOPSTNPP' then billable_minutes else pooled_minutes end as decimal(18, 4))
        as PricingQuantity,
    'Minutes' as PricingUnit,
    'Standard' as PricingCategory,
    rate_per_minute as ListUnitPrice,
    rate_per_minute as ContractedUnitPrice,
    'Microsoft' as ProviderName,
    'Microsoft' as PublisherName,
    'Microsoft' as InvoiceIssuerName,
    'Microsoft Teams Audio Conferencing' as ServiceName,
    'Business Applications' as ServiceCategory,
    usage_id as ResourceId,
    call_id as ResourceName,
    'PSTN call' as ResourceType,
    case when rated_capability = 'MCOPSTNPP' then 'MCOPSTNPP' else 'MCOMEETADD' end as SkuId,
    concat(coalesce(destination_country, '?'), ':', number_type) as SkuPriceId,
    tenant_id as SubAccountId,
    tenant_id as SubAccountName,
    to_json({'department': department, 'destination_country': destination_country}) as Tags,
    usage_id as x_UsageId,
    rated_capability as x_RatedCapability,
    charge_reason as x_ChargeReason,
    department as x_Department,
    destination_country as x_DestinationCountry,
    destination_zone as x_DestinationZone,
    number_type as x_NumberType,
    pooled_minutes as x_PooledMinutes,
    overflow_minutes as x_OverflowMinutes,
    user_principal_name as x_OrganizerUserPrincipalName,
    reported_capability as x_ReportedCapability,
    reported_charge as x_ReportedCharge
from calls
"""


def spreadsheet_safe(relation: str, con) -> str:
    """A select of `relation` whose text cells cannot run in a spreadsheet: a cell starting with
    `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe (OWASP's advice on
    CSV injection), which spreadsheets show as text. For CSV only: Parquet keeps values as they are."""
    columns = con.execute(f"select * from ({relation}) limit 0").description
    selected = []
    for name, kind, *_ in columns:
        quoted = '"' + name.replace('"', '""') + '"'
        if str(kind).upper() in ("VARCHAR", "STRING"):
            risky = f"left({quoted}, 1) in ('=', '+', '-', '@', chr(9), chr(13))"
            selected.append(f"case when {risky} then concat(chr(39), {quoted}) else {quoted} end as {quoted}")
        else:
            selected.append(quoted)
    return f"select {', '.join(selected)} from ({relation})"


def write_focus_export(warehouse: Path, folder: Path) -> int:
    """Write focus_charges.parquet and .csv into `folder`; returns the number of rows."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute(f"copy ({FOCUS_SQL}) to '{folder / 'focus_charges.parquet'}' (format parquet)")
        safe = spreadsheet_safe(FOCUS_SQL, con)
        con.execute(f"copy ({safe}) to '{folder / 'focus_charges.csv'}' (header, delimiter ',')")
        return con.execute(f"select count(*) from ({FOCUS_SQL})").fetchone()[0]
