{{ config(severity='warn') }}
{# A warning, not an error: a plan held in a country seeds/calling_plan_allotments.csv does not
   list adds no minutes, so its users' calls go to credits or are blocked until the seed lists it. #}
select
    tenant_id,
    pool_capability,
    pool_country,
    min(usage_date) as first_day,
    max(usage_date) as last_day,
    max(licensed_users) as holding_users
from {{ ref('int_calling_plan_capacity_daily') }}
where is_allotment_missing
group by tenant_id, pool_capability, pool_country
