{# Every lot of Communications Credits, recorded or simulated, and what became of it: used (first
   in, first out), forfeited at expiry (12 months after purchase), or still open on the latest day.
   Lots are laid end to end on a money axis in purchase order ([lot_start, lot_end)); the ledger's
   running total of money used or forfeited tells how far into each lot it has gone. #}
with

funding_lots as (

    select * from {{ ref('int_credit_funding_lots') }}

),

balance as (

    select * from {{ ref('fct_credits_balance_daily') }}

),

walked as (

    select * from {{ ref('int_credit_ledger_walked') }}

),

{# A recorded lot ends where the funds before its day end, plus its place within the day. #}
recorded_lots as (

    select
        funding_lots.funding_id as lot_id,
        funding_lots.tenant_id,
        funding_lots.currency,
        'recorded' as lot_source,
        funding_lots.kind,
        funding_lots.funded_at,
        funding_lots.funded_date,
        funding_lots.expires_on,
        funding_lots.amount,
        funding_lots.source_path,
        cast(
            balance.funded_total - balance.funded_amount - balance.simulated_recharge_amount
            + funding_lots.offset_end as {{ credits_money_type() }}
        ) as lot_end
    from funding_lots
    inner join balance
        on funding_lots.tenant_id = balance.tenant_id
            and funding_lots.currency = balance.currency
            and funding_lots.funded_date = balance.balance_date

),

simulated_lots as (

    select
        {{ dbt.hash(
            "concat(tenant_id, '|', currency, '|', cast(balance_date as " ~ dbt.type_string() ~ "), '|simulated')"
        ) }} as lot_id,
        tenant_id,
        currency,
        'simulated' as lot_source,
        'auto_recharge' as kind,
        cast(null as timestamp) as funded_at,
        balance_date as funded_date,
        {{ credits_expires_on('balance_date') }} as expires_on,
        simulated_recharge_amount as amount,
        cast(null as {{ dbt.type_string() }}) as source_path,
        funded_total as lot_end
    from balance
    where simulated_recharges > 0

),

lots as (

    select * from recorded_lots
    union all
    select * from simulated_lots

),

positioned as (

    select
        lots.*,
        cast(lots.lot_end - lots.amount as {{ credits_money_type() }}) as lot_start,
        walked.as_of_date,
        walked.consumed_total as consumed_total_now
    from lots
    inner join walked
        on lots.tenant_id = walked.tenant_id
            and lots.currency = walked.currency

),

{# Money used from a lot = how far the used-or-forfeited total had gone into it when it expired
   (at the opening of its expiry day), or by the latest day if it has not expired. #}
at_expiry as (

    select
        positioned.*,
        balance.balance_date is not null as is_expired,
        case
            when balance.balance_date is not null
                then balance.consumed_total - balance.drawn_amount - balance.forfeited_amount
            else positioned.consumed_total_now
        end as consumed_before_expiry
    from positioned
    left join balance
        on positioned.tenant_id = balance.tenant_id
            and positioned.currency = balance.currency
            and positioned.expires_on = balance.balance_date

),

used as (

    select
        at_expiry.*,
        cast(
            least(greatest(consumed_before_expiry - lot_start, 0), amount) as {{ credits_money_type() }}
        ) as used_amount
    from at_expiry

),

used_up as (

    select
        used.lot_id,
        used.tenant_id,
        used.currency,
        min(balance.balance_date) as used_up_on
    from used
    inner join balance
        on used.tenant_id = balance.tenant_id
            and used.currency = balance.currency
            and used.lot_end <= balance.consumed_total
            and used.expires_on > balance.balance_date
    where used.used_amount = used.amount
    group by used.lot_id, used.tenant_id, used.currency

),

final as (

    select
        used.lot_id,
        used.tenant_id,
        used.currency,
        used.lot_source,
        used.kind,
        used.funded_at,
        used.funded_date,
        used.expires_on,
        used.amount,
        used.lot_start,
        used.lot_end,
        used.used_amount,
        cast(
            case when used.is_expired then used.amount - used.used_amount else 0 end as {{ credits_money_type() }}
        ) as forfeited_amount,
        cast(
            case when used.is_expired then 0 else used.amount - used.used_amount end as {{ credits_money_type() }}
        ) as remaining_amount,
        case
            when used.used_amount = used.amount then 'used_up'
            when used.is_expired then 'expired'
            else 'open'
        end as lot_status,
        used_up.used_up_on,
        case when used.is_expired and used.used_amount < used.amount then used.expires_on end as forfeited_on,
        used.as_of_date,
        used.source_path
    from used
    left join used_up
        on used.lot_id = used_up.lot_id
            and used.tenant_id = used_up.tenant_id
            and used.currency = used_up.currency

)

select * from final
