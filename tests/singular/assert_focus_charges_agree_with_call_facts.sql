{# The FOCUS rows of every call add up to its facts: the billed cost of its credit rows to its
   rated charge (to the cent), the pricing quantity of its pool row to its pooled minutes; and
   every call that drew on the pool or was paid with credits has its rows. Each failing row names
   the call. #}
with

focus as (

    select
        x_tenant_id as tenant_id,
        x_usage_id as usage_id,
        sum(case when x_charge_component <> 'pool_minutes' then BilledCost else 0 end) as billed_cost,  -- noqa: CP02
        sum(case when x_charge_component = 'pool_minutes' then PricingQuantity else 0 end) as pooled_minutes  -- noqa: CP02
    from {{ ref('fct_focus_charges') }}
    group by x_tenant_id, x_usage_id

),

calls as (

    select
        tenant_id,
        usage_id,
        case when rated_capability = 'MCOPSTNPP' and charged_seconds > 0 then rated_charge else 0 end as billed_cost,
        case when pooled_seconds > 0 then pooled_minutes else 0 end as pooled_minutes
    from {{ ref('fct_pstn_calls') }}
    where pooled_seconds > 0
        or (rated_capability = 'MCOPSTNPP' and charged_seconds > 0 and not is_missing_rate)

)

select
    coalesce(calls.tenant_id, focus.tenant_id) as tenant_id,
    coalesce(calls.usage_id, focus.usage_id) as usage_id,
    calls.billed_cost as call_rated_charge,
    focus.billed_cost as focus_billed_cost,
    calls.pooled_minutes as call_pooled_minutes,
    focus.pooled_minutes as focus_pooled_minutes
from calls
full outer join focus
    on calls.tenant_id = focus.tenant_id
        and calls.usage_id = focus.usage_id
where calls.usage_id is null
    or focus.usage_id is null
    or calls.billed_cost <> focus.billed_cost
    or calls.pooled_minutes <> focus.pooled_minutes
