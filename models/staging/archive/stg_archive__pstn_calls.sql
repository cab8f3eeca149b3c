{{ config(**rerate_config(unique_key=['tenant_id', 'usage_id'])) }}

{# The current version of each call: where a UsageId arrived with different content, the newest
    load wins (then the later file and line of that load). Categorisation only.
    Incremental (issue 5): a run reads only the calls of loads newer than the newest load already
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

versions as (

    {# Ranked on the identifying columns only; the winning rows are then read whole (a window
       over every column of millions of calls sorts all of them). A row is named by its load,
       file (or zip member) and line. #}
    select
        tenant_id,
        usage_id,
        load_id,
        file_seq,
        coalesce(source_member, '') as source_member_key,
        source_line,
        row_number() over (
            partition by tenant_id, usage_id
            order by load_id desc, file_seq desc, source_member_key desc, source_line desc
        ) as version_rank,
        count(*) over (partition by tenant_id, usage_id) as version_count
    from calls

),

versions_ranked as (

    select
        calls.*,
        versions.version_rank,
        versions.version_count
    from calls
    inner join versions
        on calls.tenant_id = versions.tenant_id
        and calls.usage_id = versions.usage_id
        and calls.load_id = versions.load_id
        and calls.file_seq = versions.file_seq
        and coalesce(calls.source_member, '') = versions.source_member_key
        and calls.source_line = versions.source_line
        and versions.version_rank = 1

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
