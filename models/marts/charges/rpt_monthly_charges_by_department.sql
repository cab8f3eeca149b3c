{# Cost allocation: Communications Credits charges per tenant, month, department and currency
   (organizers with no department in their licence snapshot are `(none)`). #}
with

charges as (

    select * from {{ ref('fct_charges_mcopstnpp') }}

),

final as (

    select
        tenant_id,
        billing_month,
        cast(coalesce(department, '(none)') as {{ dbt.type_string() }}) as department,
        currency,
        cast(count(*) as bigint) as calls,
        cast(sum(charged_seconds) as bigint) as charged_seconds,
        cast(sum(billable_minutes) as decimal(18, 4)) as billable_minutes,
        cast(sum(rated_charge) as decimal(18, 2)) as rated_charge
    from charges
    group by tenant_id, billing_month, coalesce(department, '(none)'), currency

)

select * from final
