{#- Who dials out: every conference organizer per tenant and month (pool-eligible calls, dial-out
    and dial-in), with calls, minutes, pooled minutes and credits charges, ranked by charge then
    minutes (then name, so ties always rank the same way). The report shows the top ten. -#}
with

calls as (

    select * from {{ ref('fct_pstn_calls') }}

),

organizers as (

    select
        tenant_id,
        billing_month,
        coalesce(user_principal_name, user_id, '(unknown)') as organizer,
        max(department) as department,
        count(*) as calls,
        sum(duration_seconds) as duration_seconds,
        sum(pooled_seconds) as pooled_seconds,
        sum(coalesce(rated_charge, 0)) as rated_charge,
        max(currency) as currency
    from calls
    where call_direction <> 'other'
    group by tenant_id, billing_month, coalesce(user_principal_name, user_id, '(unknown)')

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(billing_month as date) as billing_month,
        cast(organizer as {{ dbt.type_string() }}) as organizer,
        cast(department as {{ dbt.type_string() }}) as department,
        cast(calls as bigint) as calls,
        {{ seconds_to_minutes('duration_seconds') }} as minutes,
        {{ seconds_to_minutes('pooled_seconds') }} as pooled_minutes,
        cast(rated_charge as decimal(18, 2)) as rated_charge,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(row_number() over (
            partition by tenant_id, billing_month
            order by rated_charge desc, duration_seconds desc, organizer asc
        ) as bigint) as organizer_rank
    from organizers

)

select * from final
