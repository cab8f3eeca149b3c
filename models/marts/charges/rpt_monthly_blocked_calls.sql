{#- Calls the service would have refused or cut (no pool left and no credits), per tenant, month
    and reason: how many and how long they would have run. -#}
with

calls as (

    select * from {{ ref('fct_pstn_calls') }}

),

blocked as (

    select
        tenant_id,
        billing_month,
        charge_reason,
        count(*) as calls,
        sum(duration_seconds) as duration_seconds,
        min(start_at) as first_blocked_at
    from calls
    where is_blocked
    group by tenant_id, billing_month, charge_reason

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(billing_month as date) as billing_month,
        cast(charge_reason as {{ dbt.type_string() }}) as charge_reason,
        cast(calls as bigint) as calls,
        {{ seconds_to_minutes('duration_seconds') }} as minutes,
        cast(first_blocked_at as timestamp) as first_blocked_at
    from blocked

)

select * from final
