{# One row per tenant and currency with a credits ledger: the balance on the latest day, how long
   it lasts at the recent burn rate (walking the open lots forward, so expiries count), what the
   configured auto-recharge would do, and a recommended trigger and recharge amount with the
   figures behind them. Money is computed in integer cents (the same on every engine). #}
with

walked as (

    select * from {{ ref('int_credit_ledger_walked') }}

),

balance as (

    select * from {{ ref('fct_credits_balance_daily') }}

),

lots as (

    select * from {{ ref('fct_credits_lots') }}

),

latest as (

    select
        walked.tenant_id,
        walked.currency,
        walked.as_of_date,
        walked.consumed_total,
        walked.funded_total,
        walked.open_lot_markers,
        balance.closing_balance,
        coalesce(balance.auto_recharge_enabled, false) as auto_recharge_enabled,
        coalesce(balance.trigger_amount, 0) as trigger_amount,
        coalesce(balance.recharge_amount, 0) as recharge_amount
    from walked
    inner join balance
        on walked.tenant_id = balance.tenant_id
        and walked.currency = balance.currency
        and walked.as_of_date = balance.balance_date

),

recent as (

    select
        latest.tenant_id,
        latest.currency,
        count(*) as burn_days,
        sum({{ to_cents('balance.charges') }}) as burn_cents_total
    from latest
    inner join balance
        on latest.tenant_id = balance.tenant_id
        and latest.currency = balance.currency
        and balance.balance_date > {{ add_days('latest.as_of_date', -var('credits_burn_rate_days', 30)) }}
    group by latest.tenant_id, latest.currency

),

burn as (

    select
        latest.*,
        recent.burn_days,
        {{ cents_to_money('recent.burn_cents_total') }} as recent_charges,
        {{ cents_to_money(divide_rounded('recent.burn_cents_total', 'recent.burn_days')) }} as daily_burn_rate
    from latest
    inner join recent
        on latest.tenant_id = recent.tenant_id
        and latest.currency = recent.currency

),

future_days as (

    select
        tenant_id,
        currency,
        {{ explode_days(add_days('as_of_date', 1), add_days('as_of_date', var('credits_forecast_days', 365))) }} as ledger_date
    from burn

),

future_arrays as (

    select
        future_days.tenant_id,
        future_days.currency,
        {%- for scenario, enabled in [('without_recharge', 'false'), ('as_configured', 'burn.auto_recharge_enabled')] %}
        {{ collect_ordered(
            typed_struct(credits_walk_input_fields(), {
                'ledger_date': 'future_days.ledger_date',
                'charges': 'burn.daily_burn_rate',
                'funded_amount': '0',
                'new_lots': empty_array(credits_new_lot_fields()),
                'trigger_amount': 'burn.trigger_amount',
                'recharge_amount': 'burn.recharge_amount',
                'recharge_enabled': enabled,
            }),
            'future_days.ledger_date'
        ) }} as days_{{ scenario }}{{ ',' if not loop.last }}
        {%- endfor %}
    from future_days
    inner join burn
        on future_days.tenant_id = burn.tenant_id
        and future_days.currency = burn.currency
    group by future_days.tenant_id, future_days.currency

),

{# The two walks keep running summaries instead of recording every future day. #}
forecast_walks as (

    select
        future_arrays.tenant_id,
        future_arrays.currency,
        {%- for scenario in ['without_recharge', 'as_configured'] %}
        {{ credits_walk(
            'future_arrays.days_' ~ scenario,
            credits_initial_state('burn.consumed_total', 'burn.funded_total', 'burn.open_lot_markers'),
            record_days=false
        ) }} as walk_{{ scenario }}{{ ',' if not loop.last }}
        {%- endfor %}
    from future_arrays
    inner join burn
        on future_arrays.tenant_id = burn.tenant_id
        and future_arrays.currency = burn.currency

),

forecast as (

    select
        tenant_id,
        currency,
        walk_without_recharge.zero_date as projected_zero_date,
        walk_without_recharge.zero_by_expiry as zero_by_expiry,
        walk_without_recharge.forfeited_sum as projected_forfeiture,
        walk_as_configured.recharges_sum as projected_recharges,
        walk_as_configured.recharge_amount_sum as projected_recharge_amount
    from forecast_walks

),

expiring as (

    select
        lots.tenant_id,
        lots.currency,
        min(lots.expires_on) as next_expiry_date,
        sum(case
            when lots.expires_on <= {{ add_days('lots.as_of_date', 90) }} then lots.remaining_amount else 0
        end) as remaining_expiring_within_90_days
    from lots
    where lots.lot_status = 'open' and lots.remaining_amount > 0
    group by lots.tenant_id, lots.currency

),

{# The recommendation looks at whole months only (the current month is still running), the
   latest twelve of them, and at the latest 365 days for daily spend. #}
monthly_spend as (

    select
        balance.tenant_id,
        balance.currency,
        balance.billing_month,
        sum({{ to_cents('balance.charges') }}) as spend_cents,
        row_number() over (
            partition by balance.tenant_id, balance.currency order by balance.billing_month desc
        ) as months_back
    from balance
    inner join latest
        on balance.tenant_id = latest.tenant_id
        and balance.currency = latest.currency
    where {{ add_months('balance.billing_month', 1) }} <= {{ add_days('latest.as_of_date', 1) }}
    group by balance.tenant_id, balance.currency, balance.billing_month

),

recent_months as (

    select
        monthly_spend.*,
        row_number() over (
            partition by tenant_id, currency order by spend_cents, billing_month
        ) as spend_rank,
        count(*) over (partition by tenant_id, currency) as months_observed
    from monthly_spend
    where months_back <= 12

),

month_figures as (

    select
        tenant_id,
        currency,
        max(months_observed) as months_observed,
        max(case when spend_rank = {{ divide_rounded_up('95 * months_observed', '100') }} then spend_cents end) as p95_cents,
        max(spend_cents) as max_cents,
        {{ divide_rounded('sum(spend_cents)', 'max(months_observed)') }} as mean_cents
    from recent_months
    group by tenant_id, currency

),

recent_days as (

    select
        balance.tenant_id,
        balance.currency,
        {{ to_cents('balance.charges') }} as spend_cents,
        row_number() over (
            partition by balance.tenant_id, balance.currency order by balance.charges, balance.balance_date
        ) as spend_rank,
        count(*) over (partition by balance.tenant_id, balance.currency) as days_observed
    from balance
    inner join latest
        on balance.tenant_id = latest.tenant_id
        and balance.currency = latest.currency
    where balance.balance_date > {{ add_days('latest.as_of_date', -365) }}

),

day_figures as (

    select
        tenant_id,
        currency,
        max(days_observed) as days_observed,
        max(case when spend_rank = {{ divide_rounded_up('95 * days_observed', '100') }} then spend_cents end) as p95_cents
    from recent_days
    group by tenant_id, currency

),

{# Recharge: one recharge covers a heavy (95th percentile) month, rounded up to 10, at least 10;
   but never more than a year of average spend, or part of it would expire unused.
   Trigger: enough for var('credits_trigger_cover_days') heavy (95th percentile) days, rounded up
   to 10, at least 10, so calls keep flowing while a recharge is processed. #}
recommendation as (

    select
        month_figures.tenant_id,
        month_figures.currency,
        month_figures.months_observed,
        month_figures.p95_cents,
        month_figures.max_cents,
        month_figures.mean_cents,
        day_figures.days_observed,
        day_figures.p95_cents as daily_p95_cents,
        {{ cents_up_to_ten('month_figures.p95_cents') }} as recharge_by_p95_cents,
        {{ cents_up_to_ten('12 * month_figures.mean_cents') }} as recharge_cap_cents,
        {{ cents_up_to_ten('day_figures.p95_cents * ' ~ var('credits_trigger_cover_days', 3)) }} as trigger_cents
    from month_figures
    inner join day_figures
        on month_figures.tenant_id = day_figures.tenant_id
        and month_figures.currency = day_figures.currency

),

final as (

    select
        burn.tenant_id,
        burn.currency,
        burn.as_of_date,
        burn.closing_balance as balance,
        burn.auto_recharge_enabled,
        case when burn.auto_recharge_enabled then burn.trigger_amount end as trigger_amount,
        case when burn.auto_recharge_enabled then burn.recharge_amount end as recharge_amount,
        cast(burn.burn_days as bigint) as burn_rate_days,
        burn.recent_charges,
        burn.daily_burn_rate,
        {# An empty balance is at zero already, on the latest day. #}
        case when burn.closing_balance <= 0 then burn.as_of_date else forecast.projected_zero_date end as projected_zero_date,
        cast(case
            when burn.closing_balance <= 0 then 0
            else {{ dbt.datediff('burn.as_of_date', 'forecast.projected_zero_date', 'day') }}
        end as bigint) as days_until_zero,
        case
            when burn.closing_balance <= 0 then 'empty'
            when forecast.projected_zero_date is null then null
            when forecast.zero_by_expiry then 'expiry'
            else 'spending'
        end as zero_reason,
        cast(forecast.projected_forfeiture as {{ credits_money_type() }}) as projected_forfeiture_without_recharge,
        cast(forecast.projected_recharges as bigint) as projected_recharges_as_configured,
        cast(forecast.projected_recharge_amount as {{ credits_money_type() }}) as projected_recharge_amount_as_configured,
        cast({{ var('credits_forecast_days', 365) }} as bigint) as forecast_horizon_days,
        expiring.next_expiry_date,
        cast(coalesce(expiring.remaining_expiring_within_90_days, 0) as {{ credits_money_type() }}) as remaining_expiring_within_90_days,
        cast(recommendation.months_observed as bigint) as months_observed,
        {{ cents_to_money('recommendation.p95_cents') }} as monthly_spend_p95,
        {{ cents_to_money('recommendation.mean_cents') }} as monthly_spend_mean,
        {{ cents_to_money('recommendation.max_cents') }} as monthly_spend_max,
        cast(recommendation.days_observed as bigint) as days_observed,
        {{ cents_to_money('recommendation.daily_p95_cents') }} as daily_spend_p95,
        cast({{ var('credits_trigger_cover_days', 3) }} as bigint) as trigger_cover_days,
        {{ cents_to_money('recommendation.trigger_cents') }} as recommended_trigger_amount,
        {{ cents_to_money('least(recommendation.recharge_by_p95_cents, recommendation.recharge_cap_cents)') }} as recommended_recharge_amount,
        case
            when recommendation.months_observed is null then 'no complete month of history yet: no recommendation'
            when recommendation.recharge_by_p95_cents > recommendation.recharge_cap_cents
                then 'recharge capped at 12 months of mean monthly spend (rounded up to 10) so no recharge expires unused; trigger = 95th percentile daily spend x cover days, rounded up to 10'
            else 'recharge = 95th percentile of monthly spend over the complete months observed (latest 12), rounded up to 10; trigger = 95th percentile daily spend x cover days, rounded up to 10'
        end as recommendation_basis
    from burn
    left join forecast
        on burn.tenant_id = forecast.tenant_id
        and burn.currency = forecast.currency
    left join expiring
        on burn.tenant_id = expiring.tenant_id
        and burn.currency = expiring.currency
    left join recommendation
        on burn.tenant_id = recommendation.tenant_id
        and burn.currency = recommendation.currency

)

select * from final
