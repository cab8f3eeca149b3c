{# Does the bill agree with the rules? Per tenant, month and currency: rated against reported
   charges for the calls in scope, and how many calls differ. #}
with

calls as (

    select * from {{ ref('fct_pstn_calls') }}
    where call_direction <> 'other'

),

final as (

    select
        tenant_id,
        billing_month,
        currency,
        cast(count(*) as bigint) as calls_compared,
        cast(sum(case when has_reported_discrepancy then 1 else 0 end) as bigint) as calls_with_discrepancy,
        cast(sum(rated_charge) as decimal(18, 2)) as rated_charge,
        cast(sum(coalesce(reported_charge, 0) + coalesce(reported_connection_fee, 0)) as decimal(18, 6))
            as reported_charge,
        cast(sum(charge_difference) as decimal(18, 6)) as charge_difference,
        cast(
            abs(sum(charge_difference)) <= {{ var('reconciliation_tolerance', 0.01) }} as boolean
        ) as is_within_tolerance
    from calls
    group by tenant_id, billing_month, currency

)

select * from final
