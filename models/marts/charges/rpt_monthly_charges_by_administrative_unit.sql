{# Cost allocation by administrative unit: Communications Credits charges per tenant, month,
   administrative unit and currency, as rpt_monthly_charges_by_department is by department. A call
   whose user is in several units counts in each (so the rows of a month add up to more than its
   charges: `calls_in_other_units` says how many of a row's calls are counted elsewhere too); calls
   the export names no unit for are `(none)`. #}
with

charges as (

    select * from {{ ref('fct_charges_mcopstnpp') }}

),

charges_by_unit as (

    select
        tenant_id,
        billing_month,
        currency,
        charged_seconds,
        billable_minutes,
        rated_charge,
        coalesce(administrative_units, '(none)') like '%;%' as is_in_several_units,
        {{ split_to_rows("coalesce(administrative_units, '(none)')", ';') }} as administrative_unit
    from charges

),

final as (

    select
        tenant_id,
        billing_month,
        cast(trim(administrative_unit) as {{ dbt.type_string() }}) as administrative_unit,
        currency,
        cast(count(*) as bigint) as calls,
        cast(sum(case when is_in_several_units then 1 else 0 end) as bigint) as calls_in_other_units,
        cast(sum(charged_seconds) as bigint) as charged_seconds,
        cast(sum(billable_minutes) as decimal(18, 4)) as billable_minutes,
        cast(sum(rated_charge) as decimal(18, 2)) as rated_charge
    from charges_by_unit
    where trim(administrative_unit) <> ''
    group by tenant_id, billing_month, trim(administrative_unit), currency

)

select * from final
