{% macro calling_plans() %}
    {#- The Calling Plans, richest first: a call draws on the first plan its user holds that covers its
        minute type, then on the next (MCOPSTN8 is per user and domestic, so last). -#}
    {{ return(['MCOPSTN2', 'MCOPSTN1', 'MCOPSTN6', 'MCOPSTN5', 'MCOPSTN8']) }}
{% endmacro %}


{% macro calling_plan_flags() %}
    {#- The licence columns saying a user holds each plan (has_mcopstn2, ...), in calling_plans() order. -#}
    {%- set flags = [] -%}
    {%- for plan in calling_plans() -%}
        {%- do flags.append('has_' ~ plan | lower) -%}
    {%- endfor -%}
    {{ return(flags) }}
{% endmacro %}


{% macro calling_plan_country(country) -%}
    {#- The country a Calling Plan pool is kept for: Puerto Rico and the other US territories pool
        with the US. -#}
    case when {{ country }} in ('PR', 'GU', 'VI', 'AS', 'MP', 'UM') then 'US' else {{ country }} end
{%- endmacro %}


{% macro pool_grain() %}
    {#- The columns naming one pool in the pool marts: the dial-out pool is (tenant, MCOMEETADD,
        null country, dial_out, null user); a Calling Plan pool adds its country and minute type
        (MCOPSTN2's two counters are two pools), MCOPSTN8 its user. -#}
    {{ return(['tenant_id', 'pool_capability', 'pool_country', 'minute_type', 'pool_user_id']) }}
{% endmacro %}


{% macro same_pool(left, right) -%}
    {#- Join condition: `left` and `right` name the same pool (null country and user match). -#}
    {%- for column in pool_grain() %}
    {{ 'and ' if not loop.first }}{{ left }}.{{ column }}
        {{- ' is not distinct from ' if column in ('pool_country', 'pool_user_id') else ' = ' -}}
        {{ right }}.{{ column }}
    {%- endfor %}
{%- endmacro %}


{% macro calling_plan_stage(plan, k, previous, capacity) %}
    {#- One plan's allocation (the k-th drawn on, richest first): the calls of `previous` (their
        seconds the earlier plans left, `remaining_seconds`) whose user holds `plan` and whose
        minute type it covers, against `capacity` (int_calling_plan_capacity_daily rows), one row
        per call offered. Used by int_calling_plan_allocated, which chains the plans. -#}
    with

    offers as (

        select
            previous.*,
            concat_ws(
                '|',
                '{{ plan }}',
                coalesce(pool_country, ''),
                minute_type,
                {{ "coalesce(organizer_user_key, '')" if plan == 'MCOPSTN8' else "''" }}
            ) as pool_key
        from {{ previous }} as previous
        where has_{{ plan | lower }}
            and remaining_seconds > 0
            {%- if plan != 'MCOPSTN2' %}
            and minute_type = 'domestic'
            {%- endif %}

    ),

    demand as (

        select
            tenant_id,
            pool_key,
            usage_date,
            sum(remaining_seconds) as demand_seconds
        from offers
        group by tenant_id, pool_key, usage_date

    ),

    days as (

        {# The walk macro keys pools by a column named pool_capability: here the whole pool key. #}
        select
            capacity.tenant_id,
            capacity.pool_key as pool_capability,
            capacity.billing_month,
            capacity.day_of_month,
            capacity.capacity_seconds,
            coalesce(demand.demand_seconds, 0) as demand_seconds
        from {{ capacity }} as capacity
        left join demand
            on capacity.tenant_id = demand.tenant_id
                and capacity.pool_key = demand.pool_key
                and capacity.usage_date = demand.usage_date
        where capacity.pool_capability = '{{ plan }}'

    ),

    used_at_day_start as (

        {{ pool_used_at_day_start('days', folded=true) }}

    ),

    allocated as (

        select
            offers.*,
            capacity.capacity_seconds,
            capacity.pool_user_key,
            used_at_day_start.used_before_day_seconds
            + least(
                coalesce(
                    sum(offers.remaining_seconds) over (
                        partition by offers.tenant_id, offers.pool_key, offers.usage_date
                        order by offers.start_at, offers.usage_id
                        rows between unbounded preceding and 1 preceding
                    ),
                    0
                ),
                greatest(capacity.capacity_seconds - used_at_day_start.used_before_day_seconds, 0)
            ) as used_before_call_seconds
        from offers
        inner join {{ capacity }} as capacity
            on offers.tenant_id = capacity.tenant_id
                and offers.pool_key = capacity.pool_key
                and offers.usage_date = capacity.usage_date
        inner join used_at_day_start
            on offers.tenant_id = used_at_day_start.tenant_id
                and offers.pool_key = used_at_day_start.pool_capability
                and offers.billing_month = used_at_day_start.billing_month
                and capacity.day_of_month = used_at_day_start.day_of_month

    ),

    walked as (

        select
            allocated.*,
            greatest(least(remaining_seconds, capacity_seconds - used_before_call_seconds), 0) as walked_seconds
        from allocated

    ),
    {%- if plan == 'MCOPSTN2' %}

    closing as (

        {# The first call that uses either counter of its pool up. #}
        select
            walked.*,
            min(
                case when used_before_call_seconds + walked_seconds >= capacity_seconds then call_sequence end
            ) over (partition by tenant_id, pool_country, billing_month) as closing_sequence
        from walked

    ),

    closed as (

        select
            closing.*,
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
        from closing

    ),
    {%- else %}

    closed as (

        select
            walked.*,
            cast(null as {{ dbt.type_string() }}) as closed_by_minute_type,
            walked_seconds as pooled_seconds,
            used_before_call_seconds as counter_used_before_seconds
        from walked

    ),
    {%- endif %}

    drawn as (

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
        from closed

    )

    select * from drawn
{% endmacro %}


{% macro calling_plan_remaining(previous, drawn, call_columns) %}
    {#- The calls of `previous` with what the plan of `drawn` took from them subtracted. -#}
    select
        {%- for column in call_columns %}
        previous.{{ column }},
        {%- endfor %}
        previous.remaining_seconds - coalesce(drawn.pooled_seconds, 0) as remaining_seconds
    from {{ previous }} as previous
    left join {{ drawn }} as drawn
        on previous.tenant_id = drawn.tenant_id
            and previous.usage_id = drawn.usage_id
{% endmacro %}
