{#- Every archived version of every call, with the load that brought it (a UsageId re-sent with
    other content has several; stg_archive__pstn_calls keeps the current one). Re-rating reads it
    to find the months each load touched: a call whose start moved touches its old month too. -#}
with

calls as (

    select * from {{ source('archive', 'calls') }}

),

final as (

    select
        tenant_id,
        usage_id,
        start_at,
        load_id,
        file_seq,
        source_member,
        source_line
    from calls

)

select * from final
