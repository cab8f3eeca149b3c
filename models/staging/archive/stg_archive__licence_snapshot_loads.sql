{#- Which load brought which licence snapshot day: user snapshots and tenant SKU snapshots, one
    row per tenant, dataset, snapshot day and load. Re-rating reads it to re-rate from the day a
    newly arrived snapshot stands for. -#}
with

licence_users as (

    select * from {{ source('archive', 'licence_users') }}

),

tenant_skus as (

    select * from {{ source('archive', 'tenant_skus') }}

),

snapshot_loads as (

    select distinct
        tenant_id,
        'licence_users' as dataset,
        snapshot_date,
        load_id
    from licence_users
    union all
    select distinct
        tenant_id,
        'tenant_skus' as dataset,
        snapshot_date,
        load_id
    from tenant_skus

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(dataset as {{ dbt.type_string() }}) as dataset,
        cast(snapshot_date as date) as snapshot_date,
        cast(load_id as {{ dbt.type_string() }}) as load_id
    from snapshot_loads

)

select * from final
