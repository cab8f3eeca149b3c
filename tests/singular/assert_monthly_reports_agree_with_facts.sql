{# The monthly reports are the sums of the facts, to the second and the cent:
   rpt_monthly_pool_usage = fct_pool_consumption_daily; rpt_monthly_charges = fct_pstn_calls;
   the MCOPSTNPP rows of rpt_monthly_charges = fct_charges_mcopstnpp =
   rpt_monthly_charges_by_department. Each failing row names the check. #}
with

pool_report as (

    select
        tenant_id,
        billing_month,
        sum(seconds_used) as seconds,
        sum(overflow_seconds) as overflow_seconds
    from {{ ref('rpt_monthly_pool_usage') }}
    group by tenant_id, billing_month

),

pool_daily as (

    select
        tenant_id,
        billing_month,
        sum(seconds_used) as seconds,
        sum(overflow_seconds) as overflow_seconds
    from {{ ref('fct_pool_consumption_daily') }}
    group by tenant_id, billing_month

),

charges_report as (

    select
        tenant_id,
        billing_month,
        sum(calls) as calls,
        sum(pooled_seconds) as pooled_seconds,
        sum(charged_seconds) as charged_seconds,
        sum(billable_minutes) as billable_minutes,
        sum(rated_charge) as rated_charge
    from {{ ref('rpt_monthly_charges') }}
    group by tenant_id, billing_month

),

charges_facts as (

    select
        tenant_id,
        billing_month,
        count(*) as calls,
        sum(pooled_seconds) as pooled_seconds,
        sum(charged_seconds) as charged_seconds,
        sum(billable_minutes) as billable_minutes,
        sum(rated_charge) as rated_charge
    from {{ ref('fct_pstn_calls') }}
    group by tenant_id, billing_month

),

credits_report as (

    select
        tenant_id,
        billing_month,
        sum(billable_minutes) as billable_minutes,
        sum(rated_charge) as rated_charge
    from {{ ref('rpt_monthly_charges') }}
    where rated_capability = 'MCOPSTNPP'
    group by tenant_id, billing_month

),

credits_facts as (

    select
        tenant_id,
        billing_month,
        sum(billable_minutes) as billable_minutes,
        sum(rated_charge) as rated_charge
    from {{ ref('fct_charges_mcopstnpp') }}
    group by tenant_id, billing_month

),

credits_departments as (

    select
        tenant_id,
        billing_month,
        sum(billable_minutes) as billable_minutes,
        sum(rated_charge) as rated_charge
    from {{ ref('rpt_monthly_charges_by_department') }}
    group by tenant_id, billing_month

),

checks as (

    select
        'pool report vs daily' as failed_check,
        pool_daily.tenant_id,
        pool_daily.billing_month
    from pool_daily
    left join pool_report
        on pool_daily.tenant_id = pool_report.tenant_id and pool_daily.billing_month = pool_report.billing_month
    where coalesce(pool_report.seconds, -1) <> pool_daily.seconds
        or coalesce(pool_report.overflow_seconds, -1) <> pool_daily.overflow_seconds

    union all

    select
        'charges report vs call facts' as failed_check,
        charges_facts.tenant_id,
        charges_facts.billing_month
    from charges_facts
    left join charges_report
        on charges_facts.tenant_id = charges_report.tenant_id
            and charges_facts.billing_month = charges_report.billing_month
    where coalesce(charges_report.calls, -1) <> charges_facts.calls
        or coalesce(charges_report.pooled_seconds, -1) <> charges_facts.pooled_seconds
        or coalesce(charges_report.charged_seconds, -1) <> charges_facts.charged_seconds
        or coalesce(charges_report.billable_minutes, -1) <> charges_facts.billable_minutes
        or coalesce(charges_report.rated_charge, -1) <> coalesce(charges_facts.rated_charge, -1)

    union all

    select
        'credits report vs MCOPSTNPP facts vs departments' as failed_check,
        credits_facts.tenant_id,
        credits_facts.billing_month
    from credits_facts
    left join credits_report
        on credits_facts.tenant_id = credits_report.tenant_id
            and credits_facts.billing_month = credits_report.billing_month
    left join credits_departments
        on credits_facts.tenant_id = credits_departments.tenant_id
            and credits_facts.billing_month = credits_departments.billing_month
    where coalesce(credits_report.rated_charge, -1) <> coalesce(credits_facts.rated_charge, -1)
        or coalesce(credits_departments.rated_charge, -1) <> coalesce(credits_facts.rated_charge, -1)
        or coalesce(credits_report.billable_minutes, -1) <> credits_facts.billable_minutes
        or coalesce(credits_departments.billable_minutes, -1) <> credits_facts.billable_minutes

)

select * from checks
