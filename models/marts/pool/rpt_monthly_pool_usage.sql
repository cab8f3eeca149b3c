{# The monthly history: one row per tenant, pool and month (every pool of fct_pool_consumption_daily).
   `pool_minutes` is the capacity on the month's last day (for the current month, on the latest day
   built). The value at credit rates is the dial-out pool's (fct_charges_mcomeetadd). #}
{%- set grain = pool_grain() | join(', ') %}
with

daily as (

    select * from {{ ref('fct_pool_consumption_daily') }}

),

charges_mcomeetadd as (

    select * from {{ ref('fct_charges_mcomeetadd') }}

),

last_days as (

    select
        daily.*,
        row_number() over (
            partition by {{ grain }}, billing_month order by usage_date desc
        ) as day_rank_from_end
    from daily

),

monthly as (

    select
        {{ grain }},
        billing_month,
        max(usage_date) as last_usage_date,
        sum(seconds_used) as seconds_used,
        sum(overflow_seconds) as overflow_seconds,
        sum(calls) as calls,
        min(case when is_exhausted then usage_date end) as exhausted_on,
        sum(case when is_licence_assumed then 1 else 0 end) as licence_assumed_days
    from daily
    group by {{ grain }}, billing_month

),

pool_value as (

    select
        tenant_id,
        billing_month,
        currency,
        sum(value_at_credit_rates) as value_at_credit_rates
    from charges_mcomeetadd
    group by tenant_id, billing_month, currency

),

pool_value_single_currency as (

    {# The value is shown when a month's pooled calls are priced in one currency. #}
    select
        tenant_id,
        billing_month,
        max(currency) as currency,
        max(value_at_credit_rates) as value_at_credit_rates
    from pool_value
    group by tenant_id, billing_month
    having count(*) = 1

),

final as (

    select
        cast(monthly.tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(monthly.pool_capability as {{ dbt.type_string() }}) as pool_capability,
        cast(monthly.billing_month as date) as billing_month,
        cast(monthly.last_usage_date as date) as last_usage_date,
        cast(last_days.licensed_users as bigint) as licensed_users,
        cast(last_days.pool_seconds as bigint) as pool_seconds,
        {{ seconds_to_minutes('last_days.pool_seconds') }} as pool_minutes,
        cast(monthly.seconds_used as bigint) as seconds_used,
        {{ seconds_to_minutes('monthly.seconds_used') }} as minutes_used,
        cast(
            case
                when last_days.pool_seconds > 0 then {{ percentage('monthly.seconds_used', 'last_days.pool_seconds') }}
            end as decimal(9, 2)
        ) as utilization_pct,
        cast(monthly.overflow_seconds as bigint) as overflow_seconds,
        {{ seconds_to_minutes('monthly.overflow_seconds') }} as overflow_minutes,
        cast(monthly.calls as bigint) as calls,
        cast(monthly.exhausted_on as date) as exhausted_on,
        cast(pool_value_single_currency.value_at_credit_rates as decimal(18, 2)) as value_at_credit_rates,
        cast(pool_value_single_currency.currency as {{ dbt.type_string() }}) as value_currency,
        cast(monthly.licence_assumed_days as bigint) as licence_assumed_days,
        cast(monthly.pool_country as {{ dbt.type_string() }}) as pool_country,
        cast(monthly.minute_type as {{ dbt.type_string() }}) as minute_type,
        cast(monthly.pool_user_id as {{ dbt.type_string() }}) as pool_user_id
    from monthly
    inner join last_days
        on {{ same_pool('monthly', 'last_days') }}
            and monthly.billing_month = last_days.billing_month
            and last_days.day_rank_from_end = 1
    left join pool_value_single_currency
        on monthly.tenant_id = pool_value_single_currency.tenant_id
            and monthly.billing_month = pool_value_single_currency.billing_month
            and monthly.pool_capability = 'MCOMEETADD'

)

select * from final
