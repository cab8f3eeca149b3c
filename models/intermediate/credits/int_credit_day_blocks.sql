{{ config(materialized='table') }}

{# The ledger's days in blocks of 32 consecutive days per tenant and currency, each block an
   ordered array: the unit of the block-wise walk (int_credit_ledger_walked). #}
with

ledger_days as (

    select * from {{ ref('int_credit_days') }}

),

numbered as (

    select
        ledger_days.*,
        {{ integer_divide(
            'row_number() over (partition by tenant_id, currency order by ledger_date) - 1', credits_block_days()
        ) }} as block_no
    from ledger_days

),

final as (

    select
        tenant_id,
        currency,
        cast(block_no as bigint) as block_no,
        min(ledger_date) as first_date,
        max(ledger_date) as last_date,
        {{ collect_ordered(
            typed_struct(credits_walk_input_fields(), {
                'ledger_date': 'ledger_date',
                'charges': 'charges',
                'funded_amount': 'funded_amount',
                'new_lots': 'new_lots',
                'trigger_amount': 'trigger_amount',
                'recharge_amount': 'recharge_amount',
                'recharge_enabled': 'recharge_enabled',
            }),
            'ledger_date'
        ) }} as days  -- noqa: RF04
    from numbered
    group by tenant_id, currency, block_no

)

select * from final
