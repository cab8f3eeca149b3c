{# The daily burn-down Microsoft's admin center does not show: one row per tenant, pool and
   billing day of every month with calls (zero days included), with the day's capacity, use,
   month-to-date use, what remains, and when the pool runs (or will run) out. #}
with

capacity as (

    select * from {{ ref('int_pool_capacity_daily') }}

),

allocation as (

    select * from {{ ref('int_pool_allocated') }}

),

daily_use as (

    select
        tenant_id,
        pool_capability,
        usage_date,
        sum(pooled_seconds) as seconds_used,
        sum(overflow_seconds) as overflow_seconds,
        count(*) as calls
    from allocation
    group by tenant_id, pool_capability, usage_date

),

days as (

    select
        capacity.tenant_id,
        capacity.pool_capability,
        capacity.billing_month,
        capacity.usage_date,
        capacity.day_of_month,
        capacity.licence_basis,
        capacity.licensed_users,
        capacity.is_licence_assumed,
        capacity.minutes_per_user,
        capacity.capacity_seconds as pool_seconds,
        coalesce(daily_use.seconds_used, 0) as seconds_used,
        coalesce(daily_use.overflow_seconds, 0) as overflow_seconds,
        coalesce(daily_use.calls, 0) as calls
    from capacity
    left join daily_use
        on capacity.tenant_id = daily_use.tenant_id
            and capacity.pool_capability = daily_use.pool_capability
            and capacity.usage_date = daily_use.usage_date

),

month_to_date as (

    select
        days.*,
        sum(seconds_used) over (
            partition by tenant_id, pool_capability, billing_month
            order by usage_date
            rows between unbounded preceding and current row
        ) as mtd_seconds_used
    from days

),

exhaustion as (

    select
        month_to_date.*,
        min(case when pool_seconds > 0 and mtd_seconds_used >= pool_seconds then usage_date end) over (
            partition by tenant_id, pool_capability, billing_month
            order by usage_date
            rows between unbounded preceding and current row
        ) as exhausted_by_date,
        greatest(pool_seconds - mtd_seconds_used, 0) as remaining_seconds,
        {# The last day of the month so far on which the pool was not used up: a pool that ran
           out, then reopened (licences added) and ran out again, ran out the day after it. #}
        max(case when not (pool_seconds > 0 and mtd_seconds_used >= pool_seconds) then usage_date end) over (
            partition by tenant_id, pool_capability, billing_month
            order by usage_date
            rows between unbounded preceding and current row
        ) as last_open_date
    from month_to_date

),

projected as (

    {# Used up today: the day it ran out (this time). Open: forward from today at the
       month-to-date rate, also after the pool reopened. #}
    select
        exhaustion.*,
        case
            when pool_seconds > 0 and mtd_seconds_used >= pool_seconds
                then coalesce({{ add_days('last_open_date', 1) }}, billing_month)
            when mtd_seconds_used > 0
                then {{ add_days(
                    'usage_date',
                    'ceil(remaining_seconds * day_of_month / cast(mtd_seconds_used as double))'
                ) }}
        end as exhaustion_estimate
    from exhaustion

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(pool_capability as {{ dbt.type_string() }}) as pool_capability,
        cast(usage_date as date) as usage_date,
        cast(billing_month as date) as billing_month,
        cast(licence_basis as {{ dbt.type_string() }}) as licence_basis,
        cast(licensed_users as bigint) as licensed_users,
        cast(minutes_per_user as bigint) as minutes_per_user,
        cast(pool_seconds as bigint) as pool_seconds,
        {{ seconds_to_minutes('pool_seconds') }} as pool_minutes,
        cast(seconds_used as bigint) as seconds_used,
        {{ seconds_to_minutes('seconds_used') }} as minutes_used,
        cast(mtd_seconds_used as bigint) as mtd_seconds_used,
        {{ seconds_to_minutes('mtd_seconds_used') }} as mtd_minutes_used,
        cast(remaining_seconds as bigint) as remaining_seconds,
        {{ seconds_to_minutes('remaining_seconds') }} as remaining_minutes,
        cast(
            case when pool_seconds > 0 then {{ percentage('mtd_seconds_used', 'pool_seconds') }} end as decimal(9, 2)
        ) as utilization_pct,
        cast(overflow_seconds as bigint) as overflow_seconds,
        {{ seconds_to_minutes('overflow_seconds') }} as overflow_minutes,
        cast(calls as bigint) as calls,
        cast(exhausted_by_date is not null as boolean) as is_exhausted,
        {# Only a date before the pool resets is a forecast worth showing. #}
        cast(
            case
                when exhaustion_estimate < {{ add_months('billing_month', 1) }} then exhaustion_estimate
            end as date
        ) as projected_exhaustion_date,
        cast(is_licence_assumed as boolean) as is_licence_assumed
    from projected

)

select * from final
