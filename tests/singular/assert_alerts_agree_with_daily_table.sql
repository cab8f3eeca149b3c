{# The 100 % alert and the day the daily table shows the pool used up are the same day. #}
with

exhausted as (

    select
        tenant_id,
        pool_capability,
        billing_month,
        exhausted_on
    from {{ ref('rpt_monthly_pool_usage') }}
    where exhausted_on is not null

),

alerts as (

    select
        tenant_id,
        pool_capability,
        billing_month,
        crossed_on
    from {{ ref('fct_pool_alerts') }}
    where threshold_pct = 100

)

select
    exhausted.*,
    alerts.crossed_on
from exhausted
full outer join alerts
    on exhausted.tenant_id = alerts.tenant_id
        and exhausted.pool_capability = alerts.pool_capability
        and exhausted.billing_month = alerts.billing_month
where exhausted.exhausted_on is null
    or alerts.crossed_on is null
    or exhausted.exhausted_on <> alerts.crossed_on
