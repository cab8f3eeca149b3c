{# No call is pooled beyond the capacity of its day (dial-out and Calling Plan pools), and no day
   adds pool use once the month's use has reached that day's capacity. #}
with

allocation as (

    select * from {{ ref('int_every_pool_allocated') }}

),

daily as (

    select * from {{ ref('fct_pool_consumption_daily') }}

),

calls_over as (

    select
        tenant_id,
        usage_id as what,
        used_after_call_seconds as used,
        capacity_seconds as capacity
    from allocation
    where pooled_seconds > 0 and used_after_call_seconds > capacity_seconds

),

days_over as (

    select
        tenant_id,
        cast(usage_date as {{ dbt.type_string() }}) as what,
        mtd_seconds_used as used,
        pool_seconds as capacity
    from daily
    where seconds_used > 0 and mtd_seconds_used > pool_seconds

)

select * from calls_over
union all
select * from days_over
