{#- Every alert the project raises, one row each, with a stable key: the nightly delivers the rows
    it has not delivered before (alerts file, webhook), BI tools list them. The key carries what
    makes an alert new: a threshold crossed once a month, a forecast whose date moved, a blocked
    count that grew, a load that refused input, a newest call that did not change. -#}
with

pool_crossings as (

    select * from {{ ref('fct_pool_alerts') }}

),

pool_days as (

    select * from {{ ref('fct_pool_consumption_daily') }}

),

calls as (

    select * from {{ ref('fct_pstn_calls') }}

),

rejections as (

    select * from {{ ref('rpt_ingest_rejections') }}

),

unknown_skus as (

    select * from {{ ref('rpt_unknown_skus') }}

),

threshold_alerts as (

    select
        'pool_threshold' as alert_kind,
        tenant_id,
        billing_month,
        crossed_at as raised_at,
        concat(
            'pool_threshold|', tenant_id, '|', cast(billing_month as {{ dbt.type_string() }}), '|',
            cast(threshold_pct as {{ dbt.type_string() }}), {{ pool_alert_key() }}
        ) as alert_id,
        concat(
            'Teams ',
            {{ pool_name_text() }},
            ' of ',
            tenant_id,
            ' reached ',
            cast(threshold_pct as {{ dbt.type_string() }}),
            ' % on ', {{ minute_text('crossed_at') }}, ' UTC (', {{ number_text('mtd_minutes_used') }}, ' of ',
            {{ number_text('pool_minutes') }}, ' minutes used in ',
            substr(cast(billing_month as {{ dbt.type_string() }}), 1, 7),
            ').'
        ) as message

    from pool_crossings

),

latest_pool_days as (

    select
        pool_days.*,
        row_number() over (partition by {{ pool_grain() | join(', ') }} order by usage_date desc) as recency
    from pool_days

),

forecast_alerts as (

    select
        'pool_forecast' as alert_kind,
        tenant_id,
        billing_month,
        cast(usage_date as timestamp) as raised_at,
        concat(
            'pool_forecast|', tenant_id, '|', cast(billing_month as {{ dbt.type_string() }}), '|',
            cast(projected_exhaustion_date as {{ dbt.type_string() }}), {{ pool_alert_key() }}
        ) as alert_id,
        concat(
            'At the month-to-date rate the ', {{ pool_name_text() }}, ' of ', tenant_id, ' runs out on ',
            cast(projected_exhaustion_date as {{ dbt.type_string() }}), ' (', {{ number_text('remaining_minutes') }},
            ' minutes left).'
        ) as message
    from latest_pool_days
    where recency = 1
        and not is_exhausted
        and projected_exhaustion_date is not null

),

blocked_months as (

    select
        tenant_id,
        billing_month,
        count(*) as blocked_calls,
        min(start_at) as first_blocked_at
    from calls
    where is_blocked
    group by tenant_id, billing_month

),

blocked_alerts as (

    select
        'blocked_calls' as alert_kind,
        tenant_id,
        billing_month,
        first_blocked_at as raised_at,
        concat(
            'blocked_calls|', tenant_id, '|', cast(billing_month as {{ dbt.type_string() }}), '|',
            cast(blocked_calls as {{ dbt.type_string() }})
        ) as alert_id,
        concat(
            {{ counted_text('blocked_calls', 'call', 'calls') }}, ' of ', tenant_id, ' in ',
            substr(cast(billing_month as {{ dbt.type_string() }}), 1, 7),
            ' needed Communications Credits the organizer did not hold (blocked).'
        ) as message
    from blocked_months

),

rejected_loads as (

    select
        load_id,
        coalesce(tenant_id, '') as tenant_id,
        max(loaded_at) as loaded_at,
        sum(case when rejection_level = 'file' then 1 else 0 end) as rejected_files,
        sum(case when rejection_level = 'row' then 1 else 0 end) as rejected_rows
    from rejections
    where rejection_level in ('file', 'row')
    group by load_id, coalesce(tenant_id, '')

),

rejection_alerts as (

    select
        'data_quality' as alert_kind,
        nullif(tenant_id, '') as tenant_id,
        cast(null as date) as billing_month,
        loaded_at as raised_at,
        concat('rejected_input|', tenant_id, '|', load_id) as alert_id,
        concat(
            'The load of ', {{ minute_text('loaded_at') }}, ' UTC',
            case when tenant_id = '' then '' else concat(' (', tenant_id, ')') end,
            case
                when rejected_files > 0 and rejected_rows > 0
                    then concat(
                            ' rejected ', {{ counted_text('rejected_files', 'file', 'files') }},
                            ' and quarantined ', {{ counted_text('rejected_rows', 'row', 'rows') }}
                        )
                when rejected_files > 0 then concat(' rejected ', {{ counted_text('rejected_files', 'file', 'files') }})
                else concat(' quarantined ', {{ counted_text('rejected_rows', 'row', 'rows') }})
            end,
            ' (see marts.rpt_ingest_rejections).'
        ) as message
    from rejected_loads

),

newest_calls as (

    select
        tenant_id,
        max(start_at) as newest_call_at
    from calls
    group by tenant_id

),

call_ages as (

    select
        tenant_id,
        newest_call_at,
        {{ dbt.datediff('newest_call_at', alerts_as_of(), 'second') }}
        / 3600.0 as age_hours
    from newest_calls

),

stale_alerts as (

    select
        'data_quality' as alert_kind,
        tenant_id,
        cast(null as date) as billing_month,
        newest_call_at as raised_at,
        concat('stale|', tenant_id, '|', cast(newest_call_at as {{ dbt.type_string() }})) as alert_id,
        concat(
            'The newest call of ', tenant_id, ' started on ', {{ minute_text('newest_call_at') }},
            ' UTC, more than ', {{ number_text(var('stale_after_hours', 48), 0) }},
            ' hours ago: is the export or the fetcher still running?'
        ) as message
    from call_ages
    where age_hours > {{ var('stale_after_hours', 48) | float }}

),

unknown_sku_alerts as (

    select
        'data_quality' as alert_kind,
        tenant_id,
        cast(null as date) as billing_month,
        cast(first_seen_date as timestamp) as raised_at,
        concat('unknown_sku|', tenant_id, '|', sku_reference) as alert_id,
        concat(
            'Licence snapshots of ', tenant_id, ' hold SKU ', sku_reference,
            ', which the licence catalogue does not know (', {{ counted_text('holding_users', 'user', 'users') }}, ', ',
            cast(first_seen_date as {{ dbt.type_string() }}), ' to ', cast(last_seen_date as {{ dbt.type_string() }}),
            '): it grants nothing until seeds/licence_products.csv lists it (see marts.rpt_unknown_skus).'
        ) as message
    from unknown_skus

),

plans_without_allotment as (

    {# A Calling Plan held where seeds/calling_plan_allotments.csv has no minutes for it. #}
    select
        tenant_id,
        pool_capability,
        pool_country,
        min(usage_date) as first_date,
        max(usage_date) as last_date,
        max(licensed_users) as holding_users
    from pool_days
    where pool_capability <> 'MCOMEETADD' and minutes_per_user = 0
    group by tenant_id, pool_capability, pool_country

),

allotment_alerts as (

    select
        'data_quality' as alert_kind,
        tenant_id,
        cast(null as date) as billing_month,
        cast(first_date as timestamp) as raised_at,
        concat(
            'calling_plan_allotment_missing|', tenant_id, '|', pool_capability, '|', coalesce(pool_country, '')
        ) as alert_id,
        concat(
            pool_capability, ' is held in ', coalesce(pool_country, 'no usage location'), ' by ',
            {{ counted_text('holding_users', 'user', 'users') }}, ' of ', tenant_id, ' (',
            cast(first_date as {{ dbt.type_string() }}), ' to ', cast(last_date as {{ dbt.type_string() }}),
            ') but seeds/calling_plan_allotments.csv has no minutes for it there:',
            ' its calls go to credits or are blocked.'
        ) as message
    from plans_without_allotment

),

alerts as (

    select * from threshold_alerts
    union all
    select * from forecast_alerts
    union all
    select * from blocked_alerts
    union all
    select * from rejection_alerts
    union all
    select * from stale_alerts
    union all
    select * from unknown_sku_alerts
    union all
    select * from allotment_alerts

),

final as (

    select
        cast(alert_id as {{ dbt.type_string() }}) as alert_id,
        cast(alert_kind as {{ dbt.type_string() }}) as alert_kind,
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(billing_month as date) as billing_month,
        cast(raised_at as timestamp) as raised_at,
        cast(message as {{ dbt.type_string() }}) as message
    from alerts

)

select * from final
