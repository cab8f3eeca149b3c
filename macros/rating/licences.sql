{% macro joins_current_user_row(assignments, users) -%}
    {#- The join condition keeping a SKU assignment only when it came with the current version of
        its user's row (stg_archive__licence_users keeps one version per tenant, day and user;
        older versions' assignments stay in the append-only assignments table). -#}
    {{ assignments }}.tenant_id = {{ users }}.tenant_id
            and {{ assignments }}.snapshot_date = {{ users }}.snapshot_date
            and {{ assignments }}.user_key = {{ users }}.user_key
            and {{ assignments }}.load_id = {{ users }}.load_id
            and {{ assignments }}.file_seq = {{ users }}.file_seq
{%- endmacro %}
