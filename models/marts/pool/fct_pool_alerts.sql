{# The moment month-to-date pool use first reaches each threshold of the capacity
   (var('pool_alert_thresholds_pct'), default 80 and 100), per tenant, pool and month (the dial-out pool
   and every Calling Plan pool, each MCOPSTN2 counter on its own), with the
   call that crossed it. `crossed_at` is the second within that call at which the threshold was
   reached (the call's start when capacity had already fallen below it). #}
with

every_pool_allocated as (

    select * from {{ ref('int_every_pool_allocated') }}

),

allocation as (

    select
        every_pool_allocated.*,
        {{ user_label('pool_user_key') }} as pool_user_id
    from every_pool_allocated

),

thresholds as (

    {%- for threshold in var('pool_alert_thresholds_pct', [80, 100]) %}
    select {{ threshold | int }} as threshold_pct{% if not loop.last %}
    union all{% endif %}
    {%- endfor %}

),

crossings as (

    select
        allocation.*,
        thresholds.threshold_pct,
        cast(ceil(thresholds.threshold_pct * allocation.capacity_seconds / 100.0) as bigint) as threshold_seconds,
        row_number() over (
            partition by
                {%- for column in pool_grain() %}
                allocation.{{ column }},
                {%- endfor %}
                allocation.billing_month,
                thresholds.threshold_pct
            order by allocation.start_at, allocation.usage_id
        ) as crossing_rank
    from allocation
    cross join thresholds
    where allocation.capacity_seconds > 0
        and allocation.used_after_call_seconds * 100 >= thresholds.threshold_pct * allocation.capacity_seconds

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(pool_capability as {{ dbt.type_string() }}) as pool_capability,
        cast(billing_month as date) as billing_month,
        cast(threshold_pct as bigint) as threshold_pct,
        cast(
            {{ add_seconds('start_at', 'greatest(threshold_seconds - used_before_call_seconds, 0)') }}
            as timestamp
        ) as crossed_at,
        cast(usage_date as date) as crossed_on,
        cast(usage_id as {{ dbt.type_string() }}) as usage_id,
        cast(start_at as timestamp) as call_start_at,
        cast(capacity_seconds as bigint) as pool_seconds,
        {{ seconds_to_minutes('capacity_seconds') }} as pool_minutes,
        {{ seconds_to_minutes('threshold_seconds') }} as threshold_minutes,
        cast(used_after_call_seconds as bigint) as mtd_seconds_used,
        {{ seconds_to_minutes('used_after_call_seconds') }} as mtd_minutes_used,
        cast(pool_country as {{ dbt.type_string() }}) as pool_country,
        cast(minute_type as {{ dbt.type_string() }}) as minute_type,
        cast(pool_user_id as {{ dbt.type_string() }}) as pool_user_id
    from crossings
    where crossing_rank = 1

)

select * from final
