{{ config(**rerate_config()) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}

{# SPEC 4 rules 1-2: what kind of call it is, where it went, which zone and number type, and its
   billing day and month in var('billing_time_zone'). Every call is kept; calls outside meeting
   dial-out and dial-in are labelled out of scope, never dropped. #}
with

calls as (

    select * from {{ ref('stg_archive__pstn_calls') }}
    {%- if not scope.all %}
    {# Only this run's months (int_rerate_months); the UTC range first, so storage is skipped. #}
    where {{ 'false' if scope.empty else "start_at >= cast('" ~ scope['from'] ~ "' as date) - interval 2 day and start_at < cast('" ~ scope.high ~ "' as date) + interval 33 day" }}
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
    select lower(country_name) as name_key, country_code from countries
    union
    select lower(microsoft_name) as name_key, country_code from zone_a_countries
    union
    select lower(country_name_alias) as name_key, country_code from country_name_aliases
    union
    select lower(country_code) as name_key, country_code from countries

),

country_names_unique as (

    select name_key, min(country_code) as country_code
    from country_names
    group by name_key

),

calls_prepared as {{ not_materialized() }} (

    {# The columns rating and the call facts use, not the staged row's every column: this table
       holds every call, and each column less is one less to write (issue 5). #}
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

prefix_lengths as (

    select distinct length(number_prefix) as prefix_length from number_prefixes

),

prefix_candidates as (

    {# The number's leading digits at every prefix length the seed uses: the longest-prefix
       match becomes an equality join (a LIKE join compares every call with every prefix). #}
    select
        calls_prepared.tenant_id,
        calls_prepared.usage_id,
        cast(calls_prepared.billing_start_at as date) as billing_date,
        prefix_lengths.prefix_length,
        substring(calls_prepared.callee_number_e164, 1, prefix_lengths.prefix_length) as leading_digits
    from calls_prepared
    cross join prefix_lengths
    where length(calls_prepared.callee_number_e164) >= prefix_lengths.prefix_length

),

prefix_matches as (

    select
        prefix_candidates.tenant_id,
        prefix_candidates.usage_id,
        number_prefixes.number_type,
        row_number() over (
            partition by prefix_candidates.tenant_id, prefix_candidates.usage_id
            order by prefix_candidates.prefix_length desc
        ) as match_rank
    from prefix_candidates
    inner join number_prefixes
        on prefix_candidates.leading_digits = number_prefixes.number_prefix
        and prefix_candidates.billing_date >= number_prefixes.valid_from
        and prefix_candidates.billing_date <= {{ open_end_date('number_prefixes.valid_to') }}

),

calls_located as (

    select
        calls_prepared.*,
        cast(calls_prepared.billing_start_at as date) as billing_date,
        named.country_code as named_country_code,
        coalesce(code_3.country_code, code_2.country_code, code_1.country_code) as number_country_code,
        coalesce(code_3.calling_code, code_2.calling_code, code_1.calling_code) as callee_calling_code,
        prefix_matches.number_type as prefix_number_type
    from calls_prepared
    left join country_names_unique as named
        on lower(trim(calls_prepared.destination_name)) = named.name_key
    left join calling_codes as code_3
        on substring(calls_prepared.callee_leading_digits, 1, 3) = code_3.calling_code
    left join calling_codes as code_2
        on substring(calls_prepared.callee_leading_digits, 1, 2) = code_2.calling_code
    left join calling_codes as code_1
        on substring(calls_prepared.callee_leading_digits, 1, 1) = code_1.calling_code
    left join prefix_matches
        on calls_prepared.tenant_id = prefix_matches.tenant_id
        and calls_prepared.usage_id = prefix_matches.usage_id
        and prefix_matches.match_rank = 1

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
