{# The daily table and the per-call facts agree to the second for every tenant, pool and month:
   pooled seconds, overflow seconds and pool-eligible calls of the dial-out pool. #}
with

daily as (

    select
        tenant_id,
        billing_month,
        sum(seconds_used) as pooled_seconds,
        sum(overflow_seconds) as overflow_seconds,
        sum(calls) as calls
    from {{ ref('fct_pool_consumption_daily') }}
    group by tenant_id, billing_month

),

facts as (

    select
        tenant_id,
        billing_month,
        sum(pooled_seconds) as pooled_seconds,
        sum(overflow_seconds) as overflow_seconds,
        sum(case when is_pool_eligible then 1 else 0 end) as calls
    from {{ ref('fct_pstn_calls') }}
    where pool_capability = 'MCOMEETADD' or pool_capability is null
    group by tenant_id, billing_month

),

pool_charges as (

    select
        tenant_id,
        billing_month,
        sum(pooled_seconds) as pooled_seconds
    from {{ ref('fct_charges_mcomeetadd') }}
    group by tenant_id, billing_month

)

select
    facts.tenant_id,
    facts.billing_month,
    facts.pooled_seconds as fact_pooled_seconds,
    daily.pooled_seconds as daily_pooled_seconds,
    pool_charges.pooled_seconds as mcomeetadd_pooled_seconds,
    facts.overflow_seconds as fact_overflow_seconds,
    daily.overflow_seconds as daily_overflow_seconds,
    facts.calls as fact_calls,
    daily.calls as daily_calls
from facts
left join daily
    on facts.tenant_id = daily.tenant_id
        and facts.billing_month = daily.billing_month
left join pool_charges
    on facts.tenant_id = pool_charges.tenant_id
        and facts.billing_month = pool_charges.billing_month
where coalesce(daily.pooled_seconds, 0) <> facts.pooled_seconds
    or coalesce(pool_charges.pooled_seconds, 0) <> facts.pooled_seconds
    or coalesce(daily.overflow_seconds, 0) <> facts.overflow_seconds
    or coalesce(daily.calls, 0) <> facts.calls
