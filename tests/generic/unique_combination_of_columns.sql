{% test unique_combination_of_columns(model, combination_of_columns) %}
    {#- Rows whose combination of columns is not unique: the grain test for composite keys. -#}
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
{% endtest %}
