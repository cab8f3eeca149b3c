{# What each call costs and why.
   * Pool-eligible dial-out is paid by the pool (MCOMEETADD); the part beyond the pool
     (pool_exhausted) goes to Communications Credits (MCOPSTNPP) if the organizer holds them on the
     call date or the tenant is billed pay-as-you-go (macros/rating/billing_model.sql), else the
     call is `blocked` (the service would have cut it: flagged, charged 0).
   * Non-eligible dial-out (premium_number, outside_zone_a, pay_per_minute, else
     not_pool_eligible) and toll-free dial-in (toll_free_dial_in) are charged from the first
     second, the same way: MCOPSTNPP or `blocked`.
   * Toll dial-in is `included` under a monthly Audio Conferencing licence; a pay-per-minute
     organizer's is charged (pay_per_minute).
   * A Calling Plan leg (an outbound leg of a user holding a plan) is paid by the plan's pools
     (int_calling_plan_allocated): rated_capability is the plan when the pools paid it whole; the
     part beyond them (calling_plan_exhausted), an international call no plan of the user covers
     (international_not_in_plan) and a premium number (premium_number, never drawn) go to
     Communications Credits or are `blocked`, as above. A domestic toll-free number is `included`.
     An emergency call is `included`.
   * Everything else is `out_of_scope`: kept, counted, not charged.
   Price = rate card row valid on the billing day for (destination, number type), applied by
   macros/rating/pricing.sql: billable minutes = charged seconds rounded up to
   var('billing_increment_seconds'); charge = minutes x rate + connection fee, to the cent. A
   chargeable call without a rate keeps a null charge and fails
   assert_every_charged_call_has_a_rate, which names the destination. #}
with

calls as (

    select * from {{ ref('int_calls_licensed') }}

),

allocation as (

    select * from {{ ref('int_pool_allocated') }}

),

calling_plan_draws as (

    select * from {{ ref('int_calling_plan_allocated') }}
    where is_first_draw

),

rate_card as (

    select * from {{ ref('rate_card') }}

),

calls_allocated as (

    select
        calls.*,
        coalesce(allocation.pool_capability, calling_plan_draws.pool_capability) as pool_capability,
        calling_plan_draws.pool_country,
        case
            when allocation.usage_id is not null then 'dial_out'
            when calls.is_calling_plan_leg then calls.calling_plan_minute_type
        end as minute_type,
        calling_plan_draws.pool_user_key,
        coalesce(allocation.pooled_seconds, calling_plan_draws.call_pooled_seconds, 0) as pooled_seconds,
        coalesce(
            allocation.overflow_seconds,
            calling_plan_draws.offered_seconds - calling_plan_draws.call_pooled_seconds,
            0
        ) as overflow_seconds,
        coalesce(allocation.used_after_call_seconds, calling_plan_draws.used_after_call_seconds)
            as mtd_pool_used_seconds
    from calls
    left join allocation
        on calls.tenant_id = allocation.tenant_id
            and calls.usage_id = allocation.usage_id
    left join calling_plan_draws
        on calls.tenant_id = calling_plan_draws.tenant_id
            and calls.usage_id = calling_plan_draws.usage_id

),

calls_reasoned as (

    select
        calls_allocated.*,
        case
            when is_calling_plan_leg and number_type = 'premium' then 'premium_number'
            when is_calling_plan_leg and pool_capability is null and minute_type = 'international'
                then 'international_not_in_plan'
            when is_calling_plan_leg and overflow_seconds > 0 then 'calling_plan_exhausted'
            when is_calling_plan_leg then null
            when call_direction = 'dial_out' and is_pool_eligible and overflow_seconds > 0 then 'pool_exhausted'
            when call_direction = 'dial_out' and is_pool_eligible then null
            when call_direction = 'dial_out' and number_type = 'premium' then 'premium_number'
            when call_direction = 'dial_out' and not is_zone_a then 'outside_zone_a'
            when call_direction = 'dial_out' and has_pay_per_minute and not has_audio_conferencing
                then 'pay_per_minute'
            when call_direction = 'dial_out' then 'not_pool_eligible'
            when call_direction = 'dial_in' and number_type = 'toll_free' then 'toll_free_dial_in'
            when call_direction = 'dial_in' and has_pay_per_minute and not has_audio_conferencing
                then 'pay_per_minute'
        end as charge_reason
    from calls_allocated

),

calls_charged as (

    select
        calls_reasoned.*,
        case
            when charge_reason in ('pool_exhausted', 'calling_plan_exhausted') then overflow_seconds
            when charge_reason is not null then duration_seconds
            else 0
        end as charged_seconds,
        case
            when is_calling_plan_leg and charge_reason is null then coalesce(pool_capability, 'included')
            when call_type = 'emergency_out' then 'included'
            when call_direction = 'other' and not coalesce(is_calling_plan_leg, false) then 'out_of_scope'
            when charge_reason is null and call_direction = 'dial_out' then 'MCOMEETADD'
            when charge_reason is null then 'included'
            when has_communications_credits then 'MCOPSTNPP'
            when {{ billing_model('tenant_id') }} = 'pay_as_you_go' then 'MCOPSTNPP'
            else 'blocked'
        end as rated_capability,
        case
            when call_direction = 'dial_in' and number_type = 'toll_free' then 'toll_free'
            when call_direction = 'dial_in' then 'standard'
            else number_type
        end as rate_number_type
    from calls_reasoned

),

calls_rated as (

    select
        calls_charged.*,
        rate_card.rate_per_minute,
        rate_card.connection_fee as rate_connection_fee,
        rate_card.currency as rate_currency,
        {{ billable_seconds('calls_charged.charged_seconds') }} as billable_seconds,
        {{ billable_seconds('calls_charged.pooled_seconds') }} as pooled_billable_seconds
    from calls_charged
    left join rate_card
        on calls_charged.destination_country = rate_card.destination_country
            and calls_charged.rate_number_type = rate_card.number_type
            and calls_charged.billing_date >= rate_card.valid_from
            and calls_charged.billing_date <= {{ open_end_date('rate_card.valid_to') }}

),

calls_in_minutes as (

    {# Minutes first, as DECIMAL; money is then only multiplied and added, never divided, so
       it is exact (DuckDB turns decimal division into DOUBLE; Spark does not). #}
    select
        calls_rated.*,
        cast(billable_seconds / 60.0 as decimal(18, 4)) as billable_minutes,
        cast(pooled_billable_seconds / 60.0 as decimal(18, 4)) as pooled_billable_minutes
    from calls_rated

),

final as (

    select
        calls_in_minutes.*,
        case
            when charged_seconds > 0
                then {{ call_charge('billable_minutes', 'rate_per_minute', 'rate_connection_fee') }}
        end as charge_at_credit_rates,
        case
            when pooled_seconds > 0
                then {{ call_charge('pooled_billable_minutes', 'rate_per_minute', 'rate_connection_fee') }}
        end as pooled_value_at_credit_rates,
        rated_capability = 'MCOPSTNPP' and charged_seconds > 0 and rate_per_minute is null as is_missing_rate
    from calls_in_minutes

)

select
    final.*,
    {# A charged call whose rate is missing keeps a null charge: never a silent zero. #}
    case
        when is_missing_rate then null
        when rated_capability = 'MCOPSTNPP' and charged_seconds > 0 then charge_at_credit_rates
        else cast(0 as decimal(18, 2))
    end as rated_charge,
    coalesce(rate_currency, reported_currency) as currency
from final
