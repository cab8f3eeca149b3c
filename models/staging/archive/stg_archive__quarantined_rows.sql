with

quarantine as (

    select * from {{ source('archive', 'quarantine') }}

),

final as (

    select
        {# The same file's bytes can land under two tenants' folders in one load: the tenant and
           the path are part of a row's name, not only the file's digest. #}
        {{ dbt.hash(
            "concat(load_id, '|', tenant_id, '|', source_path, '|', coalesce(source_member, ''), '|', "
            ~ "file_sha256, '|', dataset, '|', cast(source_line as " ~ dbt.type_string() ~ "))"
        ) }} as quarantined_row_id,
        tenant_id,
        dataset,
        record_key,
        reasons,
        raw_record,
        raw_record_masked,
        user_id,
        user_principal_name,
        user_display_name,
        caller_number,
        callee_number,
        source_path,
        source_member,
        source_line,
        file_sha256,
        load_id,
        loaded_at
    from quarantine

)

select * from final
