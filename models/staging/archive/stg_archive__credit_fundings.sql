{# A funding is identified by its time, amount, currency and kind: the same purchase listed again
    in a later funding file is one purchase. #}
with

credit_fundings as (

    select * from {{ source('archive', 'credit_fundings') }}

),

ranked as (

    select
        credit_fundings.*,
        row_number() over (
            partition by tenant_id, funded_at, amount, currency, kind
            order by load_id desc, file_seq desc, source_line desc
        ) as version_rank
    from credit_fundings

),

final as (

    select
        {{ dbt.hash(
            "concat(tenant_id, '|', cast(funded_at as " ~ dbt.type_string() ~ "), '|', "
            ~ "cast(amount as " ~ dbt.type_string() ~ "), '|', currency, '|', kind)"
        ) }} as funding_id,
        tenant_id,
        funded_at,
        cast(funded_at as date) as funded_date,
        amount,
        currency,
        kind,
        source_path,
        load_id
    from ranked
    where version_rank = 1

)

select * from final
