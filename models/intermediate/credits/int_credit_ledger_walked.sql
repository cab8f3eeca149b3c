{{ config(materialized='table') }}

{# The credits ledger walked to its latest day (macros/credits/credits_walk.sql), one row per
   tenant and currency: the final totals and open lots, and the state at the start of every
   32-day block. Walking block by block without recording the days, and then replaying each
   block from its start in parallel (int_credit_ledger_daily), keeps the work linear in the
   length of the history: recording every day in one walk copies a growing list at each step
   (ten years of one tenant took 11 s that way). #}
with

blocks as (

    select * from {{ ref('int_credit_day_blocks') }}

),

block_arrays as (

    select
        tenant_id,
        currency,
        max(last_date) as as_of_date,
        {{ collect_ordered(
            typed_struct([('block_no', 'bigint'), ('days', array_type(struct_type(credits_walk_input_fields())))], {
                'block_no': 'block_no',
                'days': 'days',
            }),
            'block_no'
        ) }} as blocks
    from blocks
    group by tenant_id, currency

),

{%- set start_fields = [
    ('block_no', 'bigint'),
    ('consumed_total', credits_money_type()),
    ('funded_total', credits_money_type()),
    ('markers', array_type(struct_type(credits_marker_fields()))),
] %}
{%- set outer_fields = [
    ('consumed_total', credits_money_type()),
    ('funded_total', credits_money_type()),
    ('markers', array_type(struct_type(credits_marker_fields()))),
    ('starts', array_type(struct_type(start_fields))),
] %}

walked as (

    select
        tenant_id,
        currency,
        as_of_date,
        {{ array_fold(
            'blocks',
            typed_struct(outer_fields, {
                'consumed_total': '0',
                'funded_total': '0',
                'markers': empty_array(credits_marker_fields()),
                'starts': empty_array(start_fields),
            }),
            'ledger_state',
            'walk_block',
            let_in(
                'block_end',
                credits_walk(
                    'walk_block.days',
                    credits_initial_state('ledger_state.consumed_total', 'ledger_state.funded_total', 'ledger_state.markers'),
                    record_days=false
                ),
                typed_struct(outer_fields, {
                    'consumed_total': 'block_end.consumed_total',
                    'funded_total': 'block_end.funded_total',
                    'markers': 'block_end.markers',
                    'starts': array_concat('ledger_state.starts', array_of(typed_struct(start_fields, {
                        'block_no': 'walk_block.block_no',
                        'consumed_total': 'ledger_state.consumed_total',
                        'funded_total': 'ledger_state.funded_total',
                        'markers': 'ledger_state.markers',
                    }))),
                })
            )
        ) }} as final_state
    from block_arrays

),

final as (

    select
        tenant_id,
        currency,
        as_of_date,
        final_state.consumed_total as consumed_total,
        final_state.funded_total as funded_total,
        final_state.markers as open_lot_markers,
        final_state.starts as block_starts
    from walked

)

select * from final
