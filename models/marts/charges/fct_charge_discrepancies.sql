{# Every in-scope call whose exported Capability or Charge differs from the
   rated one (charges beyond var('reconciliation_tolerance')). The exported charge is Charge +
   Connection Fee; an export capability agrees when it is MCOMEETADD for a pooled call,
   MCOPSTNPP/MCOPSTNC/MCOMEETACPEA for a credits call, MCOMEETADD or empty for included dial-in. #}
{{ config(**rerate_config()) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}
with

calls as (

    select * from {{ ref('fct_pstn_calls') }} as pstn_calls
    where {{ rerate_filter('pstn_calls', scope) }}

),

final as (

    select
        tenant_id,
        usage_id,
        start_at,
        billing_date,
        billing_month,
        call_type,
        user_principal_name,
        department,
        destination_country,
        number_type,
        duration_seconds,
        pooled_seconds,
        overflow_seconds,
        rated_capability,
        charge_reason,
        reported_capability,
        rated_charge,
        cast(coalesce(reported_charge, 0) + coalesce(reported_connection_fee, 0) as decimal(18, 6))
            as reported_total_charge,
        charge_difference,
        currency,
        reported_currency,
        cast(
            case
                when abs(coalesce(charge_difference, 0)) > {{ var('reconciliation_tolerance', 0.01) }}
                    and rated_capability = 'blocked' then 'charged_although_blocked'
                when abs(coalesce(charge_difference, 0)) > {{ var('reconciliation_tolerance', 0.01) }}
                    then 'charge_differs'
                else 'capability_differs'
            end as {{ dbt.type_string() }}
        ) as discrepancy_type,
        is_corrected_in_later_export,
        {{ rated_at() }} as rated_at
    from calls
    where has_reported_discrepancy

)

select * from final
