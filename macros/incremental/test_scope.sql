{# Data tests that follow the new rows. A model whose history is large declares in its
   config `meta: {test_scope: rated_by_last_build}` (rows carrying the newest rated_at: the months
   the last build re-rated) or `staged_by_last_build` (rows of the loads that arrived since the
   build before the last one). Every generic test on it then checks those rows only; a uniqueness
   test checks their keys against the whole table. Rows an earlier build wrote were checked by that
   build, so a nightly's tests cost what its new rows cost, not what the history costs. A first
   build, a --full-refresh, a build that re-rated everything and Spark (tables rebuilt whole)
   check every row. #}

{% macro default__test_scope() %}
    {#- {'relation': the tested model, 'predicate': SQL keeping the rows to check, or none for every
        row}. Called while a generic test renders: the context's `model` is the test node.
        Callers use adapter.dispatch('test_scope', 'teams_pstn')(): with a plain call, dbt's
        partial parsing (this file added to a parsed project) left the name undefined where
        get_where_subquery runs. -#}
    {%- set scope = {'relation': none, 'predicate': none} -%}
    {%- if not execute or model is not mapping or not model.get('attached_node') -%}
        {{ return(scope) }}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) -%}
    {%- if tested is none or tested.resource_type != 'model' -%}
        {{ return(scope) }}
    {%- endif -%}
    {%- set relation = api.Relation.create(database=tested.database, schema=tested.schema, identifier=tested.alias) -%}
    {%- do scope.update({'relation': relation}) -%}
    {%- set kind = (tested.config.meta or {}).get('test_scope') -%}
    {%- if kind not in (none, 'rated_by_last_build', 'staged_by_last_build') -%}
        {{ exceptions.raise_compiler_error(
            "meta.test_scope of " ~ tested.name ~ " is '" ~ kind ~ "': use rated_by_last_build or staged_by_last_build") }}
    {%- endif -%}
    {%- if kind is none or target.type == 'spark' or flags.FULL_REFRESH -%}
        {{ return(scope) }}
    {%- endif -%}
    {#- int_rerate_months logs each build's months and the newest load it had seen. No log yet,
        or its newest entry re-rated everything for this model (a first build, changed rating
        inputs the model reads): every row, read by the plain test (a key-by-key check of every
        row would cost twice). -#}
    {%- set log_node = graph.nodes.values() | selectattr('resource_type', 'equalto', 'model')
        | selectattr('name', 'equalto', 'int_rerate_months') | first -%}
    {%- set log = adapter.get_relation(database=log_node.database, schema=log_node.schema, identifier=log_node.alias) -%}
    {%- if log is none -%}
        {{ return(scope) }}
    {%- endif -%}
    {%- set newest = run_query(
        "select count(*) from " ~ log ~ " where rated_at = (select max(rated_at) from " ~ log ~ ")"
        ~ " and (rerate_reason = 'initial_build' or (rerate_reason = 'rating_inputs_changed' and "
        ~ rerate_log_applies(log, tested.unique_id) ~ "))") -%}
    {%- if newest.columns[0].values()[0] > 0 -%}
        {{ return(scope) }}
    {%- endif -%}
    {%- if kind == 'rated_by_last_build' -%}
        {%- do scope.update({'predicate': 'rated_at = (select max(rated_at) from ' ~ relation ~ ')'}) -%}
    {%- else -%}
        {#- The loads after the second newest entry's are the last build's (or, when this build's
            entry is not written yet, the last two builds': more rows, never fewer). -#}
        {%- do scope.update({'predicate':
            "load_id > (select coalesce(max(loaded_through_load_id), '') from " ~ log
            ~ " where rated_at < (select max(rated_at) from " ~ log ~ "))"}) -%}
    {%- endif -%}
    {{ return(scope) }}
{% endmacro %}


{% macro default__get_where_subquery(relation) -%}
    {#- dbt's own, plus the tested model's test_scope (see above) beside a test's `where`. -#}
    {%- set conditions = [] -%}
    {%- set scope = adapter.dispatch('test_scope', 'teams_pstn')() -%}
    {%- if scope.predicate -%}{%- do conditions.append(scope.predicate) -%}{%- endif -%}
    {%- if config.get('where', '') -%}{%- do conditions.append('(' ~ config.get('where') ~ ')') -%}{%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
