{% macro to_billing_time(timestamp_utc) %}
    {#- A UTC timestamp as wall-clock time in var('billing_time_zone'); the identity for UTC. -#}
    {%- set time_zone = var('billing_time_zone', 'UTC') -%}
    {%- if time_zone | upper in ('UTC', 'ETC/UTC', 'GMT', 'Z') -%}
        {{ timestamp_utc }}
    {%- else -%}
        {{ adapter.dispatch('to_billing_time', 'teams_pstn')(timestamp_utc, time_zone) }}
    {%- endif -%}
{% endmacro %}


{% macro default__to_billing_time(timestamp_utc, time_zone) %}
    {{ exceptions.raise_compiler_error("billing_time_zone other than UTC is not implemented for " ~ adapter.type()) }}
{% endmacro %}


{% macro duckdb__to_billing_time(timestamp_utc, time_zone) -%}
    cast((({{ timestamp_utc }}) at time zone 'UTC') at time zone '{{ time_zone }}' as timestamp)
{%- endmacro %}


{% macro spark__to_billing_time(timestamp_utc, time_zone) -%}
    from_utc_timestamp({{ timestamp_utc }}, '{{ time_zone }}')
{%- endmacro %}
