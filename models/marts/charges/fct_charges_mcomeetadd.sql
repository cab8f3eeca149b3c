{# One row per call drawing on the MCOMEETADD dial-out pool, with what the pooled part would have
   cost at Communications Credits rates: the pool's value. #}
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
        user_id,
        user_principal_name,
        department,
        destination_country,
        number_type,
        duration_seconds,
        pooled_seconds,
        pooled_minutes,
        overflow_seconds,
        rated_capability,
        rate_per_minute,
        pooled_value_at_credit_rates as value_at_credit_rates,
        currency,
        {{ rated_at() }} as rated_at
    from calls
    where pooled_seconds > 0 and pool_capability = 'MCOMEETADD'

)

select * from final
