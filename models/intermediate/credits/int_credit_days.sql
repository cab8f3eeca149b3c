{{ config(materialized='table') }}

{# The inputs of the credits ledger: one row per tenant, currency and billing day, from the
   tenant's first funding or credits charge to the latest day built (or its latest funding, if
   later), with that day's rated MCOPSTNPP charges, recorded fundings (as lots: expiry day and
   end within the day), and the auto-recharge settings in force. Only tenants that supplied a
   credits file (fundings or auto-recharge settings) get a ledger. #}
with

funding_lots as (

    select * from {{ ref('int_credit_funding_lots') }}

),

settings as (

    select * from {{ ref('stg_archive__credit_settings') }}

),

charges as (

    {#- The one intermediate model that reads a mart: the rated charges are a table only there
        (int_calls_priced is a view; pricing every call again would cost as much as fct_pstn_calls). #}
    select * from {{ ref('fct_charges_mcopstnpp') }}

),

pool_days as (

    select * from {{ ref('int_pool_days') }}

),

credit_tenants as (

    {#- Tenants billed pay-as-you-go have no ledger (no balance, expiry or recharge). #}
    select tenant_id from funding_lots
    union
    select tenant_id from settings
    where {{ billing_model('tenant_id') }} = 'prepaid'

),

daily_charges as (

    select
        charges.tenant_id,
        charges.currency,
        charges.billing_date as ledger_date,
        cast(sum(coalesce(charges.rated_charge, 0)) as {{ credits_money_type() }}) as charges
    from charges
    inner join credit_tenants on charges.tenant_id = credit_tenants.tenant_id
    group by charges.tenant_id, charges.currency, charges.billing_date

),

daily_fundings as (

    select
        tenant_id,
        currency,
        funded_date as ledger_date,
        cast(sum(amount) as {{ credits_money_type() }}) as funded_amount,
        {{ collect_ordered(
            typed_struct(credits_new_lot_fields(), {'expires_on': 'expires_on', 'offset_end': 'offset_end'}),
            'offset_end'
        ) }} as new_lots
    from funding_lots
    group by tenant_id, currency, funded_date

),

latest_day as (

    select max(usage_date) as latest_date from pool_days

),

ledger_bounds as (

    select
        tenant_id,
        currency,
        min(ledger_date) as first_date,
        max(ledger_date) as last_date
    from (
        select
            tenant_id,
            currency,
            ledger_date
        from daily_charges
        union all
        select
            tenant_id,
            currency,
            ledger_date
        from daily_fundings
    ) as events
    group by tenant_id, currency

),

spine as (

    select
        ledger_bounds.tenant_id,
        ledger_bounds.currency,
        {{ explode_days(
            'ledger_bounds.first_date',
            'greatest(ledger_bounds.last_date, coalesce(latest_day.latest_date, ledger_bounds.last_date))'
        ) }} as ledger_date
    from ledger_bounds
    cross join latest_day

),

settings_ranges as (

    select
        tenant_id,
        currency,
        effective_from,
        {{ add_days(
            'lead(effective_from) over (partition by tenant_id order by effective_from)', -1
        ) }} as effective_to,
        cast(trigger_amount as {{ credits_money_type() }}) as trigger_amount,
        cast(recharge_amount as {{ credits_money_type() }}) as recharge_amount,
        is_enabled
    from settings

),

{# A recharge the funding file records within the next few days is the one the ledger would
   simulate: on the days leading up to it, it is not simulated a second time. #}
recorded_recharge_days as (

    select distinct
        tenant_id,
        currency,
        {{ explode_days(
            add_days('funded_date', -var('credits_recharge_match_days', 3)), 'funded_date'
        ) }} as ledger_date
    from funding_lots
    where kind = 'auto_recharge'

),

days as (

    select
        spine.tenant_id,
        spine.currency,
        spine.ledger_date,
        coalesce(daily_charges.charges, 0) as charges,
        coalesce(daily_fundings.funded_amount, 0) as funded_amount,
        coalesce(daily_fundings.new_lots, {{ empty_array(credits_new_lot_fields()) }}) as new_lots,
        settings_ranges.trigger_amount,
        settings_ranges.recharge_amount,
        coalesce(settings_ranges.is_enabled, false) as auto_recharge_enabled,
        recorded_recharge_days.ledger_date is not null as recorded_recharge_due
    from spine
    left join daily_charges
        on spine.tenant_id = daily_charges.tenant_id
            and spine.currency = daily_charges.currency
            and spine.ledger_date = daily_charges.ledger_date
    left join daily_fundings
        on spine.tenant_id = daily_fundings.tenant_id
            and spine.currency = daily_fundings.currency
            and spine.ledger_date = daily_fundings.ledger_date
    left join settings_ranges
        on spine.tenant_id = settings_ranges.tenant_id
            and (settings_ranges.currency is null or spine.currency = settings_ranges.currency)
            and spine.ledger_date >= settings_ranges.effective_from
            and spine.ledger_date <= {{ open_end_date('settings_ranges.effective_to') }}
    left join recorded_recharge_days
        on spine.tenant_id = recorded_recharge_days.tenant_id
            and spine.currency = recorded_recharge_days.currency
            and spine.ledger_date = recorded_recharge_days.ledger_date

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(ledger_date as date) as ledger_date,
        cast(charges as {{ credits_money_type() }}) as charges,
        cast(funded_amount as {{ credits_money_type() }}) as funded_amount,
        new_lots,
        cast(coalesce(trigger_amount, 0) as {{ credits_money_type() }}) as trigger_amount,
        cast(coalesce(recharge_amount, 0) as {{ credits_money_type() }}) as recharge_amount,
        cast(auto_recharge_enabled as boolean) as auto_recharge_enabled,
        cast(recorded_recharge_due as boolean) as recorded_recharge_due,
        cast(auto_recharge_enabled and not recorded_recharge_due as boolean) as recharge_enabled
    from days

)

select * from final
