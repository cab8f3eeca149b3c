{{ config(materialized='view') }}

{# Every pool's allocation in one shape: the dial-out pool's calls (int_pool_allocated) and the
   Calling Plan pools' draws (int_calling_plan_allocated), each row naming its pool by the pool
   grain (tenant, capability, country, minute type, MCOPSTN8 user). The pool marts read this. #}
with

dial_out_allocation as (

    select * from {{ ref('int_pool_allocated') }}

),

calling_plan_allocation as (

    select * from {{ ref('int_calling_plan_allocated') }}

),

final as (

    {%- set columns = ['billing_month', 'usage_date', 'usage_id', 'start_at', 'capacity_seconds',
        'used_before_call_seconds', 'pooled_seconds', 'overflow_seconds', 'used_after_call_seconds'] %}
    select
        tenant_id,
        pool_capability,
        cast(null as {{ dbt.type_string() }}) as pool_country,
        'dial_out' as minute_type,
        cast(null as {{ dbt.type_string() }}) as pool_user_key,
        cast(null as {{ dbt.type_string() }}) as closed_by_minute_type,
        {{ columns | join(',\n        ') }}
    from dial_out_allocation

    union all

    select
        tenant_id,
        pool_capability,
        pool_country,
        minute_type,
        pool_user_key,
        closed_by_minute_type,
        {{ columns | join(',\n        ') }}
    from calling_plan_allocation

)

select * from final
