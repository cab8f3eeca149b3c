{#- Nothing is lost: for every file a load read, the rows it archived, plus the rows it
    quarantined, plus the rows it recognised as duplicates, equal the rows it read. The counts on
    the archive side are counted from the archived data itself, not taken from the manifest. -#}
with

loaded_files as (

    select * from {{ ref('stg_archive__loaded_files') }}
    where status = 'loaded'

),

archived as (

    {%- for table in ['calls', 'licence_users', 'tenant_skus', 'credit_fundings', 'credit_settings'] %}
    select
        load_id,
        file_seq,
        coalesce(source_member, '') as source_member,
        count(*) as row_count
    from {{ source('archive', table) }}
    group by load_id, file_seq, coalesce(source_member, '')
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

quarantined as (

    select
        load_id,
        file_seq,
        coalesce(source_member, '') as source_member,
        count(*) as row_count
    from {{ source('archive', 'quarantine') }}
    group by load_id, file_seq, coalesce(source_member, '')

),

archived_per_file as (

    select
        load_id,
        file_seq,
        source_member,
        sum(row_count) as row_count
    from archived
    group by load_id, file_seq, source_member

),

compared as (

    select
        loaded_files.source_path,
        loaded_files.source_member,
        loaded_files.rows_read,
        coalesce(archived_per_file.row_count, 0) as rows_archived,
        coalesce(quarantined.row_count, 0) as rows_quarantined,
        loaded_files.rows_duplicate
    from loaded_files
    left join archived_per_file
        on loaded_files.load_id = archived_per_file.load_id
            and loaded_files.file_seq = archived_per_file.file_seq
            and coalesce(loaded_files.source_member, '') = archived_per_file.source_member
    left join quarantined
        on loaded_files.load_id = quarantined.load_id
            and loaded_files.file_seq = quarantined.file_seq
            and coalesce(loaded_files.source_member, '') = quarantined.source_member

)

select *
from compared
where rows_archived + rows_quarantined + rows_duplicate <> rows_read
