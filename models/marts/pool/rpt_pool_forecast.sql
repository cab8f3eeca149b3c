{# The month in progress, projected to its end: one row per tenant and pool for its latest
   billing month, as of the latest day built. Demand (pooled + overflow seconds of pool-eligible
   calls) continues at the month-to-date daily rate; what exceeds the capacity is overflow,
   priced at the credit rates of this month's pooled calls (their destination mix). Integer
   arithmetic throughout, so both engines give the same cents. Every pool of
   fct_pool_consumption_daily; a call is counted in the first pool it drew on, so the per-user
   MCOPSTN8 pools carry no prices. #}
{%- set grain = pool_grain() | join(', ') %}
with

daily as (

    select * from {{ ref('fct_pool_consumption_daily') }}

),

calls as (

    select * from {{ ref('fct_pstn_calls') }}

),

latest_months as (

    select
        {{ grain }},
        max(billing_month) as billing_month
    from daily
    group by {{ grain }}

),

month_days as (

    select daily.*
    from daily
    inner join latest_months
        on {{ same_pool('daily', 'latest_months') }}
            and daily.billing_month = latest_months.billing_month

),

month_to_date as (

    select
        {{ grain }},
        billing_month,
        max(usage_date) as as_of_date,
        count(*) as days_elapsed,
        sum(seconds_used) as mtd_seconds_used,
        sum(overflow_seconds) as mtd_overflow_seconds,
        min(case when is_exhausted then usage_date end) as exhausted_on
    from month_days
    group by {{ grain }}, billing_month

),

as_of as (

    select
        month_to_date.*,
        month_days.pool_seconds,
        month_days.licensed_users,
        month_days.projected_exhaustion_date,
        cast(
            {{ dbt.datediff('month_to_date.billing_month', add_months('month_to_date.billing_month', 1), 'day') }}
            as bigint
        ) as days_in_month
    from month_to_date
    inner join month_days
        on {{ same_pool('month_to_date', 'month_days') }}
            and month_to_date.as_of_date = month_days.usage_date

),

month_calls as (

    select
        calls.tenant_id,
        calls.pool_capability,
        calls.pool_country,
        calls.minute_type,
        max(calls.currency) as currency,
        count(distinct calls.currency) as currencies,
        sum(case when calls.pooled_seconds > 0 then calls.pooled_seconds else 0 end) as pooled_seconds,
        sum({{ to_cents('coalesce(calls.pooled_value_at_credit_rates, 0)') }}) as pooled_value_cents,
        sum(
            case
                when calls.charge_reason in ('pool_exhausted', 'calling_plan_exhausted')
                    then {{ to_cents('coalesce(calls.rated_charge, 0)') }}
                else 0
            end
        ) as overflow_charge_cents,
        sum(
            case
                when calls.charge_reason in ('pool_exhausted', 'calling_plan_exhausted') and calls.is_blocked
                    then calls.overflow_seconds
                else 0
            end
        ) as blocked_overflow_seconds
    from calls
    inner join latest_months
        on calls.tenant_id = latest_months.tenant_id
            and calls.pool_capability = latest_months.pool_capability
            and calls.pool_country is not distinct from latest_months.pool_country
            and calls.minute_type = latest_months.minute_type
            and calls.billing_month = latest_months.billing_month
            and latest_months.pool_capability <> 'MCOPSTN8'
    where calls.pool_capability is not null
    group by calls.tenant_id, calls.pool_capability, calls.pool_country, calls.minute_type

),

projected as (

    select
        as_of.*,
        month_calls.currency,
        month_calls.currencies,
        month_calls.overflow_charge_cents,
        month_calls.blocked_overflow_seconds,
        as_of.mtd_seconds_used + as_of.mtd_overflow_seconds as mtd_demand_seconds,
        {{ divide_rounded(
            '(as_of.mtd_seconds_used + as_of.mtd_overflow_seconds) * as_of.days_in_month', 'as_of.days_elapsed'
        ) }} as projected_demand_seconds,
        {# Credit rate of a pooled minute, in 1/10,000 of the currency unit. #}
        case
            when month_calls.pooled_seconds > 0
                then {{ divide_rounded('month_calls.pooled_value_cents * 6000', 'month_calls.pooled_seconds') }}
        end as rate_per_minute_e4
    from as_of
    left join month_calls
        on as_of.tenant_id = month_calls.tenant_id
            and as_of.pool_capability = month_calls.pool_capability
            and as_of.pool_country is not distinct from month_calls.pool_country
            and as_of.minute_type = month_calls.minute_type

),

overflow as (

    select
        projected.*,
        greatest(projected.projected_demand_seconds - projected.pool_seconds, 0) as projected_overflow_seconds,
        greatest(
            greatest(projected.projected_demand_seconds - projected.pool_seconds, 0) - projected.mtd_overflow_seconds, 0
        ) as additional_overflow_seconds
    from projected

),

final as (

    select
        tenant_id,
        pool_capability,
        billing_month,
        as_of_date,
        cast(days_elapsed as bigint) as days_elapsed,
        cast(days_in_month as bigint) as days_in_month,
        cast(as_of_date = {{ add_days(add_months('billing_month', 1), -1) }} as boolean) as is_month_complete,
        cast(licensed_users as bigint) as licensed_users,
        {{ seconds_to_minutes('pool_seconds') }} as pool_minutes,
        {{ seconds_to_minutes('mtd_seconds_used') }} as mtd_minutes_used,
        {{ seconds_to_minutes('mtd_overflow_seconds') }} as mtd_overflow_minutes,
        {{ seconds_to_minutes('mtd_demand_seconds') }} as mtd_demand_minutes,
        {{ seconds_to_minutes(divide_rounded('mtd_demand_seconds', 'days_elapsed')) }} as daily_demand_minutes,
        {{ seconds_to_minutes('projected_demand_seconds') }} as projected_demand_minutes,
        cast(
            case when pool_seconds > 0 then {{ percentage('projected_demand_seconds', 'pool_seconds') }} end
            as decimal(9, 2)
        ) as projected_utilization_pct,
        exhausted_on,
        coalesce(exhausted_on, projected_exhaustion_date) as projected_exhaustion_date,
        {{ seconds_to_minutes('projected_overflow_seconds') }} as projected_overflow_minutes,
        {{ seconds_to_minutes('additional_overflow_seconds') }} as projected_additional_overflow_minutes,
        currency,
        cast(
            cast(rate_per_minute_e4 as decimal(18, 0)) * cast(0.0001 as decimal(5, 4)) as decimal(18, 4)
        ) as credit_rate_per_minute,
        {{ cents_to_money('coalesce(overflow_charge_cents, 0)') }} as overflow_cost_to_date,
        {{ cents_to_money(
            divide_rounded('additional_overflow_seconds * rate_per_minute_e4', '6000')
        ) }} as projected_additional_overflow_cost,
        {{ cents_to_money(
            'coalesce(overflow_charge_cents, 0) + '
            ~ divide_rounded('additional_overflow_seconds * rate_per_minute_e4', '6000')
        ) }} as projected_overflow_cost,
        {{ seconds_to_minutes('coalesce(blocked_overflow_seconds, 0)') }} as blocked_overflow_minutes,
        cast(pool_country as {{ dbt.type_string() }}) as pool_country,
        cast(minute_type as {{ dbt.type_string() }}) as minute_type,
        cast(pool_user_id as {{ dbt.type_string() }}) as pool_user_id
    from overflow

)

select * from final
