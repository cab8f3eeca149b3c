{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- The custom schema as written (staging, intermediate, marts, seeds): BI tools rely on
        `marts.<table>` and nothing should be prefixed with the target's schema. -#}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
