{{ config(materialized='view') }}

{# Every pool's daily capacity in one shape: the dial-out pool (int_pool_capacity_daily) and the
   Calling Plan pools (int_calling_plan_capacity_daily, which always count the assigned users),
   each row naming its pool by the pool grain. The pool marts read this. #}
with

dial_out_capacity as (

    select * from {{ ref('int_pool_capacity_daily') }}

),

calling_plan_capacity as (

    select * from {{ ref('int_calling_plan_capacity_daily') }}

),

final as (

    {%- set columns = ['billing_month', 'usage_date', 'day_of_month', 'licensed_users', 'is_licence_assumed',
        'minutes_per_user', 'capacity_seconds'] %}
    select
        tenant_id,
        pool_capability,
        cast(null as {{ dbt.type_string() }}) as pool_country,
        'dial_out' as minute_type,
        cast(null as {{ dbt.type_string() }}) as pool_user_key,
        licence_basis,
        {{ columns | join(',\n        ') }}
    from dial_out_capacity

    union all

    select
        tenant_id,
        pool_capability,
        pool_country,
        minute_type,
        pool_user_key,
        'assigned' as licence_basis,
        {{ columns | join(',\n        ') }}
    from calling_plan_capacity

)

select * from final
