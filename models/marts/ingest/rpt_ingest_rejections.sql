{#- Everything the loader refused, in one place: whole files (unreadable, wrong encoding, missing
    a required column) and single rows (bad timestamp, negative duration, unknown code...). -#}
with

loaded_files as (

    select * from {{ ref('stg_archive__loaded_files') }}

),

quarantined_rows as (

    select * from {{ ref('stg_archive__quarantined_rows') }}

),

rejected_files as (

    select
        loaded_file_id as rejection_id,
        'file' as rejection_level,
        tenant_id,
        kind as dataset,
        source_path,
        source_member,
        cast(null as {{ dbt.type_bigint() }}) as source_line,
        reason as reasons,
        cast(null as {{ dbt.type_string() }}) as raw_record,
        file_sha256,
        load_id,
        loaded_at
    from loaded_files
    where status = 'rejected'

),

rejected_rows as (

    select
        quarantined_row_id as rejection_id,
        'row' as rejection_level,
        tenant_id,
        dataset,
        source_path,
        source_member,
        source_line,
        reasons,
        raw_record,
        file_sha256,
        load_id,
        loaded_at
    from quarantined_rows

),

final as (

    select * from rejected_files
    union all
    select * from rejected_rows

)

select * from final
