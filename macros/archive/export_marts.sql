{% macro export_marts() %}
    {#- on-run-end: write every mart as Parquet under $PSTN_EXPORT_DIR/<mart>/ so that BI tools
        that read files, and the cross-engine check, read either engine's result the same way.
        Set PSTN_SKIP_EXPORTS=1 to skip (the benchmark's --no-exports). -#}
    {%- set root = env_var('PSTN_EXPORT_DIR', 'data/exports') -%}
    {%- if execute and root and not env_var('PSTN_SKIP_EXPORTS', '') and flags.WHICH in ('build', 'run') %}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.schema == 'marts' and node.config.enabled %}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) %}
            {%- if relation is not none and node.config.get('rerate_months') and target.type == 'duckdb' %}
                {% do export_months_to_parquet(
                    relation, root ~ '/' ~ node.alias,
                    node.config.get('rerate_month_column') or 'billing_month',
                    node.config.get('rerate_watermark_column') or 'rated_at',
                ) %}
            {%- elif relation is not none %}
                {% do export_relation_to_parquet(relation, root ~ '/' ~ node.alias, node.columns.keys() | list) %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    select 1
{% endmacro %}


{% macro export_relation_to_parquet(relation, path, columns=[]) %}
    {#- columns: the mart's documented column order (a partitioned Spark table keeps its partition
        columns last); empty: the table's own order. -#}
    {{ return(adapter.dispatch('export_relation_to_parquet', 'teams_pstn')(relation, path, columns)) }}
{% endmacro %}


{% macro default__export_relation_to_parquet(relation, path, columns) %}
    {{ exceptions.warn("Parquet export is not implemented for " ~ adapter.type() ~ "; skipped " ~ relation) }}
{% endmacro %}


{% macro duckdb__export_relation_to_parquet(relation, path, columns) %}
    {% do run_query(
        "copy (select * from " ~ relation ~ ") to '" ~ (path | replace("'", "''"))
        ~ "' (format parquet, per_thread_output true, overwrite true)"
    ) %}
{% endmacro %}


{% macro spark__export_relation_to_parquet(relation, path, columns) %}
    {%- set listed = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {%- set ordered = columns | select('in', listed) | list + listed | reject('in', columns) | list -%}
    {% do run_query(
        "insert overwrite directory '" ~ (path | replace("'", "\\'")) ~ "' using parquet select "
        ~ ('`' ~ ordered | join('`, `') ~ '`' if ordered else '*') ~ " from " ~ relation
    ) %}
{% endmacro %}


{% macro export_months_to_parquet(relation, path, month_column='billing_month', watermark_column='rated_at') %}
    {#- The marts re-rated by month (fct_pstn_calls and its kin) hold every call: rewriting their
        export whole after a nightly that re-rated one month would cost what the full build
        costs. Their export is one file per billing month, `month-YYYY-MM.parquet`,
        and a run rewrites the months it rated (rated_at = this run). A folder in another
        layout, or without month files, is cleared and written whole; `schema0.parquet` (no rows)
        keeps the columns of an empty mart. -#}
    {%- set folder = path | replace("'", "''") -%}
    {%- set layout = run_query(
        "select count(*) filter (where regexp_matches(file, '/month-[0-9]{4}-[0-9]{2}[.]parquet$')),"
        ~ " count(*) filter (where not regexp_matches(file, '/(month-[0-9]{4}-[0-9]{2}|schema[0-9]*)[.]parquet$'))"
        ~ " from glob('" ~ folder ~ "/*.parquet')"
    ) -%}
    {%- set whole = layout.columns[0].values()[0] == 0 or layout.columns[1].values()[0] > 0 -%}
    {%- if whole %}
        {% do run_query(
            "copy (select * from " ~ relation ~ " limit 0) to '" ~ folder
            ~ "' (format parquet, per_thread_output true, overwrite true, filename_pattern 'schema')"
        ) %}
    {%- endif %}
    {%- set months = run_query(
        "select distinct cast(" ~ month_column ~ " as varchar) from " ~ relation
        ~ ("" if whole else " where " ~ watermark_column ~ " = " ~ rated_at())
    ) -%}
    {%- for month in months.columns[0].values() | sort %}
        {% do run_query(
            "copy (select * from " ~ relation ~ " where " ~ month_column ~ " = cast('" ~ month ~ "' as date)) to '"
            ~ folder ~ "/month-" ~ month[:7] ~ ".parquet' (format parquet)"
        ) %}
    {%- endfor %}
{% endmacro %}
