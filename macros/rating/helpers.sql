{% macro integer_range(count, column_name='n') %}
    {#- Rows 0 .. count-1 as a portable inline relation (no generate_series on every engine). -#}
    {%- for i in range(count) %}
    select {{ i }} as {{ column_name }}{% if not loop.last %} union all{% endif %}
    {%- endfor %}
{% endmacro %}


{% macro seconds_to_minutes(seconds) -%}
    {#- Integer / integer is DOUBLE on DuckDB and Spark alike, so both round the same value;
        k/60 never ends in an exact 5 at the fifth decimal, so there is no tie to break. -#}
    cast(round(cast({{ seconds }} as bigint) / 60, 4) as decimal(18, 4))
{%- endmacro %}


{% macro percentage(part, whole) -%}
    {#- part / whole x 100, rounded half up to 2 decimals, the same on every engine: the
        rounding is done on integers (decimal division is DOUBLE on DuckDB but exact on Spark,
        which would round ties differently). -#}
    cast(floor((cast({{ part }} as bigint) * 20000 + cast({{ whole }} as bigint)) / (2 * cast({{ whole }} as bigint))) as decimal(18, 2)) / 100
{%- endmacro %}


{% macro open_end_date(column) -%}
    coalesce({{ column }}, cast('9999-12-31' as date))
{%- endmacro %}


{% macro assumed_licences_from() -%}
    {#- The first day a tenant's first licence snapshot stands for when it is assumed for the days
        before it (var assume_licences_before_first_snapshot): before any call. -#}
    cast('1900-01-01' as date)
{%- endmacro %}


{% macro mask_phone_number(number_column, calling_code_column) -%}
    {#- Country calling code and the last three digits: enough to recognise a number, not to dial it. -#}
    case
        when {{ number_column }} is null then null
        when {{ calling_code_column }} is null then concat('***', right({{ number_column }}, 3))
        else concat('+', {{ calling_code_column }}, '***', right({{ number_column }}, 3))
    end
{%- endmacro %}


{% macro pseudonymise_users_on() -%}
    {#- The switch: var pseudonymise_users, by default from $PSTN_PSEUDONYMISE (true/1/yes/on). -#}
    {{ return((var('pseudonymise_users', false) | string | lower) in ['true', '1', 'yes', 'on']) }}
{%- endmacro %}


{% macro user_label(column) -%}
    {#- Object ids, UPNs and names are personal data: with the switch on each becomes a keyed hash
        (HMAC-SHA-256 with the operator's key, computed by the build connection's pstn_pseudonym). -#}
    {{ return(adapter.dispatch('user_label', 'teams_pstn')(column)) }}
{%- endmacro %}

{% macro default__user_label(column) -%}
    {%- if pseudonymise_users_on() -%}
        pstn_pseudonym(cast({{ column }} as {{ dbt.type_string() }}))
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}

{% macro spark__user_label(column) -%}
    {%- if pseudonymise_users_on() -%}
        {{ exceptions.raise_compiler_error(
            "pseudonymise_users needs the keyed hash of the DuckDB build (pstn_pseudonym); it is not available on Spark") }}
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}


{% macro not_materialized() %}
    {#- For a wide CTE read more than once: DuckDB would otherwise materialise it whole (every
        column of every call) before the readers' filters and projections apply; inlined, each
        reader scans only what it needs (int_calls_classified at 10M rows: 51 s -> 16 s).
        Spark inlines CTEs anyway and has no such keyword. Use: `name as {{ not_materialized() }} (`. -#}
    {{ return(adapter.dispatch('not_materialized', 'teams_pstn')()) }}
{% endmacro %}

{% macro default__not_materialized() %}{% endmacro %}

{% macro duckdb__not_materialized() %}not materialized{% endmacro %}


{% macro materialized_once() %}
    {#- For a CTE the later steps of a chain read again and again (each stage of the Calling Plan
        allocation reads the previous stage's calls twice): DuckDB computes it once instead of
        inlining it into every reader, which grows the plan with each stage. Spark has no such
        keyword. Use: `name as {{ materialized_once() }} (`. -#}
    {{ return(adapter.dispatch('materialized_once', 'teams_pstn')()) }}
{% endmacro %}

{% macro default__materialized_once() %}{% endmacro %}

{% macro duckdb__materialized_once() %}materialized{% endmacro %}


{% macro has_column(relation, column) %}
    {#- Whether `relation` has `column` (case-insensitive); true while not executing (parsing,
        where the SQL is not run). -#}
    {{ return(not execute or column | lower in adapter.get_columns_in_relation(relation)
        | map(attribute='name') | map('lower') | list) }}
{% endmacro %}


{% macro archive_column(relation, column) -%}
    {#- `column` of an archive relation, or a typed null when the archive's files do not have it
        yet (a column added by a later version, before any load has written it). -#}
    {%- if not has_column(relation, column) -%}
        cast(null as {{ dbt.type_string() }})
    {%- else -%}
        {{ column }}
    {%- endif -%}
{%- endmacro %}


{% macro split_to_rows(column, separator) -%}
    {#- In a select list: one row per `separator`-separated part of `column` (a null column gives
        no row: coalesce it first). -#}
    {{ return(adapter.dispatch('split_to_rows', 'teams_pstn')(column, separator)) }}
{%- endmacro %}

{% macro default__split_to_rows(column, separator) -%}explode(split({{ column }}, '{{ separator }}')){%- endmacro %}

{% macro duckdb__split_to_rows(column, separator) -%}unnest(string_split({{ column }}, '{{ separator }}')){%- endmacro %}
