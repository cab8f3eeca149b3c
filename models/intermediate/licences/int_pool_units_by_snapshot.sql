{# Per tenant licence snapshot: how many users hold MCOMEETADV (the `assigned` basis) and, from
   the tenant SKU snapshot of the same tenant, how many units of SKUs carrying it were bought
   (the `purchased` basis); each valid until the day before the next snapshot of its kind. The
   assigned basis has the assumed rows of int_licences_resolved too (is_licence_assumed); a SKU
   snapshot is never assumed backwards (days before it fall back to the assigned basis). #}
with

licences as (

    select * from {{ ref('int_licences_resolved') }}

),

tenant_sku_snapshots as (

    select * from {{ ref('stg_archive__tenant_sku_snapshots') }}

),

licence_service_plans as (

    select * from {{ ref('licence_service_plans') }}

),

assigned_per_snapshot as (

    select
        tenant_id,
        valid_from,
        valid_to,
        is_licence_assumed,
        sum(case when has_audio_conferencing then 1 else 0 end) as assigned_users
    from licences
    group by tenant_id, valid_from, valid_to, is_licence_assumed

),

pool_skus as (

    select distinct upper(sku_part_number) as sku_part_number
    from licence_service_plans
    where service_plan_name = 'MCOMEETADV'

),

purchased_per_snapshot as (

    select
        tenant_sku_snapshots.tenant_id,
        tenant_sku_snapshots.snapshot_date,
        sum(tenant_sku_snapshots.purchased_units) as purchased_units,
        sum(tenant_sku_snapshots.assigned_units) as assigned_units
    from tenant_sku_snapshots
    inner join pool_skus
        on upper(tenant_sku_snapshots.sku_part_number) = pool_skus.sku_part_number
    group by tenant_sku_snapshots.tenant_id, tenant_sku_snapshots.snapshot_date

),

purchased_ranged as (

    select
        tenant_id,
        snapshot_date as valid_from,
        {{ add_days('lead(snapshot_date) over (partition by tenant_id order by snapshot_date)', -1) }} as valid_to,
        purchased_units,
        assigned_units
    from purchased_per_snapshot

),

final as (

    select
        'assigned' as licence_basis,
        tenant_id,
        valid_from,
        valid_to,
        cast(assigned_users as {{ dbt.type_bigint() }}) as pool_units,
        is_licence_assumed
    from assigned_per_snapshot
    union all
    select
        'purchased' as licence_basis,
        tenant_id,
        valid_from,
        valid_to,
        cast(purchased_units as {{ dbt.type_bigint() }}) as pool_units,
        false as is_licence_assumed
    from purchased_ranged

)

select * from final
