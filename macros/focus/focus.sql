{# The FOCUS (FinOps Open Cost and Usage Specification) mapping's few engine-specific pieces. #}

{% macro json_object(pairs) -%}
    {#- A JSON object text from [(key, column expression)], nulls kept as JSON null, keys in the
        order given: the same text on every engine. -#}
    {{ return(adapter.dispatch('json_object', 'teams_pstn')(pairs)) }}
{%- endmacro %}


{% macro default__json_object(pairs) -%}
    cast(to_json({ {%- for key, value in pairs %}'{{ key }}': {{ value }}{{ ', ' if not loop.last }}{% endfor -%} }) as {{ dbt.type_string() }})
{%- endmacro %}


{% macro spark__json_object(pairs) -%}
    to_json(named_struct({%- for key, value in pairs %}'{{ key }}', {{ value }}{{ ', ' if not loop.last }}{% endfor -%}), map('ignoreNullFields', 'false'))
{%- endmacro %}
