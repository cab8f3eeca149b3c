{# The daily table and the per-call facts agree to the second for every tenant, month and kind of
   pool: pooled seconds of the dial-out pool and of the Calling Plan pools; for the dial-out pool
   also overflow seconds, pool-eligible calls and the MCOMEETADD charge table. (A Calling Plan call
   that draws on two plans is one fact but a row in each plan's pool, so only its pooled seconds add
   up across the tables.) #}
with

daily as (

    select
        tenant_id,
        billing_month,
        case when pool_capability = 'MCOMEETADD' then 'dial_out' else 'calling_plan' end as pool_kind,
        sum(seconds_used) as pooled_seconds,
        sum(overflow_seconds) as overflow_seconds,
        sum(calls) as calls
    from {{ ref('fct_pool_consumption_daily') }}
    group by tenant_id, billing_month, pool_kind

),

facts as (

    select
        tenant_id,
        billing_month,
        case when pool_capability = 'MCOMEETADD' then 'dial_out' else 'calling_plan' end as pool_kind,
        sum(pooled_seconds) as pooled_seconds,
        sum(overflow_seconds) as overflow_seconds,
        count(*) as calls
    from {{ ref('fct_pstn_calls') }}
    where pool_capability is not null
    group by tenant_id, billing_month, pool_kind

),

pool_charges as (

    select
        tenant_id,
        billing_month,
        'dial_out' as pool_kind,
        sum(pooled_seconds) as pooled_seconds
    from {{ ref('fct_charges_mcomeetadd') }}
    group by tenant_id, billing_month

),

compared as (

    select
        coalesce(daily.tenant_id, facts.tenant_id) as tenant_id,
        coalesce(daily.billing_month, facts.billing_month) as billing_month,
        coalesce(daily.pool_kind, facts.pool_kind) as pool_kind,
        coalesce(facts.pooled_seconds, 0) as fact_pooled_seconds,
        coalesce(daily.pooled_seconds, 0) as daily_pooled_seconds,
        coalesce(facts.overflow_seconds, 0) as fact_overflow_seconds,
        coalesce(daily.overflow_seconds, 0) as daily_overflow_seconds,
        coalesce(facts.calls, 0) as fact_calls,
        coalesce(daily.calls, 0) as daily_calls
    from daily
    full outer join facts
        on daily.tenant_id = facts.tenant_id
            and daily.billing_month = facts.billing_month
            and daily.pool_kind = facts.pool_kind

)

select
    compared.*,
    pool_charges.pooled_seconds as mcomeetadd_pooled_seconds
from compared
left join pool_charges
    on compared.tenant_id = pool_charges.tenant_id
        and compared.billing_month = pool_charges.billing_month
        and compared.pool_kind = pool_charges.pool_kind
where compared.daily_pooled_seconds <> compared.fact_pooled_seconds
    or (
        compared.pool_kind = 'dial_out'
        and (
            coalesce(pool_charges.pooled_seconds, 0) <> compared.fact_pooled_seconds
            or compared.daily_overflow_seconds <> compared.fact_overflow_seconds
            or compared.daily_calls <> compared.fact_calls
        )
    )
