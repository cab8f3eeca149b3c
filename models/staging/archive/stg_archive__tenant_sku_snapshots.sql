with

tenant_skus as (

    select * from {{ source('archive', 'tenant_skus') }}

),

ranked as (

    select
        tenant_skus.*,
        row_number() over (
            partition by tenant_id, snapshot_date, sku_part_number
            order by load_id desc, file_seq desc, source_line desc
        ) as version_rank
    from tenant_skus

),

final as (

    select
        tenant_id,
        snapshot_date,
        sku_part_number,
        lower(sku_id) as sku_id,
        purchased_units,
        assigned_units,
        service_plans,
        source_format,
        source_path,
        load_id
    from ranked
    where version_rank = 1

)

select * from final
