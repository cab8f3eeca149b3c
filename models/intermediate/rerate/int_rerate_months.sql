{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns') }}

{# The log of incremental re-rating: one row per tenant and billing month a run must
   rebuild, appended once per run. Every model configured with rerate_config() rebuilds the
   months logged after its own last rating (rated_at), so a model that failed in one run catches
   up in the next. A month is re-rated when
   * a call of it arrived or changed (every month any version of a re-sent call fell in),
   * a licence or SKU snapshot dated in or before it arrived (from that snapshot's month on;
     a new first snapshot of the tenant changes the assumed days before it, so every month),
   * the seeds, the models' SQL or a rating variable changed
     (the fingerprint differs from the last run's): every month,
   * or this is the first build / a --full-refresh: every month. #}
{%- set fingerprint = rating_fingerprint() %}
{%- set state = {'watermark': none, 'fingerprint': none} %}
{%- if execute and is_incremental() %}
    {%- set last_run = run_query(
        "select max(loaded_through_load_id), max(rating_fingerprint) from " ~ this
        ~ " where rated_at = (select max(rated_at) from " ~ this ~ ")") %}
{%- do state.update({'watermark': last_run.columns[0].values()[0], 'fingerprint': last_run.columns[1].values()[0]}) %}
{%- endif %}
{%- set rerate_all = not is_incremental() or state.watermark is none or state.fingerprint != fingerprint %}
{%- set reason_all = 'initial_build' if not is_incremental() or state.watermark is none else 'rating_inputs_changed' %}
with

archive_calls as {{ not_materialized() }} (

    {# Billing day and month of every archived version, in var('billing_time_zone'). #}
    select
        tenant_id,
        usage_id,
        start_at,
        load_id,
        cast({{ to_billing_time('start_at') }} as date) as billing_date,
        cast({{ dbt.date_trunc('month', to_billing_time('start_at')) }} as date) as billing_month
    from {{ ref('stg_archive__call_versions') }}

),

archive_licence_snapshots as (

    select
        tenant_id,
        snapshot_date,
        load_id
    from {{ ref('stg_archive__licence_snapshot_loads') }}

),

watermark as (

    select max(load_id) as loaded_through_load_id
    from (
        select load_id from archive_calls
        union all
        select load_id from archive_licence_snapshots
    ) as loads

),

{%- if rerate_all %}

months as (

    select distinct
        tenant_id,
        billing_month,
        billing_month as rerate_from_date,
        '{{ reason_all }}' as rerate_reason
    from archive_calls

),
{%- else %}

new_call_keys as (

    select distinct tenant_id, usage_id
    from archive_calls
    where load_id > '{{ state.watermark }}'

),

call_months as (

    {# Every version of a new or re-sent call: a changed start time moves the call's month.
       The month is re-rated from the earliest billing day any of those versions falls on. #}
    select
        archive_calls.tenant_id,
        archive_calls.billing_month,
        min(archive_calls.billing_date) as rerate_from_date,
        'calls_arrived' as rerate_reason
    from archive_calls
    inner join new_call_keys
        on archive_calls.tenant_id = new_call_keys.tenant_id
        and archive_calls.usage_id = new_call_keys.usage_id
    group by archive_calls.tenant_id, archive_calls.billing_month

),

new_licence_snapshots as (

    select tenant_id, min(snapshot_date) as changed_from
    from archive_licence_snapshots
    where load_id > '{{ state.watermark }}'
    group by tenant_id

),

licence_changes as (

    {#- A snapshot on or before the tenant's first one also stands for every day before it when
        var assume_licences_before_first_snapshot is on: then every earlier month changes too. #}
    select
        new_licence_snapshots.tenant_id,
        {%- if var('assume_licences_before_first_snapshot', true) %}
        case
            when new_licence_snapshots.changed_from <= first_snapshots.first_snapshot_date
                then {{ assumed_licences_from() }}
            else new_licence_snapshots.changed_from
        end as changed_from
        {%- else %}
        new_licence_snapshots.changed_from
        {%- endif %}
    from new_licence_snapshots
    inner join (
        select tenant_id, min(snapshot_date) as first_snapshot_date
        from archive_licence_snapshots
        group by tenant_id
    ) as first_snapshots
        on new_licence_snapshots.tenant_id = first_snapshots.tenant_id

),

licence_months as (

    {# A snapshot stands from its day until the next one: its month from its day on, and every
       later month whole. #}
    select distinct
        archive_calls.tenant_id,
        archive_calls.billing_month,
        {# The snapshot's own month from its day; a later month from its first day. #}
        greatest(licence_changes.changed_from, archive_calls.billing_month) as rerate_from_date,
        'licences_arrived' as rerate_reason
    from archive_calls
    inner join licence_changes
        on archive_calls.tenant_id = licence_changes.tenant_id
        and archive_calls.start_at >= {{ add_days('licence_changes.changed_from', -40) }}
    where archive_calls.billing_month >= cast({{ dbt.date_trunc('month', 'licence_changes.changed_from') }} as date)

),

months as (

    select tenant_id, billing_month, min(rerate_from_date) as rerate_from_date, min(rerate_reason) as rerate_reason
    from (
        select * from call_months
        union all
        select * from licence_months
    ) as reasons
    group by tenant_id, billing_month

),
{%- endif %}

final as (

    select
        months.tenant_id,
        months.billing_month,
        months.rerate_from_date,
        months.rerate_reason,
        '{{ fingerprint }}' as rating_fingerprint,
        watermark.loaded_through_load_id,
        {{ rated_at() }} as rated_at
    from months
    cross join watermark

)

select * from final
