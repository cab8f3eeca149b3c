{{ config(**rerate_config(date_column='usage_date')) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}

{# The pool allocation, set-based. Within (tenant, pool, month) eligible calls are taken in order of
   (start time, UsageId); call i gets clamp(capacity(day of i) - seconds used before it, 0,
   duration). Capacity is constant within a day, so:
   1. the seconds used at the start of each day follow u(k+1) = max(u(k), min(u(k) + demand(k),
      capacity(k))): a walk over at most 31 daily aggregates (macro pool_used_at_day_start: no
      recursion and no loop over calls);
   2. inside a day, a running sum of the earlier calls' durations gives each call's share.
   When capacity falls below what is used (licences removed), nothing more is pooled that day;
   when it grows, the pool reopens by the difference.
   Incremental: only calls from the month's first affected day on are allocated again; the demand
   of the days before it is read from this table's own unchanged rows. #}
with

calls as (

    select * from {{ ref('int_calls_licensed') }} as licensed
    where {{ rerate_filter('licensed', scope) }}

),

capacity as {{ not_materialized() }} (

    select * from {{ ref('int_pool_capacity_daily') }} as capacity_daily
    where {{ rerate_filter('capacity_daily', scope, date_column=none) }}

),

eligible_calls as (

    select
        tenant_id,
        'MCOMEETADD' as pool_capability,
        billing_month,
        billing_date as usage_date,
        usage_id,
        start_at,
        duration_seconds
    from calls
    where is_pool_eligible

),

daily_demand as (

    select
        tenant_id,
        pool_capability,
        usage_date,
        sum(duration_seconds) as demand_seconds
    from eligible_calls
    group by tenant_id, pool_capability, usage_date
    {%- if not scope.all and not scope.empty %}

    union all

    {# The days of a re-rated month before its first affected day, as allocated before. #}
    select
        previous.tenant_id,
        previous.pool_capability,
        previous.usage_date,
        sum(previous.duration_seconds) as demand_seconds
    from {{ this }} as previous
    where {{ rerate_filter('previous', scope, date_column='usage_date', before=true) }}
    group by previous.tenant_id, previous.pool_capability, previous.usage_date
    {%- endif %}

),

days as (

    select
        capacity.tenant_id,
        capacity.pool_capability,
        capacity.billing_month,
        capacity.day_of_month,
        capacity.capacity_seconds,
        coalesce(daily_demand.demand_seconds, 0) as demand_seconds
    from capacity
    left join daily_demand
        on capacity.tenant_id = daily_demand.tenant_id
            and capacity.pool_capability = daily_demand.pool_capability
            and capacity.usage_date = daily_demand.usage_date

),

used_at_day_start as (

    {{ pool_used_at_day_start('days') }}

),

calls_in_day_order as (

    select
        eligible_calls.*,
        coalesce(
            sum(duration_seconds) over (
                partition by tenant_id, pool_capability, usage_date
                order by start_at, usage_id
                rows between unbounded preceding and 1 preceding
            ),
            0
        ) as earlier_in_day_seconds
    from eligible_calls

),

allocated as (

    select
        calls_in_day_order.tenant_id,
        calls_in_day_order.pool_capability,
        calls_in_day_order.billing_month,
        calls_in_day_order.usage_date,
        calls_in_day_order.usage_id,
        calls_in_day_order.start_at,
        calls_in_day_order.duration_seconds,
        capacity.capacity_seconds,
        used_at_day_start.used_before_day_seconds
        + least(
            calls_in_day_order.earlier_in_day_seconds,
            greatest(capacity.capacity_seconds - used_at_day_start.used_before_day_seconds, 0)
        ) as used_before_call_seconds
    from calls_in_day_order
    inner join capacity
        on calls_in_day_order.tenant_id = capacity.tenant_id
            and calls_in_day_order.pool_capability = capacity.pool_capability
            and calls_in_day_order.usage_date = capacity.usage_date
    inner join used_at_day_start
        on calls_in_day_order.tenant_id = used_at_day_start.tenant_id
            and calls_in_day_order.pool_capability = used_at_day_start.pool_capability
            and calls_in_day_order.billing_month = used_at_day_start.billing_month
            and capacity.day_of_month = used_at_day_start.day_of_month

),

final as (

    select
        allocated.*,
        cast(
            greatest(
                least(allocated.duration_seconds, allocated.capacity_seconds - allocated.used_before_call_seconds), 0
            )
            as {{ dbt.type_bigint() }}
        ) as pooled_seconds
    from allocated

)

select
    final.*,
    cast(final.duration_seconds - final.pooled_seconds as {{ dbt.type_bigint() }}) as overflow_seconds,
    cast(final.used_before_call_seconds + final.pooled_seconds as {{ dbt.type_bigint() }}) as used_after_call_seconds,
    {{ rated_at() }} as rated_at
from final
