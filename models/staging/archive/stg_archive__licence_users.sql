{{ config(**rerate_config(unique_key=['tenant_id', 'snapshot_date', 'user_key'])) }}

{# One row per tenant, snapshot day and user: the newest load of that user's snapshot row.
   Incremental: a run reads the rows of loads newer than the newest staged one, with every
   archived version of those (tenant, day, user) keys, and replaces them by key. #}
with

{%- if is_incremental() %}

licence_users as (

    {{ versions_of_new_keys(source('archive', 'licence_users'), ['tenant_id', 'snapshot_date', 'user_key']) }}

),
{%- else %}

licence_users as (

    select * from {{ source('archive', 'licence_users') }}

),
{%- endif %}

ranked as (

    select
        licence_users.*,
        row_number() over (
            partition by tenant_id, snapshot_date, user_key
            order by load_id desc, file_seq desc, source_line desc
        ) as version_rank
    from licence_users

),

final as (

    select
        tenant_id,
        snapshot_date,
        user_key,
        user_id,
        lower(user_principal_name) as user_principal_name,
        display_name,
        usage_location,
        department,
        dial_out_policy,
        sku_part_numbers,
        source_format,
        source_path,
        source_line,
        load_id,
        file_seq,
        loaded_at
    from ranked
    where version_rank = 1

)

select * from final
