{# Text for people (alert messages): the same characters on every engine. #}

{% macro number_text(expression, decimals=0) -%}
    {#- A number with thousands separators and the given decimals: 1234.5 -> '1,235'. -#}
    {{ return(adapter.dispatch('number_text', 'teams_pstn')(expression, decimals)) }}
{%- endmacro %}

{% macro default__number_text(expression, decimals) -%}
    format('{:,.{{ decimals | int }}f}', {{ rounded_double(expression, decimals) }})
{%- endmacro %}

{% macro spark__number_text(expression, decimals) -%}
    format_number({{ rounded_double(expression, decimals) }}, {{ decimals | int }})
{%- endmacro %}


{% macro counted_text(expression, singular, plural) -%}
    {#- A count with its noun: 1 -> '1 call', 1234 -> '1,234 calls'. -#}
    concat({{ number_text(expression) }}, case when {{ expression }} = 1 then ' {{ singular }}' else ' {{ plural }}' end)
{%- endmacro %}


{% macro rounded_double(expression, decimals) -%}
    {#- Rounded half away from zero as a decimal first (both engines agree on that), so the
        formatting never meets a tie. -#}
    cast(round(cast({{ expression }} as decimal(38, 6)), {{ decimals | int }}) as double)
{%- endmacro %}


{% macro minute_text(timestamp_expression) -%}
    {#- A timestamp to the minute: '2024-03-14 09:30'. -#}
    {{ return(adapter.dispatch('minute_text', 'teams_pstn')(timestamp_expression)) }}
{%- endmacro %}

{% macro default__minute_text(timestamp_expression) -%}
    strftime({{ timestamp_expression }}, '%Y-%m-%d %H:%M')
{%- endmacro %}

{% macro spark__minute_text(timestamp_expression) -%}
    date_format({{ timestamp_expression }}, 'yyyy-MM-dd HH:mm')
{%- endmacro %}


{% macro alerts_as_of() -%}
    {#- The instant alerts are judged at (stale data): var alerts_as_of when set, else the
        build's start (UTC). -#}
    {%- set fixed = var('alerts_as_of', '') -%}
    {%- if fixed -%}
        cast('{{ fixed }}' as timestamp)
    {%- else -%}
        {{ rated_at() }}
    {%- endif -%}
{%- endmacro %}


{% macro pool_alert_key() -%}
    {#- What an alert key adds for a pool: nothing for the dial-out pool (its keys predate the
        Calling Plans and must not change), else the plan, country, minute type (and user). -#}
    case
        when pool_capability = 'MCOMEETADD' then ''
        else concat(
            '|', pool_capability, '|', coalesce(pool_country, ''), '|', minute_type,
            case when pool_user_id is null then '' else concat('|', pool_user_id) end
        )
    end
{%- endmacro %}


{% macro pool_name_text() -%}
    {#- The pool as a reader names it: "dial-out pool", "MCOPSTN1 Calling Plan pool (US, domestic)". -#}
    case
        when pool_capability = 'MCOMEETADD' then 'dial-out pool'
        else concat(
            pool_capability, ' Calling Plan pool (', coalesce(pool_country, 'no usage location'), ', ', minute_type,
            case when pool_user_id is null then '' else concat(', user ', pool_user_id) end, ')'
        )
    end
{%- endmacro %}
