{# One row per tenant, snapshot day and user: the newest load of that user's snapshot row. #}
with

licence_users as (

    select * from {{ source('archive', 'licence_users') }}

),

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
