{{ config(**rerate_config()) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}

{#- Number prefixes are 2 to 10 characters with the `+` (a data test on the seed says so). #}
{%- set prefix_lengths = range(10, 1, -1) | list %}

{# What kind of call it is, where it went, which zone and number type, and its
   billing day and month in var('billing_time_zone'). Every call is kept; calls outside meeting
   dial-out and dial-in are labelled out of scope, never dropped. #}
with

calls as (

    select * from {{ ref('stg_archive__pstn_calls') }}
    {%- if not scope.all %}
    {# Only this run's months (int_rerate_months); the UTC range first, so storage is skipped. #}
    where {{ 'false' if scope.empty else
        "start_at >= cast('" ~ scope['from'] ~ "' as date) - interval 2 day"
        ~ " and start_at < cast('" ~ scope.high ~ "' as date) + interval 33 day" }}
    {%- endif %}

),

countries as (

    select * from {{ ref('countries') }}

),

country_name_aliases as (

    select * from {{ ref('country_name_aliases') }}

),

zone_a_countries as (

    select * from {{ ref('zone_a_countries') }}

),

calling_codes as (

    select * from {{ ref('calling_codes') }}

),

number_prefixes as (

    select * from {{ ref('number_prefixes') }}

),

country_names as (

    {# Every spelling we can resolve, lower-cased: ISO names, Microsoft's names, aliases, codes. #}
    select
        lower(country_name) as name_key,
        country_code
    from countries
    union
    select
        lower(microsoft_name) as name_key,
        country_code
    from zone_a_countries
    union
    select
        lower(country_name_alias) as name_key,
        country_code
    from country_name_aliases
    union
    select
        lower(country_code) as name_key,
        country_code
    from countries

),

country_names_unique as (

    select
        name_key,
        min(country_code) as country_code
    from country_names
    group by name_key

),

calls_prepared as {{ not_materialized() }} (

    {# The columns rating and the call facts use, not the staged row's every column: this table
       holds every call, and each column less is one less to write. #}
    select
        calls.tenant_id,
        calls.usage_id,
        calls.call_id,
        calls.conference_id,
        calls.user_id,
        calls.user_principal_name,
        calls.user_display_name,
        calls.user_location,
        calls.callee_number,
        calls.call_type,
        calls.call_direction,
        calls.number_type_category,
        calls.destination_name,
        calls.start_at,
        calls.end_at,
        calls.duration_seconds,
        calls.reported_connection_fee,
        calls.reported_charge,
        calls.reported_currency,
        calls.reported_capability,
        calls.administrative_units,
        calls.destination_context,
        calls.is_callee_number_masked,
        calls.version_count,
        calls.source_path,
        {{ to_billing_time('calls.start_at') }} as billing_start_at,
        {# International digits of the destination number: after `+` or `00`. #}
        case
            when calls.callee_number like '+%' then substring(calls.callee_number, 2, 3)
            when calls.callee_number like '00%' then substring(calls.callee_number, 3, 3)
        end as callee_leading_digits,
        case
            when calls.callee_number like '00%' then concat('+', substring(calls.callee_number, 3, 40))
            else calls.callee_number
        end as callee_number_e164
    from calls

),

calls_located as (

    select
        calls_prepared.*,
        cast(calls_prepared.billing_start_at as date) as billing_date,
        named.country_code as named_country_code,
        coalesce(code_3.country_code, code_2.country_code, code_1.country_code) as number_country_code,
        coalesce(code_3.calling_code, code_2.calling_code, code_1.calling_code) as callee_calling_code,
        coalesce(
            {%- for length in prefix_lengths %}
            prefix_{{ length }}.number_type{{ ',' if not loop.last }}
            {%- endfor %}
        ) as prefix_number_type
    from calls_prepared
    left join country_names_unique as named
        on lower(trim(calls_prepared.destination_name)) = named.name_key
    left join calling_codes as code_3
        on substring(calls_prepared.callee_leading_digits, 1, 3) = code_3.calling_code
    left join calling_codes as code_2
        on substring(calls_prepared.callee_leading_digits, 1, 2) = code_2.calling_code
    left join calling_codes as code_1
        on substring(calls_prepared.callee_leading_digits, 1, 1) = code_1.calling_code
    {#- The longest prefix of the number in number_prefixes, valid on the billing day: one
        join per prefix length against the small seed (longest first in the coalesce above).
        A window ranking every call's candidate prefixes spilled more than this machine's disk at
        100M calls. #}
    {%- for length in prefix_lengths %}
    left join number_prefixes as prefix_{{ length }}
        on substring(calls_prepared.callee_number_e164, 1, {{ length }}) = prefix_{{ length }}.number_prefix
            and length(prefix_{{ length }}.number_prefix) = {{ length }}
            and cast(calls_prepared.billing_start_at as date) >= prefix_{{ length }}.valid_from
            and cast(calls_prepared.billing_start_at as date) <= {{ open_end_date('prefix_' ~ length ~ '.valid_to') }}
    {%- endfor %}

),

calls_with_destination as (

    select
        calls_located.*,
        coalesce(
            calls_located.named_country_code,
            calls_located.number_country_code,
            case when calls_located.call_direction = 'dial_in' then calls_located.user_location end
        ) as destination_country,
        case
            when calls_located.named_country_code is not null then 'destination_name'
            when calls_located.number_country_code is not null then 'number_prefix'
            when calls_located.call_direction = 'dial_in' and calls_located.user_location is not null
                then 'user_location'
        end as destination_country_source,
        case
            when calls_located.call_direction = 'dial_in'
                and (
                    calls_located.number_type_category = 'toll_free'
                    or calls_located.prefix_number_type = 'toll_free'
                )
                then 'toll_free'
            when calls_located.call_direction = 'dial_in' then 'toll'
            else coalesce(calls_located.prefix_number_type, 'standard')
        end as number_type
    from calls_located

),

final as (

    select
        calls_with_destination.*,
        cast({{ dbt.date_trunc('month', 'calls_with_destination.billing_date') }} as date) as billing_month,
        case
            when calls_with_destination.destination_country is null then 'unknown'
            when zone_a_countries.country_code is not null then 'zone_a'
            else 'outside_zone_a'
        end as destination_zone,
        zone_a_countries.country_code is not null as is_zone_a,
        {{ rated_at() }} as rated_at
    from calls_with_destination
    left join zone_a_countries
        on calls_with_destination.destination_country = zone_a_countries.country_code
            and calls_with_destination.billing_date >= zone_a_countries.valid_from
            and calls_with_destination.billing_date <= {{ open_end_date('zone_a_countries.valid_to') }}

)

select * from final
where {{ rerate_filter('final', scope) }}
