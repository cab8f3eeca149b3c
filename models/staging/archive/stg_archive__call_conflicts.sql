with

conflicts as (

    select * from {{ source('archive', 'conflicts') }}

),

final as (

    select
        tenant_id,
        usage_id,
        previous_row_hash,
        row_hash,
        previous_load_id,
        load_id,
        source_path,
        source_member,
        source_line,
        loaded_at as detected_at
    from conflicts

)

select * from final
