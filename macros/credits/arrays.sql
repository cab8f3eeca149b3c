{#- Portable array and struct helpers for the credits fold (DuckDB lists and Spark arrays differ
    in names, index base and type syntax). Lambdas are written `x -> body` on both engines. -#}

{% macro sql_type(type_name) %}
    {#- 'text' is the only type name the two engines spell differently here. -#}
    {%- if type_name == 'text' -%}{{ dbt.type_string() }}{%- else -%}{{ type_name }}{%- endif -%}
{% endmacro %}


{% macro struct_type(fields) %}
    {{ return(adapter.dispatch('struct_type', 'teams_pstn')(fields)) }}
{% endmacro %}

{% macro default__struct_type(fields) -%}
    struct<{% for name, type_name in fields %}{{ name }}: {{ sql_type(type_name) }}{{ ', ' if not loop.last }}{% endfor %}>
{%- endmacro %}

{% macro duckdb__struct_type(fields) -%}
    struct({% for name, type_name in fields %}{{ name }} {{ sql_type(type_name) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}


{% macro array_type(element_type) %}
    {{ return(adapter.dispatch('array_type', 'teams_pstn')(element_type)) }}
{% endmacro %}

{% macro default__array_type(element_type) -%}array<{{ element_type }}>{%- endmacro %}

{% macro duckdb__array_type(element_type) -%}{{ element_type }}[]{%- endmacro %}


{% macro typed_struct(fields, values) %}
    {#- A struct whose fields are cast to `fields` ((name, type) pairs, in order); `values` maps
        each name to its expression. Spark's fold needs the accumulator's type exactly. -#}
    {{ return(adapter.dispatch('typed_struct', 'teams_pstn')(fields, values)) }}
{% endmacro %}

{% macro default__typed_struct(fields, values) -%}
    named_struct({% for name, type_name in fields %}'{{ name }}', cast({{ values[name] }} as {{ sql_type(type_name) }}){{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{% macro duckdb__typed_struct(fields, values) -%}
    struct_pack({% for name, type_name in fields %}{{ name }} := cast({{ values[name] }} as {{ sql_type(type_name) }}){{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}


{% macro empty_array(fields) -%}
    cast({{ adapter.dispatch('empty_array_literal', 'teams_pstn')() }} as {{ array_type(struct_type(fields)) }})
{%- endmacro %}

{% macro default__empty_array_literal() %}array(){% endmacro %}

{% macro duckdb__empty_array_literal() %}[]{% endmacro %}


{% macro array_of(element) %}
    {{ return(adapter.dispatch('array_of', 'teams_pstn')(element)) }}
{% endmacro %}

{% macro default__array_of(element) %}array({{ element }}){% endmacro %}

{% macro duckdb__array_of(element) %}[{{ element }}]{% endmacro %}


{% macro array_concat(left, right) %}
    {{ return(adapter.dispatch('array_concat', 'teams_pstn')(left, right)) }}
{% endmacro %}

{% macro default__array_concat(left, right) %}concat({{ left }}, {{ right }}){% endmacro %}

{% macro duckdb__array_concat(left, right) %}list_concat({{ left }}, {{ right }}){% endmacro %}


{% macro array_transform(array, variable, body) %}
    {{ return(adapter.dispatch('array_transform', 'teams_pstn')(array, variable, body)) }}
{% endmacro %}

{% macro default__array_transform(array, variable, body) %}transform({{ array }}, {{ variable }} -> {{ body }}){% endmacro %}

{% macro duckdb__array_transform(array, variable, body) %}list_transform({{ array }}, {{ variable }} -> {{ body }}){% endmacro %}


{% macro array_filter(array, variable, condition) %}
    {{ return(adapter.dispatch('array_filter', 'teams_pstn')(array, variable, condition)) }}
{% endmacro %}

{% macro default__array_filter(array, variable, condition) %}filter({{ array }}, {{ variable }} -> {{ condition }}){% endmacro %}

{% macro duckdb__array_filter(array, variable, condition) %}list_filter({{ array }}, {{ variable }} -> {{ condition }}){% endmacro %}


{% macro array_max(array) %}
    {#- Null for an empty array on both engines. -#}
    {{ return(adapter.dispatch('array_max', 'teams_pstn')(array)) }}
{% endmacro %}

{% macro default__array_max(array) %}array_max({{ array }}){% endmacro %}

{% macro duckdb__array_max(array) %}list_max({{ array }}){% endmacro %}


{% macro array_fold(array, initial, state, element, body) %}
    {#- Left fold: state := body(state, element) for each element in order, from `initial`. -#}
    {{ return(adapter.dispatch('array_fold', 'teams_pstn')(array, initial, state, element, body)) }}
{% endmacro %}

{% macro default__array_fold(array, initial, state, element, body) -%}
    aggregate({{ array }}, {{ initial }}, ({{ state }}, {{ element }}) -> {{ body }})
{%- endmacro %}

{% macro duckdb__array_fold(array, initial, state, element, body) -%}
    list_reduce({{ array }}, ({{ state }}, {{ element }}) -> {{ body }}, {{ initial }})
{%- endmacro %}


{% macro let_in(variable, value, body) %}
    {#- `body` with `variable` bound to `value` (evaluated once): a one-element transform, since
        neither engine has a let expression inside lambdas. Keeps the fold's SQL linear in size. -#}
    {{ return(adapter.dispatch('let_in', 'teams_pstn')(variable, value, body)) }}
{% endmacro %}

{% macro default__let_in(variable, value, body) -%}
    element_at(transform(array({{ value }}), {{ variable }} -> {{ body }}), 1)
{%- endmacro %}

{% macro duckdb__let_in(variable, value, body) -%}
    list_extract(list_transform([{{ value }}], {{ variable }} -> {{ body }}), 1)
{%- endmacro %}


{% macro collect_ordered(element, order_by) %}
    {#- Aggregate: the group's elements as an array ordered by `order_by`, which must also be the
        element struct's first field (Spark sorts structs field by field). -#}
    {{ return(adapter.dispatch('collect_ordered', 'teams_pstn')(element, order_by)) }}
{% endmacro %}

{% macro default__collect_ordered(element, order_by) %}array_sort(collect_list({{ element }})){% endmacro %}

{% macro duckdb__collect_ordered(element, order_by) %}list({{ element }} order by {{ order_by }}){% endmacro %}


{% macro explode_array(array) %}
    {#- Select expression: one row per element (DuckDB unnest, Spark explode). -#}
    {{ return(adapter.dispatch('explode_array', 'teams_pstn')(array)) }}
{% endmacro %}

{% macro default__explode_array(array) %}explode({{ array }}){% endmacro %}

{% macro duckdb__explode_array(array) %}unnest({{ array }}){% endmacro %}


{% macro explode_days(start_date, end_date) %}
    {#- Select expression: one row per day from start_date to end_date inclusive. -#}
    {{ return(adapter.dispatch('explode_days', 'teams_pstn')(start_date, end_date)) }}
{% endmacro %}

{% macro default__explode_days(start_date, end_date) -%}
    explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day))
{%- endmacro %}

{% macro duckdb__explode_days(start_date, end_date) -%}
    cast(unnest(generate_series(cast({{ start_date }} as timestamp), cast({{ end_date }} as timestamp), interval 1 day)) as date)
{%- endmacro %}


{% macro integer_divide(numerator, denominator) %}
    {#- Integer division truncating toward zero, on integers only. -#}
    {{ return(adapter.dispatch('integer_divide', 'teams_pstn')(numerator, denominator)) }}
{% endmacro %}

{% macro default__integer_divide(numerator, denominator) %}(cast({{ numerator }} as bigint) div cast({{ denominator }} as bigint)){% endmacro %}

{% macro duckdb__integer_divide(numerator, denominator) %}(cast({{ numerator }} as bigint) // cast({{ denominator }} as bigint)){% endmacro %}


{% macro to_cents(amount) -%}
    cast(round(({{ amount }}) * 100, 0) as bigint)
{%- endmacro %}


{% macro cents_to_money(cents) -%}
    {#- Integer cents as DECIMAL(18,2): a multiplication, so both engines agree exactly. -#}
    cast(cast({{ cents }} as decimal(18, 0)) * cast(0.01 as decimal(3, 2)) as decimal(18, 2))
{%- endmacro %}


{% macro cents_up_to_ten(cents) -%}
    {#- An amount in integer cents rounded up to a multiple of 10.00, and at least 10.00. -#}
    greatest(1000, {{ divide_rounded_up(cents, '1000') }} * 1000)
{%- endmacro %}


{% macro divide_rounded_up(numerator, denominator) -%}
    {#- numerator / denominator for non-negative integers, rounded up (a ceiling), in integers. -#}
    {{ integer_divide('(' ~ numerator ~ ') + (' ~ denominator ~ ') - 1', denominator) }}
{%- endmacro %}


{% macro divide_rounded(numerator, denominator) -%}
    {#- numerator / denominator for non-negative integers, rounded half up, in integers (the same
        on every engine; no floating point). -#}
    {{ integer_divide('2 * (' ~ numerator ~ ') + (' ~ denominator ~ ')', '2 * (' ~ denominator ~ ')') }}
{%- endmacro %}
