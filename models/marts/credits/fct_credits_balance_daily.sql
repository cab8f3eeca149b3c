{# The Communications Credits balance, day by day: what was funded (recorded or simulated
   auto-recharge), forfeited by expiry, charged, drawn and left. One row per tenant, currency and
   billing day from its first funding or charge to the latest day built. #}
with

walked as (

    select * from {{ ref('int_credit_ledger_walked') }}

),

ledger_days as (

    select * from {{ ref('int_credit_days') }}

),

walked_days as (

    select
        tenant_id,
        currency,
        {{ explode_array('days') }} as ledger_day
    from walked

),

days as (

    select
        tenant_id,
        currency,
        ledger_day.ledger_date as balance_date,
        ledger_day.opening_balance as opening_balance,
        ledger_day.funded_amount as funded_amount,
        ledger_day.auto_recharges as simulated_recharges,
        ledger_day.auto_recharge_amount as simulated_recharge_amount,
        ledger_day.forfeited_amount as forfeited_amount,
        ledger_day.charges as charges,
        ledger_day.drawn_amount as drawn_amount,
        ledger_day.unfunded_amount as unfunded_amount,
        ledger_day.closing_balance as closing_balance,
        ledger_day.funded_total as funded_total,
        ledger_day.consumed_total as consumed_total
    from walked_days

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
