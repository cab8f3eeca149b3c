{# The price of a call, stated once: billable minutes (charged seconds rounded up to
   var('billing_increment_seconds')) times the rate, plus the connection fee, to the cent. #}

{% macro billable_seconds(seconds_expression) -%}
    {%- set increment = var('billing_increment_seconds', 60) | int -%}
    cast(ceil({{ seconds_expression }} / {{ increment }}.0) * {{ increment }} as {{ dbt.type_bigint() }})
{%- endmacro %}


{% macro call_charge(minutes_expression, rate_expression, fee_expression) -%}
    {#- Money is only multiplied and added, never divided, so DECIMAL stays exact. -#}
    cast(round({{ minutes_expression }} * {{ rate_expression }} + {{ fee_expression }}, 2) as decimal(18, 2))
{%- endmacro %}
