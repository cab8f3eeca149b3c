{# The Communications Credits balance, day by day: what was funded (recorded or simulated
   auto-recharge), forfeited by expiry, charged, drawn and left. One row per tenant, currency and
   billing day from its first funding or charge to the latest day built. #}
with

ledger as (

    select * from {{ ref('int_credit_ledger_daily') }}

),

ledger_days as (

    select * from {{ ref('int_credit_days') }}

),

days as (

    select
        tenant_id,
        currency,
        ledger_date as balance_date,
        opening_balance,
        funded_amount,
        auto_recharges as simulated_recharges,
        auto_recharge_amount as simulated_recharge_amount,
        forfeited_amount,
        charges,
        drawn_amount,
        unfunded_amount,
        closing_balance,
        funded_total,
        consumed_total
    from ledger

),

final as (

    select
        days.tenant_id,
        days.currency,
        days.balance_date,
        cast({{ dbt.date_trunc('month', 'days.balance_date') }} as date) as billing_month,
        days.opening_balance,
        days.funded_amount,
        days.simulated_recharges,
        days.simulated_recharge_amount,
        days.forfeited_amount,
        days.charges,
        days.drawn_amount,
        days.unfunded_amount,
        days.closing_balance,
        days.funded_total,
        days.consumed_total,
        ledger_days.auto_recharge_enabled,
        case when ledger_days.auto_recharge_enabled then ledger_days.trigger_amount end as trigger_amount,
        case when ledger_days.auto_recharge_enabled then ledger_days.recharge_amount end as recharge_amount,
        ledger_days.recorded_recharge_due
    from days
    inner join ledger_days
        on days.tenant_id = ledger_days.tenant_id
            and days.currency = ledger_days.currency
            and days.balance_date = ledger_days.ledger_date

)

select * from final
