with

manifest as (

    select * from {{ source('archive', 'manifest') }}

),

final as (

    select
        {{ dbt.hash(
            "concat(load_id, '|', cast(file_seq as " ~ dbt.type_string() ~ "), '|', coalesce(source_member, ''))"
        ) }} as loaded_file_id,
        load_id,
        loaded_at,
        file_seq,
        tenant_id,
        kind,
        file_format,
        source_path,
        source_member,
        file_sha256,
        file_identity,
        file_bytes,
        status,
        reason,
        rows_read,
        rows_kept,
        rows_rejected,
        rows_duplicate,
        rows_conflicting,
        export_parameters
    from manifest

)

select * from final
