{{ config(**rerate_config(unique_key=['tenant_id', 'usage_id'])) }}

{# The current version of each call: where a UsageId arrived with different content, the newest
    load wins (then the later file and line of that load). Categorisation only.
    Incremental: a run reads only the calls of loads newer than the newest load already
    staged, with every archived version of those UsageIds, and replaces them by key. #}
with

{%- if is_incremental() %}

calls as {{ not_materialized() }} (

    {{ versions_of_new_keys(source('archive', 'calls'), ['tenant_id', 'usage_id']) }}

),
{%- else %}

calls as {{ not_materialized() }} (

    select * from {{ source('archive', 'calls') }}

),
{%- endif %}

{#- A full build ranks only the keys archived more than once (a UsageId re-sent with other
    content: rare), listed first; the calls of every other key pass through as they are. Ranking
    every call, or joining every call to its rank or to that list, needs memory or spill space for
    all of them, which at 100M rows this machine did not have. More than 10,000 such
    keys, or an incremental run (only the new loads' keys), ranks every call read, and so does
    SQL compiled without running it (`dbt compile`, the SQL linter), which may meet no archive. #}
{%- set repeated = none %}
{%- if execute and not is_incremental() and flags.WHICH in ('run', 'build') %}
    {%- set found = run_query(
        "select concat(tenant_id, '|', usage_id) from " ~ source('archive', 'calls')
        ~ " group by tenant_id, usage_id having count(*) > 1 limit 10001"
    ) %}
    {%- set repeated = found.columns[0].values() | list %}
    {%- if repeated | length > 10000 %}{% set repeated = none %}{% endif %}
{%- endif %}
{%- set version_columns -%}
    row_number() over (
        partition by calls.tenant_id, calls.usage_id
        order by calls.load_id desc, calls.file_seq desc, coalesce(calls.source_member, '') desc, calls.source_line desc
    ) as version_rank,
    count(*) over (partition by calls.tenant_id, calls.usage_id) as version_count
{%- endset %}
{%- set repeated_list %}{% for key in repeated or [] %}'{{ key | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %}{% endset %}

versions_ranked as (

    {%- if repeated is none %}

    select
        calls.*,
        {{ version_columns }}
    from calls

    {%- else %}

    select
        calls.*,
        1 as version_rank,
        cast(1 as bigint) as version_count
    from calls
    {%- if repeated %}
    where concat(calls.tenant_id, '|', calls.usage_id) not in ({{ repeated_list }})

    union all

    select * from (
        select
            calls.*,
            {{ version_columns }}
        from calls
        where concat(calls.tenant_id, '|', calls.usage_id) in ({{ repeated_list }})
    ) as repeated_versions
    {%- endif %}

    {%- endif %}

),

final as (

    select
        tenant_id,
        usage_id,
        call_id,
        conference_id,
        user_id,
        user_principal_name,
        user_display_name,
        user_location,
        caller_number,
        callee_number,
        call_type,
        case
            when call_type = 'conf_out' then 'dial_out'
            when call_type = 'conf_in' then 'dial_in'
            else 'other'
        end as call_direction,
        number_type as number_type_reported,
        {# Toll-free "in any spelling": toll_free, TollFree, Toll-Free, toll free. #}
        case
            when replace(replace(replace(lower(number_type), '_', ''), '-', ''), ' ', '') = 'tollfree'
                then 'toll_free'
            when number_type is null then null
            else lower(number_type)
        end as number_type_category,
        destination_context,
        destination_name,
        start_at,
        end_at,
        duration_seconds,
        cast(start_at as date) as start_date,
        connection_charge as reported_connection_fee,
        charge as reported_charge,
        currency as reported_currency,
        capability as reported_capability,
        operator,
        inventory_type,
        call_duration_source,
        tenant_country_code,
        usage_country_code,
        other_party_country_code,
        {{ archive_column(source('archive', 'calls'), 'administrative_units') }} as administrative_units,
        coalesce(callee_number like '%*%', false) as is_callee_number_masked,
        source_format,
        row_hash,
        version_count,
        source_path,
        source_member,
        source_line,
        file_sha256,
        load_id,
        loaded_at
    from versions_ranked
    where version_rank = 1

)

select * from final
