{# One row per call charged (wholly or for its overflow) to Communications Credits. #}
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
        user_id,
        user_principal_name,
        department,
        destination_country,
        destination_zone,
        number_type,
        charge_reason,
        duration_seconds,
        pooled_seconds,
        charged_seconds,
        billable_minutes,
        rate_per_minute,
        connection_fee,
        rated_charge,
        currency,
        reported_capability,
        reported_charge,
        charge_difference,
        {{ rated_at() }} as rated_at,
        administrative_units
    from calls
    where rated_capability = 'MCOPSTNPP'

)

select * from final
