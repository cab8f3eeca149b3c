{# Rating keeps every call: one row in fct_pstn_calls per current call in staging. #}
with

staged as (

    select
        tenant_id,
        count(*) as calls
    from {{ ref('stg_archive__pstn_calls') }}
    group by tenant_id

),

facts as (

    select
        tenant_id,
        count(*) as calls
    from {{ ref('fct_pstn_calls') }}
    group by tenant_id

)

select
    staged.tenant_id,
    staged.calls as staged_calls,
    facts.calls as fact_calls
from staged
left join facts on staged.tenant_id = facts.tenant_id
where coalesce(facts.calls, -1) <> staged.calls
