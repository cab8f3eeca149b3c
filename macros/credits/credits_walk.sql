{#- The Communications Credits ledger as a fold over days.

    Funds are used first in, first out, and every lot expires 12 months after purchase, so lots
    also expire in purchase order. Both ways of leaving the balance therefore take lots from the
    front of the purchase sequence: if lots are laid end to end on a money axis (lot k covers
    [start_k, end_k), end = start + amount), everything used or forfeited so far is the prefix
    [0, consumed_total), and what is left is [consumed_total, funded_total). The fold carries just
    those two totals and each open lot's (expires_on, end); per-lot figures are derived afterwards.

    One day, in this order:
      1. the day's recorded fundings are added (new lots at the end);
      2. lots whose expiry day has come are forfeited: consumed_total moves to the end of the last
         expired lot (what it skips over is the forfeited remainder);
      3. auto-recharge: if enabled and the balance after the day's charges would be below the
         trigger, n = ceil((trigger - (balance - charges)) / recharge) recharges of the recharge
         amount are added (one simulated lot of n x recharge);
      4. the day's charges are drawn, up to the balance; any rest is unfunded (the service would
         have blocked those calls: a sign that the funding record or the licences disagree).
-#}

{% macro credits_money_type() %}decimal(18, 2){% endmacro %}


{% macro credits_block_days() %}32{% endmacro %}


{% macro credits_expires_on(purchase_date) -%}
    {#- The first day a lot bought on `purchase_date` is no longer usable: 12 months later. -#}
    {{ add_months(purchase_date, 12) }}
{%- endmacro %}


{% macro credits_walk_input_fields() %}
    {#- One day of a walk's input (see credits_walk). -#}
    {{ return([
        ('ledger_date', 'date'),
        ('charges', credits_money_type()),
        ('funded_amount', credits_money_type()),
        ('new_lots', array_type(struct_type(credits_new_lot_fields()))),
        ('trigger_amount', credits_money_type()),
        ('recharge_amount', credits_money_type()),
        ('recharge_enabled', 'boolean'),
    ]) }}
{% endmacro %}


{% macro credits_marker_fields() %}
    {{ return([('expires_on', 'date'), ('lot_end', credits_money_type())]) }}
{% endmacro %}


{% macro credits_new_lot_fields() %}
    {#- A recorded funding inside its day: its end relative to the funds before that day. -#}
    {{ return([('expires_on', 'date'), ('offset_end', credits_money_type())]) }}
{% endmacro %}


{% macro credits_day_fields() %}
    {{ return([
        ('ledger_date', 'date'),
        ('opening_balance', credits_money_type()),
        ('funded_amount', credits_money_type()),
        ('forfeited_amount', credits_money_type()),
        ('auto_recharges', 'bigint'),
        ('auto_recharge_amount', credits_money_type()),
        ('charges', credits_money_type()),
        ('drawn_amount', credits_money_type()),
        ('unfunded_amount', credits_money_type()),
        ('closing_balance', credits_money_type()),
        ('funded_total', credits_money_type()),
        ('consumed_total', credits_money_type()),
    ]) }}
{% endmacro %}


{% macro credits_state_fields() %}
    {#- The totals and open lots; the days walked (only when the walk records them); and running
        summaries that a forecast needs without recording 365 days per tenant: the first day the
        balance closed at zero (and whether an expiry emptied it), forfeits and recharges. -#}
    {{ return([
        ('consumed_total', credits_money_type()),
        ('funded_total', credits_money_type()),
        ('markers', array_type(struct_type(credits_marker_fields()))),
        ('days', array_type(struct_type(credits_day_fields()))),
        ('zero_date', 'date'),
        ('zero_by_expiry', 'boolean'),
        ('forfeited_sum', credits_money_type()),
        ('recharges_sum', 'bigint'),
        ('recharge_amount_sum', credits_money_type()),
    ]) }}
{% endmacro %}


{% macro credits_initial_state(consumed_total='0', funded_total='0', markers=none) %}
    {{ return(typed_struct(credits_state_fields(), {
        'consumed_total': consumed_total,
        'funded_total': funded_total,
        'markers': markers if markers is not none else empty_array(credits_marker_fields()),
        'days': empty_array(credits_day_fields()),
        'zero_date': 'null',
        'zero_by_expiry': 'null',
        'forfeited_sum': '0',
        'recharges_sum': '0',
        'recharge_amount_sum': '0',
    })) }}
{% endmacro %}


{% macro credits_walk(days, initial, record_days=true) %}
    {#- `days`: an array of structs ordered by day with ledger_date, charges, funded_amount,
        new_lots (credits_new_lot_fields), trigger_amount, recharge_amount, recharge_enabled.
        Returns the final state (credits_state_fields); with record_days its `days` hold one row
        per input day. Recording copies the growing list at every step (quadratic in the days
        walked), so long histories are walked in blocks (int_credit_ledger_walked). -#}
    {%- set money = credits_money_type() -%}
    {%- set new_markers = array_transform('walk_day.new_lots', 'new_lot', typed_struct(credits_marker_fields(), {
        'expires_on': 'new_lot.expires_on',
        'lot_end': 'walk_state.funded_total + new_lot.offset_end',
    })) -%}
    {%- set expired_end = array_max(array_transform(
        array_filter('markers_1', 'marker', 'marker.expires_on <= walk_day.ledger_date'), 'marker', 'marker.lot_end'
    )) -%}
    {%- set kept_markers = array_filter('markers_1', 'marker', 'marker.expires_on > walk_day.ledger_date') -%}
    {%- set recharge_marker = array_of(typed_struct(credits_marker_fields(), {
        'expires_on': credits_expires_on('walk_day.ledger_date'),
        'lot_end': 'funded_2',
    })) -%}
    {%- set shortfall = 'walk_day.trigger_amount - (funded_1 - consumed_1 - walk_day.charges)' -%}
    {%- set recharges -%}
        case
            when walk_day.recharge_enabled and walk_day.recharge_amount > 0 and {{ shortfall }} > 0
                then {{ divide_rounded_up(to_cents(shortfall), to_cents('walk_day.recharge_amount')) }}
            else 0
        end
    {%- endset -%}
    {%- set day_row = typed_struct(credits_day_fields(), {
        'ledger_date': 'walk_day.ledger_date',
        'opening_balance': 'walk_state.funded_total - walk_state.consumed_total',
        'funded_amount': 'walk_day.funded_amount',
        'forfeited_amount': 'consumed_1 - walk_state.consumed_total',
        'auto_recharges': 'recharge_count',
        'auto_recharge_amount': 'funded_2 - funded_1',
        'charges': 'walk_day.charges',
        'drawn_amount': 'drawn',
        'unfunded_amount': 'walk_day.charges - drawn',
        'closing_balance': 'funded_2 - consumed_1 - drawn',
        'funded_total': 'funded_2',
        'consumed_total': 'consumed_1 + drawn',
    }) -%}
    {%- set next_state = typed_struct(credits_state_fields(), {
        'consumed_total': 'consumed_1 + drawn',
        'funded_total': 'funded_2',
        'markers': 'case when recharge_count > 0 then ' ~ array_concat(kept_markers, recharge_marker) ~ ' else ' ~ kept_markers ~ ' end',
        'days': array_concat('walk_state.days', array_of(day_row)) if record_days else 'walk_state.days',
        'zero_date': 'coalesce(walk_state.zero_date, case when funded_2 - consumed_1 - drawn <= 0 then walk_day.ledger_date end)',
        'zero_by_expiry': 'case when walk_state.zero_date is not null then walk_state.zero_by_expiry when funded_2 - consumed_1 - drawn <= 0 then consumed_1 > walk_state.consumed_total end',
        'forfeited_sum': 'walk_state.forfeited_sum + consumed_1 - walk_state.consumed_total',
        'recharges_sum': 'walk_state.recharges_sum + recharge_count',
        'recharge_amount_sum': 'walk_state.recharge_amount_sum + funded_2 - funded_1',
    }) -%}
    {%- set step =
        let_in('markers_1', array_concat('walk_state.markers', new_markers),
        let_in('funded_1', 'cast(walk_state.funded_total + walk_day.funded_amount as ' ~ money ~ ')',
        let_in('consumed_1', 'cast(greatest(walk_state.consumed_total, coalesce(' ~ expired_end ~ ', walk_state.consumed_total)) as ' ~ money ~ ')',
        let_in('recharge_count', 'cast(' ~ recharges ~ ' as bigint)',
        let_in('funded_2', 'cast(funded_1 + recharge_count * walk_day.recharge_amount as ' ~ money ~ ')',
        let_in('drawn', 'cast(least(walk_day.charges, funded_2 - consumed_1) as ' ~ money ~ ')',
        next_state))))))
    -%}
    {{ array_fold(days, initial, 'walk_state', 'walk_day', step) }}
{% endmacro %}
