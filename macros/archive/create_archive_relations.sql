{% macro archive_tables() %}
    {{ return(['calls', 'licence_users', 'licence_assignments', 'tenant_skus', 'credit_fundings',
               'credit_settings', 'quarantine', 'conflicts', '_manifest']) }}
{% endmacro %}


{% macro create_archive_relations() %}
    {{ return(adapter.dispatch('create_archive_relations', 'teams_pstn')()) }}
{% endmacro %}


{% macro default__create_archive_relations() %}
    {{ exceptions.raise_compiler_error(
        "No archive reader for adapter '" ~ adapter.type() ~ "': add "
        ~ adapter.type() ~ "__create_archive_relations in macros/archive/") }}
{% endmacro %}


{% macro duckdb__create_archive_relations() %}
    {#- One view per archive dataset over its Parquet files. Every dataset folder holds a
        zero-row schema.parquet, so the glob never comes back empty and types are fixed.
        A load writes its files as it goes and commits with its manifest last: only rows of
        committed loads are visible (not those of a load running now or one that crashed).
        The committed loads are written into the views as a list: as a sub-query, DuckDB could
        not tell how many archive rows it filters and built its semi-join on the archive side,
        which at 100M rows ran out of memory. -#}
    {%- set root = var('archive_dir') | replace("'", "''") -%}
    {%- set loads = [] -%}
    {%- if execute %}
        {%- set committed = run_query(
            "select distinct load_id from read_parquet('" ~ root ~ "/_manifest/*.parquet') where load_id is not null order by 1"
        ) -%}
        {%- set loads = committed.columns[0].values() | list -%}
    {%- endif %}
    create schema if not exists archive;
    {%- for table in archive_tables() %}
    create or replace view archive.{{ table | replace('_manifest', 'manifest') }} as
        select * from read_parquet('{{ root }}/{{ table }}/**/*.parquet', union_by_name = true, hive_partitioning = false)
        {%- if table != '_manifest' %}
        where {% if loads %}load_id in ({% for load in loads %}'{{ load | replace("'", "''") }}'{{ ', ' if not loop.last }}{% endfor %}){% else %}false{% endif %}
        {%- endif %};
    {%- endfor %}
{% endmacro %}


{% macro spark__create_archive_relations() %}
    {#- External Parquet tables over the same folders. recursiveFileLookup reads every file below
        the dataset folder (and turns off partition discovery: tenant and month are columns in
        the files already); the tables are recreated each run so new loads are always seen. -#}
    {%- if execute %}
        {%- set root = var('archive_dir') | replace("'", "\\'") -%}
        {% do run_query('create database if not exists archive') %}
        {#- The manifest first ('_manifest' sorts first): the other views read it. -#}
        {%- for table in archive_tables() | sort %}
            {%- set name = table | replace('_manifest', 'manifest') %}
            {%- set files = name if table == '_manifest' else name ~ '_files' %}
            {%- set existing = adapter.get_relation(database=none, schema='archive', identifier=name) %}
            {%- if existing is not none %}
                {% do run_query('drop ' ~ ('view' if existing.is_view else 'table') ~ ' if exists archive.' ~ name) %}
            {%- endif %}
            {% do run_query('drop table if exists archive.' ~ files) %}
            {% do run_query(
                "create table archive." ~ files ~ " using parquet options (path '" ~ root ~ "/" ~ table
                ~ "', recursiveFileLookup 'true', mergeSchema 'true')"
            ) %}
            {%- if table != '_manifest' %}
            {#- Rows of committed loads only (see the DuckDB reader). -#}
            {% do run_query(
                "create view archive." ~ name ~ " as select * from archive." ~ files
                ~ " where load_id in (select load_id from archive.manifest)"
            ) %}
            {%- endif %}
        {%- endfor %}
    {%- endif %}
    select 1
{% endmacro %}
