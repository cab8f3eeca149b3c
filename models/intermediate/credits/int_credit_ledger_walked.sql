{{ config(materialized='table') }}

{# The credits ledger walked day by day (macros/credits/credits_walk.sql): one row per tenant and
   currency with the final state (money used or forfeited so far, money funded so far, the open
   lots' expiry markers) and one entry per day. #}
with

ledger_days as (

    select * from {{ ref('int_credit_days') }}

),

day_arrays as (

    select
        tenant_id,
        currency,
        max(ledger_date) as as_of_date,
        {{ collect_ordered(
            typed_struct([
                ('ledger_date', 'date'),
                ('charges', credits_money_type()),
                ('funded_amount', credits_money_type()),
                ('new_lots', array_type(struct_type(credits_new_lot_fields()))),
                ('trigger_amount', credits_money_type()),
                ('recharge_amount', credits_money_type()),
                ('recharge_enabled', 'boolean'),
            ], {
                'ledger_date': 'ledger_date',
                'charges': 'charges',
                'funded_amount': 'funded_amount',
                'new_lots': 'new_lots',
                'trigger_amount': 'trigger_amount',
                'recharge_amount': 'recharge_amount',
                'recharge_enabled': 'recharge_enabled',
            }),
            'ledger_date'
        ) }} as days
    from ledger_days
    group by tenant_id, currency

),

walked as (

    select
        tenant_id,
        currency,
        as_of_date,
        {{ credits_walk('days', credits_initial_state()) }} as final_state
    from day_arrays

),

final as (

    select
        tenant_id,
        currency,
        as_of_date,
        final_state.consumed_total as consumed_total,
        final_state.funded_total as funded_total,
        final_state.markers as open_lot_markers,
        final_state.days as days
    from walked

)

select * from final
