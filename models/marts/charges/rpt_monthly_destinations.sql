{#- Where credits go: Communications Credits (MCOPSTNPP) charges per tenant, month, destination
    country and currency, ranked by charge (then country). The report shows the top ten. -#}
with

charges as (

    select * from {{ ref('fct_charges_mcopstnpp') }}

),

destinations as (

    select
        tenant_id,
        billing_month,
        destination_country,
        currency,
        count(*) as calls,
        sum(charged_seconds) as charged_seconds,
        sum(coalesce(rated_charge, 0)) as rated_charge
    from charges
    group by tenant_id, billing_month, destination_country, currency

),

final as (

    select
        cast(tenant_id as {{ dbt.type_string() }}) as tenant_id,
        cast(billing_month as date) as billing_month,
        cast(destination_country as {{ dbt.type_string() }}) as destination_country,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(calls as bigint) as calls,
        {{ seconds_to_minutes('charged_seconds') }} as charged_minutes,
        cast(rated_charge as decimal(18, 2)) as rated_charge,
        cast(row_number() over (
            partition by tenant_id, billing_month
            order by rated_charge desc, destination_country asc, currency asc
        ) as bigint) as destination_rank
    from destinations

)

select * from final
