{# Every recorded funding as a lot of the credits ledger: its billing day, the day it expires,
   its amount in the ledger's money type, and where it ends among the lots bought the same day
   (`offset_end`, the running total in purchase order). The ledger's input days
   (int_credit_days) and the per-lot mart (fct_credits_lots) both read it. A tenant billed
   pay-as-you-go has no prepaid lots: its fundings are left out. #}
with

fundings as (

    select * from {{ ref('stg_archive__credit_fundings') }}

),

lots as (

    select
        funding_id,
        tenant_id,
        currency,
        kind,
        funded_at,
        cast({{ to_billing_time('funded_at') }} as date) as funded_date,
        cast(amount as {{ credits_money_type() }}) as amount,
        source_path
    from fundings
    where {{ billing_model('tenant_id') }} = 'prepaid'

),

final as (

    select
        lots.*,
        {{ credits_expires_on('funded_date') }} as expires_on,
        cast(sum(amount) over (
            partition by tenant_id, currency, funded_date
            order by funded_at, funding_id
            rows between unbounded preceding and current row
        ) as {{ credits_money_type() }}) as offset_end
    from lots

)

select * from final
