{# The 100 % alert and the day the daily table shows the pool used up are the same day, for every
   pool (a MCOPSTN2 counter closed by the other counter has no 100 % alert of its own). #}
{%- set grain = pool_grain() | join(', ') %}
with

exhausted as (

    select
        {{ grain }},
        billing_month,
        min(usage_date) as exhausted_on
    from {{ ref('fct_pool_consumption_daily') }}
    where is_exhausted and closed_by_minute_type = minute_type
    group by {{ grain }}, billing_month

),

alerts as (

    select
        {{ grain }},
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
    on {{ same_pool('exhausted', 'alerts') }}
        and exhausted.billing_month = alerts.billing_month
where exhausted.exhausted_on is null
    or alerts.crossed_on is null
    or exhausted.exhausted_on <> alerts.crossed_on
