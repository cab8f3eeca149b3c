{{ config(**rerate_config(unique_key=none)) }}

{# Every SKU assignment as archived, with the load that carried it. Which load is current for a
    user and day is decided by stg_archive__licence_users (joined downstream on load_id, file_seq).
    Append-only: a run adds the assignments of loads newer than the newest staged one. #}
with

licence_assignments as (

    select * from {{ source('archive', 'licence_assignments') }}
    {%- if is_incremental() %}
    where licence_assignments.load_id > (select coalesce(max(staged.load_id), '') from {{ this }} as staged)
    {%- endif %}

),

final as (

    select
        tenant_id,
        snapshot_date,
        user_key,
        user_id,
        case
            {# Graph users whose skuId was not in the file's subscribedSkus keep it as SKUID:<guid>. #}
            when sku_part_number like 'SKUID:%' then null
            else sku_part_number
        end as sku_part_number,
        case
            when sku_part_number like 'SKUID:%' then lower(substring(sku_part_number, 7))
        end as sku_id,
        sku_part_number as sku_reference,
        load_id,
        file_seq,
        source_path
    from licence_assignments

)

select * from final
