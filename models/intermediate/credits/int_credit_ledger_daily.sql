{{ config(materialized='table') }}

{# The ledger's days: every 32-day block replayed from the state it starts in
   (int_credit_ledger_walked), recording each day. One row per tenant, currency and day. #}
with

blocks as (

    select * from {{ ref('int_credit_day_blocks') }}

),

walked as (

    select * from {{ ref('int_credit_ledger_walked') }}

),

block_starts as (

    select
        tenant_id,
        currency,
        {{ explode_array('block_starts') }} as block_start
    from walked

),

replayed as (

    select
        blocks.tenant_id,
        blocks.currency,
        {{ credits_walk(
            'blocks.days',
            credits_initial_state(
                'block_starts.block_start.consumed_total',
                'block_starts.block_start.funded_total',
                'block_starts.block_start.markers'
            )
        ) }}.days as days
    from blocks
    inner join block_starts
        on blocks.tenant_id = block_starts.tenant_id
        and blocks.currency = block_starts.currency
        and blocks.block_no = block_starts.block_start.block_no

),

exploded as (

    select
        tenant_id,
        currency,
        {{ explode_array('days') }} as ledger_day
    from replayed

),

final as (

    select
        tenant_id,
        currency,
        {%- for name, type_name in credits_day_fields() %}
        ledger_day.{{ name }} as {{ name }}{{ ',' if not loop.last }}
        {%- endfor %}
    from exploded

)

select * from final
