{# The organizer's licences on the call's billing day (the latest
   snapshot on or before it), pool eligibility, and the dial-out policy check. The organizer is
   matched by AAD object id, or by UPN for snapshots that carry no ids.
   A view: its readers (int_pool_allocated, fct_pstn_calls through int_calls_priced) filter it
   to the months they re-rate, and the engine pushes that filter down to int_calls_classified. #}
with

calls as (

    select * from {{ ref('int_calls_classified') }}

),

licences as {{ not_materialized() }} (

    select * from {{ ref('int_licences_resolved') }}

),

dial_out_policies as (

    select * from {{ ref('dial_out_policies') }}

),

calls_with_licences as (

    select
        calls.*,
        coalesce(by_id.user_key, by_upn.user_key) as organizer_user_key,
        coalesce(by_id.department, by_upn.department) as department,
        coalesce(by_id.usage_location, by_upn.usage_location) as organizer_usage_location,
        coalesce(by_id.dial_out_policy, by_upn.dial_out_policy) as dial_out_policy,
        coalesce(by_id.has_audio_conferencing, by_upn.has_audio_conferencing, false) as has_audio_conferencing,
        coalesce(by_id.has_pay_per_minute, by_upn.has_pay_per_minute, false) as has_pay_per_minute,
        coalesce(by_id.has_communications_credits, by_upn.has_communications_credits, false)
            as has_communications_credits,
        coalesce(by_id.snapshot_date, by_upn.snapshot_date) as licence_snapshot_date,
        coalesce(by_id.is_licence_assumed, by_upn.is_licence_assumed, false) as is_licence_assumed,
        {%- for plan in calling_plans() %}
        coalesce(by_id.has_{{ plan | lower }}, by_upn.has_{{ plan | lower }}, false) as has_{{ plan | lower }},
        {%- endfor %}
        {#- The snapshot's usage location (the pools are kept by it), the export's only for a user
            without a snapshot. #}
        {{ calling_plan_country(
            'case when coalesce(by_id.user_key, by_upn.user_key) is null then calls.user_location'
            ~ ' else coalesce(by_id.usage_location, by_upn.usage_location) end'
        ) }} as calling_plan_country
    from calls
    left join licences as by_id
        on calls.tenant_id = by_id.tenant_id
            and calls.user_id = by_id.user_id
            and calls.billing_date >= by_id.valid_from
            and calls.billing_date <= {{ open_end_date('by_id.valid_to') }}
    left join licences as by_upn
        on by_id.user_key is null
            and by_upn.user_id is null
            and calls.tenant_id = by_upn.tenant_id
            and lower(calls.user_principal_name) = by_upn.user_principal_name
            and calls.billing_date >= by_upn.valid_from
            and calls.billing_date <= {{ open_end_date('by_upn.valid_to') }}

),

calls_with_plans as (

    {# A Calling Plan leg: an outbound leg of a user holding a plan on the billing day. Domestic =
       to the user's usage-location country (US territories as the US; from Canada, the US too);
       anything else, an unknown destination included, is international. #}
    select
        calls_with_licences.*,
        calls_with_licences.call_type in ('user_out', 'user_out_conf', 'user_out_transfer', 'user_out_forwarding')
        and (
            {%- for plan in calling_plans() %}
            calls_with_licences.has_{{ plan | lower }}{{ ' or' if not loop.last }}
            {%- endfor %}
        ) as is_calling_plan_leg,
        case
            when {{ calling_plan_country('calls_with_licences.destination_country') }}
                = calls_with_licences.calling_plan_country
                then 'domestic'
            when calls_with_licences.calling_plan_country = 'CA'
                and {{ calling_plan_country('calls_with_licences.destination_country') }} = 'US'
                then 'domestic'
            else 'international'
        end as calling_plan_minute_type
    from calls_with_licences

),

final as (

    select
        calls_with_plans.*,
        (
            calls_with_plans.call_type = 'conf_out'
            and calls_with_plans.is_zone_a
            and calls_with_plans.number_type <> 'premium'
            and calls_with_plans.has_audio_conferencing
        ) as is_pool_eligible,
        dial_out_policies.conference_dial_out_scope,
        coalesce(
            calls_with_plans.call_type = 'conf_out'
            and (
                dial_out_policies.conference_dial_out_scope = 'none'
                or (
                    dial_out_policies.conference_dial_out_scope = 'domestic'
                    and calls_with_plans.destination_country
                    <> coalesce(calls_with_plans.organizer_usage_location, calls_with_plans.user_location)
                )
                or (dial_out_policies.conference_dial_out_scope = 'zone_a' and not calls_with_plans.is_zone_a)
            ),
            false
        ) as is_dial_out_policy_violation
    from calls_with_plans
    left join dial_out_policies
        on lower(calls_with_plans.dial_out_policy) = lower(dial_out_policies.policy_name)

)

select * from final
