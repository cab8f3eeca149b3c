{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='append_new_columns') }}

{# The log of incremental re-rating: one row per tenant and billing month a run must
   rebuild, appended once per run. Every model configured with rerate_config() rebuilds the
   months logged after its own last rating (rated_at), so a model that failed in one run catches
   up in the next. A month is re-rated when
   * a call of it arrived or changed (every month any version of a re-sent call fell in),
   * a licence or SKU snapshot dated in or before it arrived (from that snapshot's month on;
     a new first snapshot of the tenant changes the assumed days before it, so every month),
   * the seeds, the models' SQL or a rating variable changed
     (the fingerprint differs from the last run's): every month, for the models that read what
     changed (changed_inputs; a changed variable or an unknown last state: every model),
   * or this is the first build / a --full-refresh: every month. #}
{%- set inputs = rating_inputs() %}
{%- set fingerprint = local_md5(inputs) %}
{%- set state = {'watermark': none, 'fingerprint': none, 'inputs': none} %}
{%- if execute and is_incremental() %}
    {%- set last_run = run_query(
        "select max(loaded_through_load_id), max(rating_fingerprint), "
        ~ ("max(rating_inputs)" if has_column(this, 'rating_inputs') else "cast(null as " ~ dbt.type_string() ~ ")")
        ~ " from " ~ this ~ " where rated_at = (select max(rated_at) from " ~ this ~ ")") %}
    {%- do state.update({
        'watermark': last_run.columns[0].values()[0],
        'fingerprint': last_run.columns[1].values()[0],
        'inputs': last_run.columns[2].values()[0],
    }) %}
{%- endif %}
{%- set initial = not is_incremental() or state.watermark is none %}
{%- set changed_inputs = changed_rating_inputs(state.inputs, inputs)
    if not initial and state.fingerprint != fingerprint else none %}
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

{%- if initial %}

months as (

    select distinct
        tenant_id,
        billing_month,
        billing_month as rerate_from_date,
        'initial_build' as rerate_reason,
        cast(null as {{ dbt.type_string() }}) as changed_inputs
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

arrived_months as (

    select tenant_id, billing_month, min(rerate_from_date) as rerate_from_date, min(rerate_reason) as rerate_reason
    from (
        select * from call_months
        union all
        select * from licence_months
    ) as reasons
    group by tenant_id, billing_month

),
{%- if changed_inputs is none %}

months as (

    select
        arrived_months.*,
        cast(null as {{ dbt.type_string() }}) as changed_inputs
    from arrived_months

),
{%- else %}

months as (

    {# Every month for the models the changed inputs reach; a month that also has new calls or
       licences is re-rated whole by every model. #}
    select
        every_month.tenant_id,
        every_month.billing_month,
        every_month.billing_month as rerate_from_date,
        coalesce(arrived_months.rerate_reason, 'rating_inputs_changed') as rerate_reason,
        case when arrived_months.tenant_id is null then '{{ changed_inputs }}' end as changed_inputs
    from (select distinct tenant_id, billing_month from archive_calls) as every_month
    left join arrived_months
        on every_month.tenant_id = arrived_months.tenant_id
        and every_month.billing_month = arrived_months.billing_month

),
{%- endif %}
{%- endif %}

final as (

    select
        months.tenant_id,
        months.billing_month,
        months.rerate_from_date,
        months.rerate_reason,
        months.changed_inputs,
        '{{ fingerprint }}' as rating_fingerprint,
        {# The same text on every row of a run: the columnar file stores it once per block. #}
        '{{ inputs | replace("'", "''") }}' as rating_inputs,
        watermark.loaded_through_load_id,
        {{ rated_at() }} as rated_at
    from months
    cross join watermark

)

select * from final
