{% test expression_is_true(model, expression, column_name=none) %}
    {#- Rows for which the boolean expression is not true (nulls count as failures). With a
        column, the expression is applied to it: `expression: ">= 0"`. -#}
    select *
    from {{ model }}
    where not coalesce(({{ column_name ~ ' ' if column_name else '' }}{{ expression }}), false)
{% endtest %}
