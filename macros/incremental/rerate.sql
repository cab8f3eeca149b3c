{# Incremental re-rating by month. The unit of work is a tenant's billing month: the
   log model int_rerate_months says which months this run must rebuild (new or late calls, a
   licence snapshot, changed seeds / variables / model code), and every model configured with
   rerate_config() rebuilds exactly those months, nothing else.
   DuckDB: delete + insert from the month's first affected day on.
   Spark (plain Parquet tables, no row-level delete): the tables are partitioned by tenant and
   month and a run overwrites the partitions of its months whole (dynamic insert overwrite); a
   logged month left without rows is dropped after (drop_months_left_empty). Staging is rebuilt
   in full there. #}

{% macro rerate_config(unique_key=['tenant_id', 'billing_month'], date_column='billing_date', by_month=none,
                       watermark_column='rated_at') %}
    {#- unique_key none: an append-only model (each run adds the rows of the new loads).
        by_month: the model is re-rated by month, its unique_key naming the tenant and month columns
        (default: when the key is exactly tenant_id, billing_month); date_column none: a re-rated
        month is rebuilt whole rather than from its first affected day; watermark_column holds the
        run's rated_at (a model with its own column names, such as the FOCUS mart, names its own). -#}
    {%- set by_month = (unique_key == ['tenant_id', 'billing_month']) if by_month is none else by_month -%}
    {%- set month_columns = {
        'rerate_tenant_column': unique_key[0] if by_month else none,
        'rerate_month_column': unique_key[1] if by_month else none,
        'rerate_watermark_column': watermark_column,
    } -%}
    {%- if target.type == 'spark' and by_month -%}
        {%- set spark_config = {
            'materialized': 'incremental',
            'incremental_strategy': 'insert_overwrite',
            'file_format': 'parquet',
            'partition_by': unique_key,
            'on_schema_change': 'append_new_columns',
            'rerate_months': true,
            'post_hook': ["{{ drop_months_left_empty() }}"],
        } -%}
        {%- do spark_config.update(month_columns) -%}
        {{ return(spark_config) }}
    {%- elif target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- elif unique_key is none -%}
        {{ return({'materialized': 'incremental', 'incremental_strategy': 'append', 'on_schema_change': 'append_new_columns'}) }}
    {%- else -%}
        {%- set duckdb_config = {
            'materialized': 'incremental',
            'incremental_strategy': 'delete+insert',
            'unique_key': unique_key,
            'on_schema_change': 'append_new_columns',
            'rerate_months': by_month,
            'rerate_date_column': date_column,
        } -%}
        {%- do duckdb_config.update(month_columns) -%}
        {{ return(duckdb_config) }}
    {%- endif -%}
{% endmacro %}


{% macro drop_months_left_empty() %}
    {#- Spark post-hook of the models re-rated by month: a (tenant, month) logged for re-rating after
        its partition was last written, which this run's overwrite did not reach, has no rows any
        more (its only calls moved to another month): drop that partition, as DuckDB's delete
        does. Every month the run did write has rated_at = this run, never older than its log. -#}
    {%- if execute and target.type == 'spark' -%}
        {%- set tenant = config.get('rerate_tenant_column', 'tenant_id') -%}
        {%- set month = config.get('rerate_month_column', 'billing_month') -%}
        {%- set stale = run_query(
            "select cast(written.tenant_id as string), cast(written.billing_month as string)"
            ~ " from (select " ~ tenant ~ " as tenant_id, " ~ month ~ " as billing_month, max("
            ~ config.get('rerate_watermark_column', 'rated_at') ~ ") as rated_at from " ~ this
            ~ " group by " ~ tenant ~ ", " ~ month ~ ") as written"
            ~ " inner join (select tenant_id, billing_month, max(rated_at) as logged_at from "
            ~ ref('int_rerate_months') ~ " where " ~ rerate_log_applies(ref('int_rerate_months'))
            ~ " group by tenant_id, billing_month) as logged"
            ~ " on logged.tenant_id = written.tenant_id and logged.billing_month = written.billing_month"
            ~ " where logged.logged_at > written.rated_at") -%}
        {%- for tenant_value, month_value in stale.rows -%}
            {%- do run_query("alter table " ~ this ~ " drop if exists partition (" ~ tenant ~ " = '"
                ~ (tenant_value | replace("\\", "\\\\") | replace("'", "\\'")) ~ "', " ~ month ~ " = '" ~ month_value ~ "')") -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{% endmacro %}


{% macro versions_of_new_keys(archived, keys) %}
    {#- Staging by key: every archived version of the keys carried by loads newer than the newest
        load already staged (so ranking them again still lets the newest load win). -#}
    select archived.*
    from {{ archived }} as archived
    inner join (
        select distinct {{ keys | join(', ') }}
        from {{ archived }}
        where load_id > (select coalesce(max(load_id), '') from {{ this }})
    ) as new_keys
        on {% for key in keys %}archived.{{ key }} = new_keys.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}
{% endmacro %}


{% macro rated_at() -%}
    {#- One instant per run, the same in every model: the watermark the next model compares. -#}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
{%- endmacro %}


{% macro rating_inputs() %}
    {#- Everything besides the archive that can change a rated figure, one line each: a seed's
        contents or a model's SQL as `unique_id=checksum`, a rating variable as `var.name=json`
        (dbt does not expose macro checksums: after changing a rating macro, build once with
        --full-refresh). int_rerate_months keeps the last run's lines to tell what changed. -#}
    {%- set parts = [] -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() | sort(attribute='unique_id') -%}
            {%- if node.resource_type in ('seed', 'model') and node.package_name == project_name
                and node.name != 'int_rerate_months' -%}
                {%- do parts.append(node.unique_id ~ '=' ~ node.checksum.checksum) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for name in ['pool_licence_basis', 'assume_licences_before_first_snapshot', 'billing_time_zone',
                     'billing_increment_seconds',
                     'pool_allotment_overrides', 'tenant_countries', 'pseudonymise_users',
                     'default_billing_model', 'tenant_billing_models'] -%}
        {%- do parts.append('var.' ~ name ~ '=' ~ tojson(var(name, none))) -%}
    {%- endfor -%}
    {{ return(parts | join('\n')) }}
{% endmacro %}


{% macro changed_rating_inputs(previous, current) %}
    {#- The seeds and models whose line differs between two rating_inputs() texts, as
        `|unique_id|unique_id|`; `*` (every model) when a rating variable changed or the previous
        text is unknown (a log written by an older version). -#}
    {%- if previous is none or previous == '' -%}
        {{ return('*') }}
    {%- endif -%}
    {%- set before = previous.split('\n') -%}
    {%- set after = current.split('\n') -%}
    {%- set changed = [] -%}
    {%- set every_model = {'yes': false} -%}
    {%- for line in (before | reject('in', after) | list) + (after | reject('in', before) | list) -%}
        {%- set name = line.split('=')[0] -%}
        {%- if name.startswith('var.') -%}{%- do every_model.update({'yes': true}) -%}{%- endif -%}
        {%- if name not in changed -%}{%- do changed.append(name) -%}{%- endif -%}
    {%- endfor -%}
    {%- if every_model.yes or not changed -%}
        {{ return('*') }}
    {%- endif -%}
    {{ return('|' ~ (changed | sort | join('|')) ~ '|') }}
{% endmacro %}


{% macro rating_ancestors(unique_id) %}
    {#- The seeds and models `unique_id` reads, directly or through others, and itself. -#}
    {%- set found = [unique_id] -%}
    {%- for node_id in found -%}
        {%- set node = graph.nodes.get(node_id) -%}
        {%- for parent in (node.depends_on.nodes if node else []) -%}
            {%- if parent not in found and parent in graph.nodes -%}{%- do found.append(parent) -%}{%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(found) }}
{% endmacro %}


{% macro rerate_log_applies(log_relation, unique_id=none) -%}
    {#- A predicate on int_rerate_months' rows: those that concern model `unique_id` (default: the
        model being built). A row logged for changed rating inputs concerns only the models that
        read one of them (a rate-card change re-prices the calls and leaves classification and
        pool allocation alone); every other row concerns every model. -#}
    {%- set unique_id = unique_id or model.unique_id -%}
    {%- if not execute or not has_column(log_relation, 'changed_inputs') -%}
        1 = 1
    {%- else -%}
        (changed_inputs is null or changed_inputs = '*'
        {%- for ancestor in rating_ancestors(unique_id) | sort %}
            or instr(changed_inputs, '|{{ ancestor }}|') > 0
        {%- endfor %})
    {%- endif -%}
{%- endmacro %}


{% macro rerate_scope(rerate_relation) %}
    {#- The months this model must rebuild in this run, as {'all', 'sql', 'low', 'high', 'from',
        'empty'} (month bounds, earliest first day to re-rate): the
        months int_rerate_months logged after this model's own last rating. Not incremental
        (first run, --full-refresh, Spark): every month, with no filter. -#}
    {%- if not is_incremental() -%}
        {{ return({'all': true}) }}
    {%- endif -%}
    {%- set scope_sql = rerate_months_sql(rerate_relation, this, config.get('rerate_watermark_column', 'rated_at')) -%}
    {%- set bounds = {'low': none, 'high': none, 'from': none} -%}
    {%- if execute -%}
        {%- set text = dbt.type_string() -%}
        {%- set result = run_query('select cast(min(billing_month) as ' ~ text ~ '), cast(max(billing_month) as ' ~ text ~ '), cast(min(rerate_from_date) as ' ~ text ~ ') from (' ~ scope_sql ~ ') as scope') -%}
        {%- do bounds.update({'low': result.columns[0].values()[0], 'high': result.columns[1].values()[0], 'from': result.columns[2].values()[0]}) -%}
    {%- endif -%}
    {{ return({'all': false, 'sql': scope_sql, 'low': bounds.low, 'high': bounds.high, 'from': bounds['from'], 'empty': bounds.low is none}) }}
{% endmacro %}


{% macro rerate_filter(alias, scope, month_column='billing_month', date_column='billing_date', before=false) %}
    {#- A predicate keeping the rows of `alias` this run re-rates (true when not incremental): in a
        logged month, from the month's first affected day on (date_column none: the whole month;
        before: the days of those months before their first affected day, which keep their rows).
        `scope` is rerate_scope(ref('int_rerate_months')). The literal month bounds let the engine
        skip storage blocks before the exact semi-join. -#}
    {%- if scope.all -%}
        1 = 1
    {%- elif scope.empty -%}
        1 = 0
    {%- else -%}
        {{ alias }}.{{ month_column }} between cast('{{ scope.low }}' as date) and cast('{{ scope.high }}' as date)
        and exists (
            select 1 from ({{ scope.sql }}) as rerate_scope
            where rerate_scope.tenant_id = {{ alias }}.tenant_id
                and rerate_scope.billing_month = {{ alias }}.{{ month_column }}
                {%- if date_column %}
                and {{ alias }}.{{ date_column }} {{ '<' if before else '>=' }} rerate_scope.rerate_from_date
                {%- endif %}
        )
    {%- endif -%}
{% endmacro %}


{% macro rerate_months_sql(rerate_relation, target_relation, watermark_column='rated_at') -%}
    {#- (tenant, month, first day to re-rate) logged after the target's last rating (the newest
        watermark_column of target_relation). Pool use on a
        day depends only on earlier days, and a call's rating on itself: days before the first
        affected day keep their rows. On Spark a month's partition is overwritten whole, so its
        first day to re-rate is the month's first. A target written by an older version of the
        model, without the watermark column, counts as never rated: every logged month. -#}
    {%- set watermark = 'max(' ~ watermark_column ~ ')' -%}
    {%- if not has_column(target_relation, watermark_column) -%}
        {%- set watermark = 'max(cast(null as timestamp))' -%}
    {%- endif %}
    select tenant_id, billing_month,
        {{ 'billing_month' if target.type == 'spark' else 'min(coalesce(rerate_from_date, billing_month))' }} as rerate_from_date
    from {{ rerate_relation }}
    where {{ rerate_log_applies(rerate_relation) }}
        and rated_at > (
        select coalesce({{ watermark }}, cast('1900-01-01 00:00:00' as timestamp)) from {{ target_relation }}
    )
    group by tenant_id, billing_month
{%- endmacro %}


{% macro duckdb__get_delete_insert_merge_sql(target, source, unique_key, dest_columns, incremental_predicates) -%}
    {#- Models by month (config rerate_months): delete every month of this run's scope, also a
        month left with no rows (its only call moved to another month), then insert.
        Other keys: dbt-duckdb deletes through a join with the new rows; delete through the
        distinct keys instead (a join on a non-unique key multiplies rows). -#}
    {%- set dest_cols_csv = get_quoted_csv(dest_columns | map(attribute='name')) -%}
    {%- set keys = [unique_key] if unique_key is string else unique_key -%}
    {%- if config.get('rerate_months') %}
    {%- set date_column = config.get('rerate_date_column') %}
    delete from {{ target }} as dbt_incremental_target
    where exists (
        select 1
        from ({{ rerate_months_sql(ref('int_rerate_months'), target, config.get('rerate_watermark_column', 'rated_at')) }}) as rerate_scope
        where rerate_scope.tenant_id = dbt_incremental_target.{{ config.get('rerate_tenant_column', 'tenant_id') }}
            and rerate_scope.billing_month = dbt_incremental_target.{{ config.get('rerate_month_column', 'billing_month') }}
            {%- if date_column %}
            {#- A row without the day (a column added by a newer version) goes with its month. #}
            and coalesce(dbt_incremental_target.{{ date_column }} >= rerate_scope.rerate_from_date, true)
            {%- endif %}
    );
    {%- elif keys %}
    delete from {{ target }} as dbt_incremental_target
    where exists (
        select 1
        from (select distinct {{ keys | join(', ') }} from {{ source }}) as dbt_incremental_keys
        where
        {%- for key in keys %}
            dbt_incremental_keys.{{ key }} = dbt_incremental_target.{{ key }}{{ ' and' if not loop.last }}
        {%- endfor %}
    )
    {%- for predicate in incremental_predicates or [] %}
        and {{ predicate }}
    {%- endfor %};
    {%- endif %}

    insert into {{ target }} ({{ dest_cols_csv }})
    (
        select {{ dest_cols_csv }}
        from {{ source }}
    )
{%- endmacro %}


{% macro should_full_refresh() %}
    {#- dbt's rule (--full-refresh, or the model's full_refresh config), and one more on DuckDB: a
        model re-rated by month whose months to re-rate this run are every month it holds, each
        from its first day, is rebuilt whole. Deleting and inserting every month would write each
        row twice (into the run's temporary table, then into the model) and delete the old ones:
        about twice the time of one table written once, on a first build after a rate-card or rule
        change. -#}
    {%- if dbt.should_full_refresh() -%}
        {{ return(true) }}
    {%- endif -%}
    {{ return(rerate_rebuilds_whole()) }}
{% endmacro %}


{% macro rerate_rebuilds_whole() %}
    {#- Whether this run re-rates every (tenant, month) the model holds from the month's first
        day (see should_full_refresh). -#}
    {%- if not execute or target.type != 'duckdb' or not config.get('rerate_months') -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    {%- if relation is none or relation.type != 'table' -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set tenant = config.get('rerate_tenant_column', 'tenant_id') -%}
    {%- set month = config.get('rerate_month_column', 'billing_month') -%}
    {%- set scope_sql = rerate_months_sql(ref('int_rerate_months'), relation, config.get('rerate_watermark_column', 'rated_at')) -%}
    {%- set whole_months = 'rerate_scope.rerate_from_date <= rerate_scope.billing_month'
        if config.get('rerate_date_column') else '1 = 1' -%}
    {#- The log first (a few rows); the model's months only when the log holds a whole month. -#}
    {%- set whole = run_query("select count(*) from (" ~ scope_sql ~ ") as rerate_scope where " ~ whole_months) -%}
    {%- if whole.columns[0].values()[0] == 0 -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set left_out = run_query(
        "select count(*) from (select distinct " ~ tenant ~ " as tenant_id, " ~ month ~ " as billing_month"
        ~ " from " ~ relation ~ ") as held where not exists (select 1 from (" ~ scope_sql ~ ") as rerate_scope"
        ~ " where rerate_scope.tenant_id = held.tenant_id and rerate_scope.billing_month = held.billing_month"
        ~ " and " ~ whole_months ~ ")") -%}
    {{ return(left_out.columns[0].values()[0] == 0) }}
{% endmacro %}
