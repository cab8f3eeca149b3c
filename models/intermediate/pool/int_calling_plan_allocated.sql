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
    'pool_country', 'organizer_user_key', 'call_sequence'] + calling_plans() | map('lower')
    | map('replace', 'mco', 'has_mco') | list %}
with

calls as (

    {# The call type first: the engine pushes it down to the classified calls, so only the users'
       own outbound legs are joined to their licences here. #}
    select * from {{ ref('int_calls_licensed') }} as licensed
    where licensed.call_type in ('user_out', 'user_out_conf', 'user_out_transfer', 'user_out_forwarding')
        and {{ rerate_filter('licensed', scope, date_column=none) }}

),

capacity as (

    select * from {{ ref('int_calling_plan_capacity_daily') }} as capacity_daily
    where {{ rerate_filter('capacity_daily', scope, date_column=none) }}

),

drawing_calls as (

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
        {%- for plan in calling_plans() %}
        has_{{ plan | lower }},
        {%- endfor %}
        duration_seconds as remaining_seconds
    from calls
    where is_calling_plan_leg
        and number_type <> 'premium'
        and not (calling_plan_minute_type = 'domestic' and number_type = 'toll_free')

),

remaining_0 as {{ materialized_once() }} (

    select * from drawing_calls

),
{%- for plan in calling_plans() %}
{%- set k = loop.index %}

offers_{{ k }} as {{ materialized_once() }} (

    select
        remaining_{{ k - 1 }}.*,
        concat_ws(
            '|',
            '{{ plan }}',
            coalesce(pool_country, ''),
            minute_type,
            {{ "coalesce(organizer_user_key, '')" if plan == 'MCOPSTN8' else "''" }}
        ) as pool_key
    from remaining_{{ k - 1 }}
    where has_{{ plan | lower }}
        and remaining_seconds > 0
        {%- if plan != 'MCOPSTN2' %}
        and minute_type = 'domestic'
        {%- endif %}

),

demand_{{ k }} as (

    select
        tenant_id,
        pool_key,
        usage_date,
        sum(remaining_seconds) as demand_seconds
    from offers_{{ k }}
    group by tenant_id, pool_key, usage_date

),

days_{{ k }} as (

    {# The walk macro keys pools by a column named pool_capability: here the whole pool key. #}
    select
        capacity.tenant_id,
        capacity.pool_key as pool_capability,
        capacity.billing_month,
        capacity.day_of_month,
        capacity.capacity_seconds,
        coalesce(demand_{{ k }}.demand_seconds, 0) as demand_seconds
    from capacity
    left join demand_{{ k }}
        on capacity.tenant_id = demand_{{ k }}.tenant_id
            and capacity.pool_key = demand_{{ k }}.pool_key
            and capacity.usage_date = demand_{{ k }}.usage_date
    where capacity.pool_capability = '{{ plan }}'

),

used_at_day_start_{{ k }} as {{ materialized_once() }} (

    {{ pool_used_at_day_start('days_' ~ k, folded=true) }}

),

allocated_{{ k }} as (

    select
        offers_{{ k }}.*,
        capacity.capacity_seconds,
        capacity.pool_user_key,
        used_at_day_start_{{ k }}.used_before_day_seconds
        + least(
            coalesce(
                sum(offers_{{ k }}.remaining_seconds) over (
                    partition by offers_{{ k }}.tenant_id, offers_{{ k }}.pool_key, offers_{{ k }}.usage_date
                    order by offers_{{ k }}.start_at, offers_{{ k }}.usage_id
                    rows between unbounded preceding and 1 preceding
                ),
                0
            ),
            greatest(capacity.capacity_seconds - used_at_day_start_{{ k }}.used_before_day_seconds, 0)
        ) as used_before_call_seconds
    from offers_{{ k }}
    inner join capacity
        on offers_{{ k }}.tenant_id = capacity.tenant_id
            and offers_{{ k }}.pool_key = capacity.pool_key
            and offers_{{ k }}.usage_date = capacity.usage_date
    inner join used_at_day_start_{{ k }}
        on offers_{{ k }}.tenant_id = used_at_day_start_{{ k }}.tenant_id
            and offers_{{ k }}.pool_key = used_at_day_start_{{ k }}.pool_capability
            and offers_{{ k }}.billing_month = used_at_day_start_{{ k }}.billing_month
            and capacity.day_of_month = used_at_day_start_{{ k }}.day_of_month

),

walked_{{ k }} as (

    select
        allocated_{{ k }}.*,
        greatest(least(remaining_seconds, capacity_seconds - used_before_call_seconds), 0) as walked_seconds
    from allocated_{{ k }}

),
{%- if plan == 'MCOPSTN2' %}

closing_{{ k }} as (

    {# The first call that uses either counter of its pool up. #}
    select
        walked_{{ k }}.*,
        min(
            case when used_before_call_seconds + walked_seconds >= capacity_seconds then call_sequence end
        ) over (partition by tenant_id, pool_country, billing_month) as closing_sequence
    from walked_{{ k }}

),

closed_{{ k }} as (

    select
        closing_{{ k }}.*,
        max(case when call_sequence = closing_sequence then minute_type end)
            over (partition by tenant_id, pool_country, billing_month) as closed_by_minute_type,
        case when call_sequence > closing_sequence then 0 else walked_seconds end as pooled_seconds,
        {# After the closing call a counter's use stays where it was then. #}
        case
            when call_sequence > closing_sequence
                then coalesce(
                        max(
                            case
                                when call_sequence <= closing_sequence then used_before_call_seconds + walked_seconds
                            end
                        ) over (partition by tenant_id, pool_key, billing_month),
                        0
                    )
            else used_before_call_seconds
        end as counter_used_before_seconds
    from closing_{{ k }}

),
{%- else %}

closed_{{ k }} as (

    select
        walked_{{ k }}.*,
        cast(null as {{ dbt.type_string() }}) as closed_by_minute_type,
        walked_seconds as pooled_seconds,
        used_before_call_seconds as counter_used_before_seconds
    from walked_{{ k }}

),
{%- endif %}

drawn_{{ k }} as {{ materialized_once() }} (

    select
        tenant_id,
        usage_id,
        billing_month,
        usage_date,
        start_at,
        '{{ plan }}' as pool_capability,
        pool_country,
        minute_type,
        pool_user_key,
        {{ k }} as draw_order,
        remaining_seconds as offered_seconds,
        capacity_seconds,
        counter_used_before_seconds as used_before_call_seconds,
        pooled_seconds,
        closed_by_minute_type
    from closed_{{ k }}

),

remaining_{{ k }} as {{ materialized_once() }} (

    select
        {%- for column in call_columns %}
        remaining_{{ k - 1 }}.{{ column }},
        {%- endfor %}
        remaining_{{ k - 1 }}.remaining_seconds - coalesce(drawn_{{ k }}.pooled_seconds, 0) as remaining_seconds
    from remaining_{{ k - 1 }}
    left join drawn_{{ k }}
        on remaining_{{ k - 1 }}.tenant_id = drawn_{{ k }}.tenant_id
            and remaining_{{ k - 1 }}.usage_id = drawn_{{ k }}.usage_id

),
{%- endfor %}

draws as (

    {%- for plan in calling_plans() %}
    select * from drawn_{{ loop.index }}
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
