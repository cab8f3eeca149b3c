{{ config(materialized='table') }}

{# Pool capacity for tenant t and day d = allotment per user valid on d (tenant
   country exceptions and var('pool_allotment_overrides') applied) x users holding MCOMEETADV on d
   (basis `assigned`) or units bought (basis `purchased`, var('pool_licence_basis')). #}
{%- set basis = var('pool_licence_basis', 'assigned') %}
{%- if basis not in ('assigned', 'purchased') %}
    {{ exceptions.raise_compiler_error("var pool_licence_basis must be 'assigned' or 'purchased', not '" ~ basis ~ "'") }}
{%- endif %}
with

pool_days as (

    select * from {{ ref('int_pool_days') }}

),

tenants as (

    select * from {{ ref('int_tenants_resolved') }}

),

pool_units as (

    select * from {{ ref('int_pool_units_by_snapshot') }}

),

pool_allotments as (

    select * from {{ ref('pool_allotments') }}

),

days_with_units as (

    select
        pool_days.tenant_id,
        pool_days.pool_capability,
        pool_days.billing_month,
        pool_days.usage_date,
        pool_days.day_of_month,
        tenants.tenant_country_code,
        coalesce(assigned.pool_units, 0) as assigned_users,
        coalesce(assigned.is_licence_assumed, false) as is_assigned_assumed,
        purchased.pool_units as purchased_units
    from pool_days
    left join tenants
        on pool_days.tenant_id = tenants.tenant_id
    left join pool_units as assigned
        on assigned.licence_basis = 'assigned'
            and pool_days.tenant_id = assigned.tenant_id
            and pool_days.usage_date >= assigned.valid_from
            and pool_days.usage_date <= {{ open_end_date('assigned.valid_to') }}
    left join pool_units as purchased
        on purchased.licence_basis = 'purchased'
            and pool_days.tenant_id = purchased.tenant_id
            and pool_days.usage_date >= purchased.valid_from
            and pool_days.usage_date <= {{ open_end_date('purchased.valid_to') }}

),

allotments_ranked as (

    select
        days_with_units.tenant_id,
        days_with_units.usage_date,
        pool_allotments.minutes_per_user,
        row_number() over (
            partition by days_with_units.tenant_id, days_with_units.pool_capability, days_with_units.usage_date
            order by case when pool_allotments.tenant_country_code is null then 1 else 0 end
        ) as allotment_rank
    from days_with_units
    inner join pool_allotments
        on days_with_units.pool_capability = pool_allotments.pool_capability
            and days_with_units.usage_date >= pool_allotments.valid_from
            and days_with_units.usage_date <= {{ open_end_date('pool_allotments.valid_to') }}
            and (
                pool_allotments.tenant_country_code is null
                or days_with_units.tenant_country_code = pool_allotments.tenant_country_code
            )

),

final as (

    select
        days_with_units.tenant_id,
        days_with_units.pool_capability,
        days_with_units.billing_month,
        days_with_units.usage_date,
        days_with_units.day_of_month,
        days_with_units.tenant_country_code,
        days_with_units.assigned_users,
        days_with_units.purchased_units,
        {%- if basis == 'purchased' %}
        case when days_with_units.purchased_units is null then 'assigned' else 'purchased' end as licence_basis,
        coalesce(days_with_units.purchased_units, days_with_units.assigned_users) as licensed_users,
        days_with_units.purchased_units is null and days_with_units.is_assigned_assumed as is_licence_assumed,
        {%- else %}
        'assigned' as licence_basis,
        days_with_units.assigned_users as licensed_users,
        days_with_units.is_assigned_assumed as is_licence_assumed,
        {%- endif %}
        {%- set overrides = var('pool_allotment_overrides', {}) %}
        cast(
            {%- if overrides %}
            case days_with_units.tenant_id
                {%- for tenant, minutes in overrides.items() %}
                when '{{ tenant }}' then {{ minutes | int }}
                {%- endfor %}
                else allotments_ranked.minutes_per_user
            end
            {%- else %}
            allotments_ranked.minutes_per_user
            {%- endif %}
            as {{ dbt.type_bigint() }}
        ) as minutes_per_user
    from days_with_units
    left join allotments_ranked
        on days_with_units.tenant_id = allotments_ranked.tenant_id
            and days_with_units.usage_date = allotments_ranked.usage_date
            and allotments_ranked.allotment_rank = 1

)

select
    final.*,
    cast(final.minutes_per_user * 60 * final.licensed_users as {{ dbt.type_bigint() }}) as capacity_seconds
from final
