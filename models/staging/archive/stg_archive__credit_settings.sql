with

credit_settings as (

    select * from {{ source('archive', 'credit_settings') }}

),

ranked as (

    select
        credit_settings.*,
        row_number() over (
            partition by tenant_id, effective_from
            order by load_id desc, file_seq desc, source_line desc
        ) as version_rank
    from credit_settings

),

final as (

    select
        tenant_id,
        {# Settings without a date apply from the beginning of history. #}
        coalesce(effective_from, cast('1900-01-01' as date)) as effective_from,
        trigger_amount,
        recharge_amount,
        currency,
        is_enabled,
        source_path,
        load_id
    from ranked
    where version_rank = 1

)

select * from final
