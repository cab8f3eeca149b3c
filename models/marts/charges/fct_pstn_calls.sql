{# One row per call (tenant, UsageId): every call the archive holds, classified, allocated and
   priced, with the export's own capability and charge beside the rated ones. Numbers are masked
   (country code + last digits); object ids, UPNs and names are keyed hashes when pseudonymisation is on. #}
{{ config(**rerate_config()) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}
{%- set tolerance = var('reconciliation_tolerance', 0.01) %}
with

calls as (

    select * from {{ ref('int_calls_priced') }} as priced
    where {{ rerate_filter('priced', scope) }}

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(usage_id as {{ dbt.type_string() }}) as usage_id,
        cast(call_id as {{ dbt.type_string() }}) as call_id,
        cast(conference_id as {{ dbt.type_string() }}) as conference_id,
        cast(start_at as timestamp) as start_at,
        cast(end_at as timestamp) as end_at,
        cast(duration_seconds as bigint) as duration_seconds,
        cast(billing_date as date) as billing_date,
        cast(billing_month as date) as billing_month,
        cast(call_type as {{ dbt.type_string() }}) as call_type,
        cast(call_direction as {{ dbt.type_string() }}) as call_direction,
        cast({{ user_label('user_id') }} as {{ dbt.type_string() }}) as user_id,
        cast({{ user_label('user_principal_name') }} as {{ dbt.type_string() }}) as user_principal_name,
        cast({{ user_label('user_display_name') }} as {{ dbt.type_string() }}) as user_display_name,
        cast(department as {{ dbt.type_string() }}) as department,
        cast(user_location as {{ dbt.type_string() }}) as user_location,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(destination_country_source as {{ dbt.type_string() }}) as destination_country_source,
        cast(destination_zone as {{ dbt.type_string() }}) as destination_zone,
        cast(number_type as {{ dbt.type_string() }}) as number_type,
        cast(
            {{ mask_phone_number('callee_number_e164', 'callee_calling_code') }} as {{ dbt.type_string() }}
        ) as destination_number_masked,
        cast(licence_snapshot_date as date) as licence_snapshot_date,
        cast(has_audio_conferencing as boolean) as has_audio_conferencing,
        cast(has_pay_per_minute as boolean) as has_pay_per_minute,
        cast(has_communications_credits as boolean) as has_communications_credits,
        cast(is_pool_eligible or pool_capability is not null as boolean) as is_pool_eligible,
        cast(pooled_seconds as bigint) as pooled_seconds,
        cast(overflow_seconds as bigint) as overflow_seconds,
        {{ seconds_to_minutes('pooled_seconds') }} as pooled_minutes,
        {{ seconds_to_minutes('overflow_seconds') }} as overflow_minutes,
        cast(rated_capability as {{ dbt.type_string() }}) as rated_capability,
        cast(charge_reason as {{ dbt.type_string() }}) as charge_reason,
        cast(charged_seconds as bigint) as charged_seconds,
        cast(billable_minutes as decimal(18, 4)) as billable_minutes,
        cast(rate_per_minute as decimal(18, 6)) as rate_per_minute,
        cast(rate_connection_fee as decimal(18, 6)) as connection_fee,
        cast(rated_charge as decimal(18, 2)) as rated_charge,
        cast(charge_at_credit_rates as decimal(18, 2)) as charge_at_credit_rates,
        cast(pooled_value_at_credit_rates as decimal(18, 2)) as pooled_value_at_credit_rates,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(reported_capability as {{ dbt.type_string() }}) as reported_capability,
        cast(reported_charge as decimal(18, 6)) as reported_charge,
        cast(reported_connection_fee as decimal(18, 6)) as reported_connection_fee,
        cast(reported_currency as {{ dbt.type_string() }}) as reported_currency,
        cast(
            rated_charge - (coalesce(reported_charge, 0) + coalesce(reported_connection_fee, 0)) as decimal(18, 6)
        ) as charge_difference,
        cast(rated_capability = 'blocked' as boolean) as is_blocked,
        cast(is_dial_out_policy_violation as boolean) as is_dial_out_policy_violation,
        cast(is_missing_rate as boolean) as is_missing_rate,
        cast(destination_country is null and call_direction <> 'other' as boolean) as is_unknown_destination,
        cast(
            call_direction <> 'other' and licence_snapshot_date is null as boolean
        ) as is_organizer_without_licence_snapshot,
        cast(is_callee_number_masked as boolean) as is_number_masked_in_export,
        cast(version_count > 1 as boolean) as is_corrected_in_later_export,
        cast(
            (call_direction <> 'other' or is_calling_plan_leg)
            and (reported_charge is not null or reported_capability is not null)
            and (
                abs(coalesce(rated_charge, 0) - (coalesce(reported_charge, 0) + coalesce(reported_connection_fee, 0)))
                > {{ tolerance }}
                {#- A Calling Plan said on either side and not on the other. #}
                or (
                    rated_capability in (
                        {%- for plan in calling_plans() %}
                        '{{ plan }}'{{ ',' if not loop.last }}
                        {%- endfor %}
                    )
                    and coalesce(reported_capability, '') <> rated_capability
                )
                {#- A domestic freephone number draws on no plan but is reported under it. #}
                or (
                    coalesce(reported_capability, '') in (
                        {%- for plan in calling_plans() %}
                        '{{ plan }}'{{ ',' if not loop.last }}
                        {%- endfor %}
                    )
                    and rated_capability not in (reported_capability, 'included')
                )
                or (rated_capability = 'MCOMEETADD' and coalesce(reported_capability, '') <> 'MCOMEETADD')
                or (
                    rated_capability = 'MCOPSTNPP'
                    and coalesce(reported_capability, '') not in ('MCOPSTNPP', 'MCOPSTNC', 'MCOMEETACPEA')
                )
                or (rated_capability = 'included' and coalesce(reported_capability, 'MCOMEETADD') <> 'MCOMEETADD')
            )
            as boolean
        ) as has_reported_discrepancy,
        cast(source_path as {{ dbt.type_string() }}) as source_path,
        {{ rated_at() }} as rated_at,
        cast(is_licence_assumed as boolean) as is_licence_assumed,
        cast(pool_capability as {{ dbt.type_string() }}) as pool_capability,
        cast(pool_country as {{ dbt.type_string() }}) as pool_country,
        cast(minute_type as {{ dbt.type_string() }}) as minute_type,
        cast(administrative_units as {{ dbt.type_string() }}) as administrative_units,
        {#- The export's Domestic/International label against the Calling Plan rule (the rule rates). #}
        cast(
            coalesce(
                is_calling_plan_leg
                and lower(destination_context) in ('domestic', 'international')
                and lower(destination_context) <> calling_plan_minute_type,
                false
            )
            as boolean
        ) as is_destination_context_overruled

    from calls

)

select * from final
