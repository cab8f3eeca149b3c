{% test unique_combination_of_columns(model, combination_of_columns) %}
    {#- Rows whose combination of columns is not unique: the grain test for composite keys. On a
        model with a test_scope (macros/incremental/test_scope.sql), `model` holds the rows the
        last build wrote; each of their keys is counted in the whole table, so a new row that
        repeats an old one fails as well. -#}
    {%- set columns = combination_of_columns | join(', ') -%}
    {%- set scope = adapter.dispatch('test_scope', 'teams_pstn')() -%}
    {%- if scope.predicate %}
    with keys_written as (

        select distinct {{ columns }}
        from {{ model }}

    )

    select
        {%- for column in combination_of_columns %}
        whole_table.{{ column }},
        {%- endfor %}
        count(*) as occurrences
    from {{ scope.relation }} as whole_table
    inner join keys_written
        on {% for column in combination_of_columns %}whole_table.{{ column }} = keys_written.{{ column }}{{ ' and ' if not loop.last }}{% endfor %}
    group by {% for column in combination_of_columns %}whole_table.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
    having count(*) > 1
    {%- else %}
    select
        {{ columns }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
    {%- endif %}
{% endtest %}
