{% macro calling_plans() %}
    {#- The Calling Plans, richest first: a call draws on the first plan its user holds that covers its
        minute type, then on the next (MCOPSTN8 is per user and domestic, so last). -#}
    {{ return(['MCOPSTN2', 'MCOPSTN1', 'MCOPSTN6', 'MCOPSTN5', 'MCOPSTN8']) }}
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
