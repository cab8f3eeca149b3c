{{ config(materialized='table') }}

{# Calling Plan pool capacity per tenant, plan, pool country, minute type and day = the plan's
   allotment for that country and minute type valid on the day x users holding the plan on the
   day (always the assigned users). MCOPSTN8 is a pool per user (pool_user_key set). A plan held in
   a country the allotment seed has no row for is a domestic pool of 0 minutes, so its calls still
   name it. Days: the spine of the daily pool table (months in which the tenant has calls). #}
with

pool_days as (

    select * from {{ ref('int_pool_days') }}

),

licences as {{ not_materialized() }} (

    select * from {{ ref('int_licences_resolved') }}

),

calling_plan_allotments as (

    select * from {{ ref('calling_plan_allotments') }}

),

plan_holders as (

    {%- for plan in calling_plans() %}
    select
        tenant_id,
        user_key,
        valid_from,
        valid_to,
        is_licence_assumed,
        '{{ plan }}' as pool_capability,
        {{ calling_plan_country('usage_location') }} as pool_country,
        {{ 'user_key' if plan == 'MCOPSTN8' else 'cast(null as ' ~ dbt.type_string() ~ ')' }} as pool_user_key
    from licences
    where has_{{ plan | lower }}
    {%- if not loop.last %}

    union all

    {% endif %}
    {%- endfor %}

),

holder_days as (

    select
        pool_days.tenant_id,
        plan_holders.pool_capability,
        plan_holders.pool_country,
        plan_holders.pool_user_key,
        pool_days.billing_month,
        pool_days.usage_date,
        pool_days.day_of_month,
        count(*) as licensed_users,
        max(case when plan_holders.is_licence_assumed then 1 else 0 end) = 1 as is_licence_assumed
    from pool_days
    inner join plan_holders
        on pool_days.tenant_id = plan_holders.tenant_id
            and pool_days.usage_date >= plan_holders.valid_from
            and pool_days.usage_date <= {{ open_end_date('plan_holders.valid_to') }}
    where pool_days.pool_capability = 'MCOMEETADD'
    group by
        pool_days.tenant_id,
        plan_holders.pool_capability,
        plan_holders.pool_country,
        plan_holders.pool_user_key,
        pool_days.billing_month,
        pool_days.usage_date,
        pool_days.day_of_month

),

allotments_ranked as (

    {# The country's row wins over the every-country row, per minute type. #}
    select
        holder_days.tenant_id,
        holder_days.pool_capability,
        holder_days.pool_country,
        holder_days.pool_user_key,
        holder_days.usage_date,
        calling_plan_allotments.minute_type,
        calling_plan_allotments.minutes_per_user,
        row_number() over (
            partition by
                holder_days.tenant_id,
                holder_days.pool_capability,
                holder_days.pool_country,
                holder_days.pool_user_key,
                holder_days.usage_date,
                calling_plan_allotments.minute_type
            order by case when calling_plan_allotments.usage_country_code is null then 1 else 0 end
        ) as allotment_rank
    from holder_days
    inner join calling_plan_allotments
        on holder_days.pool_capability = calling_plan_allotments.pool_capability
            and holder_days.usage_date >= calling_plan_allotments.valid_from
            and holder_days.usage_date <= {{ open_end_date('calling_plan_allotments.valid_to') }}
            and (
                calling_plan_allotments.usage_country_code is null
                or holder_days.pool_country = calling_plan_allotments.usage_country_code
            )

),

holder_days_with_allotment as (

    select
        holder_days.*,
        {# No row for the plan in this country: a domestic pool of no minutes. #}
        coalesce(allotments_ranked.minute_type, 'domestic') as minute_type,
        cast(coalesce(allotments_ranked.minutes_per_user, 0) as {{ dbt.type_bigint() }}) as minutes_per_user,
        allotments_ranked.minute_type is null as is_allotment_missing
    from holder_days
    left join allotments_ranked
        on holder_days.tenant_id = allotments_ranked.tenant_id
            and holder_days.pool_capability = allotments_ranked.pool_capability
            and holder_days.pool_country is not distinct from allotments_ranked.pool_country
            and holder_days.pool_user_key is not distinct from allotments_ranked.pool_user_key
            and holder_days.usage_date = allotments_ranked.usage_date
            and allotments_ranked.allotment_rank = 1

)

select
    holder_days_with_allotment.*,
    concat_ws(
        '|',
        pool_capability,
        coalesce(pool_country, ''),
        minute_type,
        coalesce(pool_user_key, '')
    ) as pool_key,
    cast(minutes_per_user * 60 * licensed_users as {{ dbt.type_bigint() }}) as capacity_seconds
from holder_days_with_allotment
