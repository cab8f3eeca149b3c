{{ config(**rerate_config(date_column=none)) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}

{# The Calling Plan pools' allocation: one row per call and pool it was offered to. A Calling Plan
   leg (int_calls_licensed.is_calling_plan_leg) that is not premium and not a domestic toll-free
   number draws on the plans its user holds, richest first (macro calling_plans): MCOPSTN2 takes
   domestic and international minutes, the other plans domestic only, MCOPSTN8 from the user's own
   pool. What one plan leaves (its overflow) is offered to the next, in the same order.
   In each plan's pools the calls are taken in (start time, UsageId) order and split to the second
   exactly as the dial-out pool is (int_pool_allocated: a walk over the month's days, then a
   running sum within the day).
   MCOPSTN2's two counters ("whichever is reached first"): each is walked on its own; the first call
   (in (start, UsageId) order) that uses either counter up closes the pool, and no later call of
   that month draws on either counter (licences added later that month do not reopen it).
   A re-rated month is allocated again whole. #}
{%- set call_columns = ['tenant_id', 'usage_id', 'billing_month', 'usage_date', 'start_at', 'minute_type',
    'pool_country', 'organizer_user_key', 'call_sequence'] + calling_plan_flags() %}
{%- set capacity_sql -%}
select * from {{ ref('int_calling_plan_capacity_daily') }} as capacity_daily
where {{ rerate_filter('capacity_daily', scope, date_column=none) }}
{%- endset %}
{%- set drawing_calls_sql -%}
{#- The call type first: the engine pushes it down to the classified calls, so only the users'
    own outbound legs are joined to their licences. #}
select
    tenant_id,
    usage_id,
    billing_month,
    billing_date as usage_date,
    start_at,
    calling_plan_minute_type as minute_type,
    calling_plan_country as pool_country,
    organizer_user_key,
    row_number() over (partition by tenant_id, billing_month order by start_at, usage_id) as call_sequence,
    has_mcopstn2,
    has_mcopstn1,
    has_mcopstn6,
    has_mcopstn5,
    has_mcopstn8,
    duration_seconds as remaining_seconds
from {{ ref('int_calls_licensed') }} as licensed
where licensed.call_type in ('user_out', 'user_out_conf', 'user_out_transfer', 'user_out_forwarding')
    and {{ rerate_filter('licensed', scope, date_column=none) }}
    and is_calling_plan_leg
    and number_type <> 'premium'
    and not (calling_plan_minute_type = 'domestic' and number_type = 'toll_free')
{%- endset %}
{%- if target.type == 'spark' %}
{#- Spark inlines every CTE: each plan reads the calls the previous one left twice (to aggregate its
    days and to allocate its calls), so five chained plans repeat the first 32 times and planning
    ran out of memory; cached views did not cut the lineage either. Each step is therefore written
    as a Parquet table beside the model (<model>__step_<name>) and the next step reads that. #}
{%- set step_prefix = this.schema ~ '.' ~ this.identifier ~ '__step_' %}
{%- if execute %}
    {%- set steps = [('capacity', capacity_sql), ('remaining_0', drawing_calls_sql)] %}
    {%- for plan in calling_plans() %}
        {%- set k = loop.index %}
        {%- do steps.append(('drawn_' ~ k, calling_plan_stage(
            plan, k, step_prefix ~ 'remaining_' ~ (k - 1), step_prefix ~ 'capacity'))) %}
        {%- do steps.append(('remaining_' ~ k, calling_plan_remaining(
            step_prefix ~ 'remaining_' ~ (k - 1), step_prefix ~ 'drawn_' ~ k, call_columns))) %}
    {%- endfor %}
    {%- for name, sql in steps %}
        {%- do run_query('drop table if exists ' ~ step_prefix ~ name) %}
        {%- do run_query('create table ' ~ step_prefix ~ name ~ ' using parquet as ' ~ sql) %}
    {%- endfor %}
{%- endif %}
with
{%- else %}
with

capacity as {{ materialized_once() }} (

    {{ capacity_sql }}

),

remaining_0 as {{ materialized_once() }} (

    {{ drawing_calls_sql }}

),
{%- for plan in calling_plans() %}
{%- set k = loop.index %}

drawn_{{ k }} as {{ materialized_once() }} (

    {{ calling_plan_stage(plan, k, 'remaining_' ~ (k - 1), 'capacity') }}

),

remaining_{{ k }} as {{ materialized_once() }} (

    {{ calling_plan_remaining('remaining_' ~ (k - 1), 'drawn_' ~ k, call_columns) }}

),
{%- endfor %}
{%- endif %}

draws as (

    {%- for plan in calling_plans() %}
    select * from {{ step_prefix ~ 'drawn_' if target.type == 'spark' else 'drawn_' }}{{ loop.index }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        draws.*,
        cast(offered_seconds - pooled_seconds as {{ dbt.type_bigint() }}) as overflow_seconds,
        cast(used_before_call_seconds + pooled_seconds as {{ dbt.type_bigint() }}) as used_after_call_seconds,
        row_number() over (partition by tenant_id, usage_id order by draw_order) = 1 as is_first_draw,
        sum(pooled_seconds) over (partition by tenant_id, usage_id) as call_pooled_seconds
    from draws

)

select
    final.*,
    {{ rated_at() }} as rated_at
from final
