{% macro integer_range(count, column_name='n') %}
    {#- Rows 0 .. count-1 as a portable inline relation (no generate_series on every engine). -#}
    {%- for i in range(count) %}
    select {{ i }} as {{ column_name }}{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{% endmacro %}


{% macro seconds_to_minutes(seconds) -%}
    cast(round(({{ seconds }}) / 60.0, 4) as decimal(18, 4))
{%- endmacro %}


{% macro open_end_date(column) -%}
    coalesce({{ column }}, cast('9999-12-31' as date))
{%- endmacro %}


{% macro mask_phone_number(number_column, calling_code_column) -%}
    {#- Country calling code and the last three digits: enough to recognise a number, not to dial it. -#}
    case
        when {{ number_column }} is null then null
        when {{ calling_code_column }} is null then concat('***', right({{ number_column }}, 3))
        else concat('+', {{ calling_code_column }}, '***', right({{ number_column }}, 3))
    end
{%- endmacro %}


{% macro user_label(column) -%}
    {#- UPNs and names are personal data: with var('pseudonymise_users') they become a stable hash. -#}
    {%- if var('pseudonymise_users', false) -%}
        case when {{ column }} is null then null else concat('user-', substring({{ dbt.hash(column) }}, 1, 12)) end
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}
