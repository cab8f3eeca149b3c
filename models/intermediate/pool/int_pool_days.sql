{{ config(materialized='table') }}

{# Every billing day of every month in which a tenant has calls, up to the latest billing day in
   the data (so the current month ends on the latest day built): the spine of the daily table. #}
with

calls as {{ not_materialized() }} (

    select * from {{ ref('int_calls_classified') }}

),

tenant_months as (

    select distinct
        tenant_id,
        billing_month
    from calls

),

latest_day as (

    select max(billing_date) as latest_billing_date from calls

),

day_offsets as (

    {{ integer_range(31, 'day_offset') }}

),

days as (

    select
        tenant_months.tenant_id,
        'MCOMEETADD' as pool_capability,
        tenant_months.billing_month,
        {{ add_days('tenant_months.billing_month', 'day_offsets.day_offset') }} as usage_date
    from tenant_months
    cross join day_offsets

),

final as (

    select
        days.tenant_id,
        days.pool_capability,
        days.billing_month,
        days.usage_date,
        extract(day from days.usage_date) as day_of_month
    from days
    cross join latest_day
    where cast({{ dbt.date_trunc('month', 'days.usage_date') }} as date) = days.billing_month
        and days.usage_date <= latest_day.latest_billing_date

)

select * from final
