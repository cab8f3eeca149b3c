{#- Null-safe date arithmetic. dbt's own dateadd raises on nulls on Spark, but an open-ended
    validity range legitimately has a null end. -#}

{% macro add_days(date_expression, days) %}
    {{ return(adapter.dispatch('add_days', 'teams_pstn')(date_expression, days)) }}
{% endmacro %}

{% macro default__add_days(date_expression, days) -%}
    cast({{ dbt.dateadd('day', days, date_expression) }} as date)
{%- endmacro %}

{% macro duckdb__add_days(date_expression, days) -%}
    cast(({{ date_expression }}) + cast({{ days }} as integer) as date)
{%- endmacro %}

{% macro spark__add_days(date_expression, days) -%}
    date_add({{ date_expression }}, cast({{ days }} as int))
{%- endmacro %}


{% macro add_months(date_expression, months) %}
    {{ return(adapter.dispatch('add_months', 'teams_pstn')(date_expression, months)) }}
{% endmacro %}

{% macro default__add_months(date_expression, months) -%}
    cast({{ dbt.dateadd('month', months, date_expression) }} as date)
{%- endmacro %}

{% macro duckdb__add_months(date_expression, months) -%}
    cast(({{ date_expression }}) + to_months(cast({{ months }} as integer)) as date)
{%- endmacro %}

{% macro spark__add_months(date_expression, months) -%}
    add_months({{ date_expression }}, cast({{ months }} as int))
{%- endmacro %}


{% macro add_seconds(timestamp_expression, seconds) %}
    {{ return(adapter.dispatch('add_seconds', 'teams_pstn')(timestamp_expression, seconds)) }}
{% endmacro %}

{% macro default__add_seconds(timestamp_expression, seconds) -%}
    {{ dbt.dateadd('second', seconds, timestamp_expression) }}
{%- endmacro %}

{% macro duckdb__add_seconds(timestamp_expression, seconds) -%}
    cast(({{ timestamp_expression }}) + to_seconds(cast({{ seconds }} as bigint)) as timestamp)
{%- endmacro %}

{% macro spark__add_seconds(timestamp_expression, seconds) -%}
    cast(({{ timestamp_expression }}) + make_dt_interval(0, 0, 0, cast({{ seconds }} as bigint)) as timestamp)
{%- endmacro %}
