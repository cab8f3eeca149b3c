{# One row per call drawing on the MCOMEETADD dial-out pool, with what the pooled part would have
   cost at Communications Credits rates: the pool's value. #}
with

calls as (

    select * from {{ ref('int_calls_priced') }}

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(usage_id as {{ dbt.type_string() }}) as usage_id,
        cast(start_at as timestamp) as start_at,
        cast(billing_date as date) as billing_date,
        cast(billing_month as date) as billing_month,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast({{ user_label('user_principal_name') }} as {{ dbt.type_string() }}) as user_principal_name,
        cast(department as {{ dbt.type_string() }}) as department,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(number_type as {{ dbt.type_string() }}) as number_type,
        cast(duration_seconds as bigint) as duration_seconds,
        cast(pooled_seconds as bigint) as pooled_seconds,
        {{ seconds_to_minutes('pooled_seconds') }} as pooled_minutes,
        cast(overflow_seconds as bigint) as overflow_seconds,
        cast(rated_capability as {{ dbt.type_string() }}) as rated_capability,
        cast(rate_per_minute as decimal(18, 6)) as rate_per_minute,
        cast(pooled_value_at_credit_rates as decimal(18, 2)) as value_at_credit_rates,
        cast(currency as {{ dbt.type_string() }}) as currency
    from calls
    where pooled_seconds > 0

)

select * from final
