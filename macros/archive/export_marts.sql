{% macro export_marts() %}
    {#- on-run-end: write every mart as Parquet under $PSTN_EXPORT_DIR/<mart>/ so that BI tools
        that read files, and the cross-engine check, read either engine's result the same way.
        Set PSTN_EXPORT_DIR to an empty string to skip. -#}
    {%- set root = env_var('PSTN_EXPORT_DIR', 'data/exports') -%}
    {%- if execute and root and flags.WHICH in ('build', 'run') %}
        {%- for node in graph.nodes.values()
            if node.resource_type == 'model' and node.config.schema == 'marts' and node.config.enabled %}
            {%- set relation = adapter.get_relation(node.database, node.schema, node.alias) %}
            {%- if relation is not none %}
                {% do export_relation_to_parquet(relation, root ~ '/' ~ node.alias) %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    select 1
{% endmacro %}


{% macro export_relation_to_parquet(relation, path) %}
    {{ return(adapter.dispatch('export_relation_to_parquet', 'teams_pstn')(relation, path)) }}
{% endmacro %}


{% macro default__export_relation_to_parquet(relation, path) %}
    {{ exceptions.warn("Parquet export is not implemented for " ~ adapter.type() ~ "; skipped " ~ relation) }}
{% endmacro %}


{% macro duckdb__export_relation_to_parquet(relation, path) %}
    {% do run_query(
        "copy (select * from " ~ relation ~ ") to '" ~ (path | replace("'", "''"))
        ~ "' (format parquet, per_thread_output true, overwrite true)"
    ) %}
{% endmacro %}


{% macro spark__export_relation_to_parquet(relation, path) %}
    {% do run_query(
        "insert overwrite directory '" ~ (path | replace("'", "\\'")) ~ "' using parquet select * from " ~ relation
    ) %}
{% endmacro %}
