{# Licence SKUs the catalogue does not know (seeds/licence_products.csv, by String ID or GUID),
   per tenant: where they were seen (users' assignments, the tenant's subscriptions), from and
   to which snapshot day, and how many users held them. Such a SKU grants nothing in the rating
   until the catalogue lists it, so the build warns and the nightly raises an alert for each. #}
{{ config(materialized='table') }}

with

licence_users as (

    select * from {{ ref('stg_archive__licence_users') }}

),

licence_assignments as (

    select * from {{ ref('stg_archive__licence_assignments') }}

),

tenant_skus as (

    select * from {{ ref('stg_archive__tenant_sku_snapshots') }}

),

licence_products as (

    select * from {{ ref('licence_products') }}

),

current_assignments as (

    {# The assignments that came with the current version of each user's row. #}
    select
        licence_assignments.tenant_id,
        licence_assignments.snapshot_date,
        licence_assignments.user_key,
        licence_assignments.sku_part_number,
        licence_assignments.sku_id,
        licence_assignments.sku_reference
    from licence_assignments
    inner join licence_users
        on {{ joins_current_user_row('licence_assignments', 'licence_users') }}

),

seen as (

    select
        tenant_id,
        snapshot_date,
        sku_part_number,
        sku_id,
        sku_reference,
        user_key,
        'user_assignments' as seen_in
    from current_assignments

    union all

    select
        tenant_id,
        snapshot_date,
        sku_part_number,
        sku_id,
        coalesce(sku_part_number, concat('SKUID:', sku_id)) as sku_reference,
        cast(null as {{ dbt.type_string() }}) as user_key,
        'tenant_subscriptions' as seen_in
    from tenant_skus

),

skus_seen as (

    select distinct
        sku_part_number,
        sku_id
    from seen

),

unknown_skus as (

    select
        skus_seen.sku_part_number,
        skus_seen.sku_id
    from skus_seen
    left join licence_products as by_name
        on upper(skus_seen.sku_part_number) = upper(by_name.sku_part_number)
    left join licence_products as by_id
        on skus_seen.sku_id = lower(by_id.sku_id)
    where by_name.sku_part_number is null
        and by_id.sku_part_number is null

),

final as (

    select
        seen.tenant_id,
        min(seen.sku_reference) as sku_reference,
        min(seen.snapshot_date) as first_seen_date,
        max(seen.snapshot_date) as last_seen_date,
        count(distinct seen.snapshot_date) as snapshot_days,
        count(distinct seen.user_key) as holding_users,
        max(case when seen.seen_in = 'user_assignments' then 1 else 0 end) = 1 as is_assigned_to_users,
        max(case when seen.seen_in = 'tenant_subscriptions' then 1 else 0 end) = 1 as is_subscribed
    from seen
    inner join unknown_skus
        on seen.sku_part_number is not distinct from unknown_skus.sku_part_number
            and seen.sku_id is not distinct from unknown_skus.sku_id
    group by seen.tenant_id, upper(coalesce(seen.sku_part_number, concat('SKUID:', seen.sku_id)))

)

select * from final
