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

multi_version_keys as (

    {# Keys archived more than once (a UsageId re-sent with other content): rare. The calls of
       every other key pass through as they are; only these are ranked. Ranking every call, or
       joining every call back to its rank, needs memory or spill space for all of them, which
       at 100M rows this machine does not have (issue 5). #}
    select tenant_id, usage_id
    from calls
    group by tenant_id, usage_id
    having count(*) > 1

),

single_versions as (

    select
        calls.*,
        1 as version_rank,
        cast(1 as bigint) as version_count
    from calls
    where not exists (
        select 1
        from multi_version_keys
        where multi_version_keys.tenant_id = calls.tenant_id
            and multi_version_keys.usage_id = calls.usage_id
    )

),

multi_versions_ranked as (

    select
        calls.*,
        row_number() over (
            partition by calls.tenant_id, calls.usage_id
            order by calls.load_id desc, calls.file_seq desc, coalesce(calls.source_member, '') desc, calls.source_line desc
        ) as version_rank,
        count(*) over (partition by calls.tenant_id, calls.usage_id) as version_count
    from calls
    inner join multi_version_keys
        on calls.tenant_id = multi_version_keys.tenant_id
        and calls.usage_id = multi_version_keys.usage_id

),

versions_ranked as (

    select * from single_versions
    union all
    select * from multi_versions_ranked
    where version_rank = 1

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
