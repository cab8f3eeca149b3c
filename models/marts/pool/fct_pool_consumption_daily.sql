{# The daily burn-down Microsoft's admin center does not show: one row per tenant, pool and
   billing day of every month with calls (zero days included), with the day's capacity, use,
   month-to-date use, what remains, and when the pool runs (or will run) out. The pools: the
   Audio Conferencing dial-out pool (MCOMEETADD) and every Calling Plan pool (per plan, usage
   country and minute type; MCOPSTN8 per user). MCOPSTN2's two counters are two pools, and once
   either is used up both show the pool exhausted (closed_by_minute_type says which closed it). #}
{%- set grain = pool_grain() | join(', ') %}
with

every_pool_capacity as (

    select * from {{ ref('int_every_pool_capacity_daily') }}

),

every_pool_allocated as (

    select * from {{ ref('int_every_pool_allocated') }}

),

capacity as (

    select
        every_pool_capacity.*,
        {{ user_label('pool_user_key') }} as pool_user_id
    from every_pool_capacity

),

allocation as (

    select
        every_pool_allocated.*,
        {{ user_label('pool_user_key') }} as pool_user_id
    from every_pool_allocated

),

closed_by as (

    {# The counter whose use closed a MCOPSTN2 pool in a month. #}
    select
        tenant_id,
        pool_capability,
        pool_country,
        billing_month,
        max(closed_by_minute_type) as closed_by_minute_type
    from allocation
    where closed_by_minute_type is not null
    group by tenant_id, pool_capability, pool_country, billing_month

),

daily_use as (

    select
        {{ grain }},
        usage_date,
        sum(pooled_seconds) as seconds_used,
        sum(overflow_seconds) as overflow_seconds,
        count(*) as calls
    from allocation
    group by {{ grain }}, usage_date

),

days as (

    select
        capacity.tenant_id,
        capacity.pool_capability,
        capacity.pool_country,
        capacity.minute_type,
        capacity.pool_user_id,
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
        on {{ same_pool('capacity', 'daily_use') }}
            and capacity.usage_date = daily_use.usage_date

),

month_to_date as (

    select
        days.*,
        sum(seconds_used) over (
            partition by {{ grain }}, billing_month
            order by usage_date
            rows between unbounded preceding and current row
        ) as mtd_seconds_used
    from days

),

exhaustion as (

    select
        month_to_date.*,
        min(case when pool_seconds > 0 and mtd_seconds_used >= pool_seconds then usage_date end) over (
            partition by {{ grain }}, billing_month
            order by usage_date
            rows between unbounded preceding and current row
        ) as exhausted_by_date,
        {# Either counter of a MCOPSTN2 pool closes both, for the rest of the month: the first day
           either is used up. #}
        min(
            case
                when pool_capability = 'MCOPSTN2' and pool_seconds > 0 and mtd_seconds_used >= pool_seconds
                    then usage_date
            end
        ) over (
            partition by tenant_id, pool_capability, pool_country, pool_user_id, billing_month
            order by usage_date
            range between unbounded preceding and current row
        ) as pool_closed_by_date,
        greatest(pool_seconds - mtd_seconds_used, 0) as remaining_seconds,
        {# The last day of the month so far on which the pool was not used up: a pool that ran
           out, then reopened (licences added) and ran out again, ran out the day after it. #}
        max(case when not (pool_seconds > 0 and mtd_seconds_used >= pool_seconds) then usage_date end) over (
            partition by {{ grain }}, billing_month
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
            when pool_closed_by_date is not null then pool_closed_by_date
            when mtd_seconds_used > 0
                then {{ add_days(
                    'usage_date',
                    'ceil(remaining_seconds * day_of_month / cast(mtd_seconds_used as double))'
                ) }}
        end as exhaustion_estimate
    from exhaustion

),

with_closure as (

    select
        projected.*,
        closed_by.closed_by_minute_type as month_closed_by_minute_type
    from projected
    left join closed_by
        on projected.tenant_id = closed_by.tenant_id
            and projected.pool_capability = closed_by.pool_capability
            and projected.pool_country is not distinct from closed_by.pool_country
            and projected.billing_month = closed_by.billing_month

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
        cast(exhausted_by_date is not null or pool_closed_by_date is not null as boolean) as is_exhausted,
        {# Only a date before the pool resets is a forecast worth showing. #}
        cast(
            case
                when exhaustion_estimate < {{ add_months('billing_month', 1) }} then exhaustion_estimate
            end as date
        ) as projected_exhaustion_date,
        cast(is_licence_assumed as boolean) as is_licence_assumed,
        cast(pool_country as {{ dbt.type_string() }}) as pool_country,
        cast(minute_type as {{ dbt.type_string() }}) as minute_type,
        cast(pool_user_id as {{ dbt.type_string() }}) as pool_user_id,
        cast(
            case
                when exhausted_by_date is null and pool_closed_by_date is null then null
                when pool_capability = 'MCOPSTN2' then coalesce(month_closed_by_minute_type, minute_type)
                else minute_type
            end as {{ dbt.type_string() }}
        ) as closed_by_minute_type
    from with_closure

)

select * from final
