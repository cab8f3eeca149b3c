{# Calls, minutes and money per tenant, month, rated capability, charge reason and currency, with
   Microsoft's reported charges beside ours. #}
with

calls as (

    select * from {{ ref('fct_pstn_calls') }}

),

final as (

    select
        tenant_id,
        billing_month,
        rated_capability,
        charge_reason,
        currency,
        cast(count(*) as bigint) as calls,
        cast(sum(duration_seconds) as bigint) as duration_seconds,
        cast(sum(pooled_seconds) as bigint) as pooled_seconds,
        cast(sum(overflow_seconds) as bigint) as overflow_seconds,
        cast(sum(charged_seconds) as bigint) as charged_seconds,
        cast(sum(billable_minutes) as decimal(18, 4)) as billable_minutes,
        cast(sum(rated_charge) as decimal(18, 2)) as rated_charge,
        cast(sum(coalesce(reported_charge, 0) + coalesce(reported_connection_fee, 0)) as decimal(18, 6))
            as reported_charge,
        cast(sum(charge_difference) as decimal(18, 6)) as charge_difference,
        cast(sum(case when has_reported_discrepancy then 1 else 0 end) as bigint) as calls_with_discrepancy,
        cast(sum(case when is_licence_assumed then 1 else 0 end) as bigint) as licence_assumed_calls,
        cast({{ billing_model('tenant_id') }} as {{ dbt.type_string() }}) as billing_model
    from calls
    group by tenant_id, billing_month, rated_capability, charge_reason, currency

)

select * from final
