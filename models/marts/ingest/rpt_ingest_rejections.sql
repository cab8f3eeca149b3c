{#- Everything the loader refused, in one place: whole files (unreadable, wrong encoding, missing
    a required column, over a bound, a link or special file), files skipped as not data (hidden
    names), and single rows (bad timestamp, negative duration, unknown code, control characters...).
    The raw record shown is the loader's template of it: the row's personal values are filled in
    here masked and pseudonymised exactly as in the other marts; numbers and e-mail addresses the
    loader could not name were masked by their shape when it was archived. -#}
with

loaded_files as (

    select * from {{ ref('stg_archive__loaded_files') }}

),

quarantined_rows as (

    select * from {{ ref('stg_archive__quarantined_rows') }}

),

calling_codes as (

    select * from {{ ref('calling_codes') }}

),

refused_files as (

    select
        loaded_file_id as rejection_id,
        case when status = 'skipped' then 'skipped_file' else 'file' end as rejection_level,
        tenant_id,
        kind as dataset,
        source_path,
        source_member,
        cast(null as {{ dbt.type_bigint() }}) as source_line,
        reason as reasons,
        cast(null as {{ dbt.type_string() }}) as raw_record,
        file_sha256,
        load_id,
        loaded_at
    from loaded_files
    where status in ('rejected', 'skipped')

),

numbers_prepared as (

    {#- International digits of each number (after `+` or `00`), to find its calling code the way
        call classification does: the longest of 3, 2 or 1 leading digits found in the seed. #}
    select
        quarantined_row_id,
        caller_number,
        callee_number,
        case
            when caller_number like '+%' then substring(caller_number, 2, 3)
            when caller_number like '00%' then substring(caller_number, 3, 3)
        end as caller_leading_digits,
        case
            when callee_number like '+%' then substring(callee_number, 2, 3)
            when callee_number like '00%' then substring(callee_number, 3, 3)
        end as callee_leading_digits
    from quarantined_rows

),

numbers_masked as (

    select
        numbers_prepared.quarantined_row_id,
        -- noqa: disable=LT02
        {{ mask_phone_number(
            'numbers_prepared.caller_number',
            'coalesce(caller_3.calling_code, caller_2.calling_code, caller_1.calling_code)') }} as caller_number_masked,
        {{ mask_phone_number(
            'numbers_prepared.callee_number',
            'coalesce(callee_3.calling_code, callee_2.calling_code, callee_1.calling_code)') }} as callee_number_masked
    from numbers_prepared
    {%- for side in ['caller', 'callee'] %}
    {%- for length in [3, 2, 1] %}
    left join calling_codes as {{ side }}_{{ length }}
        on substring(numbers_prepared.{{ side }}_leading_digits, 1, {{ length }}) = {{ side }}_{{ length }}.calling_code
    {%- endfor %}
    {%- endfor %}

),
-- noqa: enable=LT02

rows_filled as (

    select
        quarantined_rows.*,
        numbers_masked.caller_number_masked,
        numbers_masked.callee_number_masked,
        {{ user_label('quarantined_rows.user_id') }} as user_id_shown,
        {{ user_label('quarantined_rows.user_principal_name') }} as user_principal_name_shown,
        {{ user_label('quarantined_rows.user_display_name') }} as user_display_name_shown
    from quarantined_rows
    left join numbers_masked
        on quarantined_rows.quarantined_row_id = numbers_masked.quarantined_row_id

),

rejected_rows as (

    select
        quarantined_row_id as rejection_id,
        'row' as rejection_level,
        tenant_id,
        dataset,
        source_path,
        source_member,
        source_line,
        reasons,
        -- noqa: disable=LT02
        {#- Each token, written as a JSON string "⟦column⟧", becomes the shown value as a JSON
            string (its quotes escaped), or null. chr() keeps the quotes portable. -#}
        {%- set shown = [
            ('user_id', 'user_id_shown'),
            ('user_principal_name', 'user_principal_name_shown'),
            ('user_display_name', 'user_display_name_shown'),
            ('caller_number', 'caller_number_masked'),
            ('callee_number', 'callee_number_masked'),
        ] %}
        {% for _ in shown %}replace({% endfor %}raw_record_masked
        {%- for token, column in shown %},
            concat(chr(34), '⟦{{ token }}⟧', chr(34)),
            coalesce(concat(chr(34), replace({{ column }}, chr(34), concat(chr(92), chr(34))), chr(34)), 'null'))
        {%- endfor %} as raw_record,
        -- noqa: enable=LT02
        file_sha256,
        load_id,
        loaded_at
    from rows_filled

),

final as (

    select * from refused_files
    union all
    select * from rejected_rows

)

select * from final
