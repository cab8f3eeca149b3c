{# Teams telephony charges in FOCUS 1.2 columns (FinOps Open Cost and Usage Specification), so
   FinOps tools ingest them beside cloud spend; the FOCUS 1.3 provider columns are added (they
   do not break 1.2), our own columns carry the `x_` prefix. One row per charge component of a
   call (x_charge_component):
   * pool_minutes: minutes drawn on the Audio Conferencing dial-out pool (SKU MCOMEETADD). They
     come with the licences, whose price is not in the data, so they are zero-cost usage:
     BilledCost, EffectiveCost, ContractedUnitPrice and ContractedCost 0; ListUnitPrice is the
     credit rate, so ListCost shows what the minutes would have cost on Communications Credits.
     (Not a commitment discount: FOCUS would then need the licence purchase and its cost.)
   * credit_minutes: minutes paid with Communications Credits (MCOPSTNPP), priced per billable
     minute (charged seconds rounded up to the billing increment).
   * connection_fee: the per-call connection fee of a call paid with credits (PricingUnit Calls).
   List and contracted costs are unit price x quantity exactly (no rounding); BilledCost is the
   rated charge in cents: the two credit rows of a call add up to its rated_charge.
   Re-rated by month like the charge facts: a run rebuilds the (tenant, month)s it re-rated,
   each whole (the rows carry no billing day), stamped with the run's x_rated_at. #}
{{ config(**rerate_config(
    unique_key=['x_tenant_id', 'x_billing_month'], date_column=none, by_month=true, watermark_column='x_rated_at'
)) }}
{%- set scope = rerate_scope(ref('int_rerate_months')) %}

with

calls as (

    select * from {{ ref('fct_pstn_calls') }} as pstn_calls
    where (
        pooled_seconds > 0
        or (rated_capability = 'MCOPSTNPP' and charged_seconds > 0 and not is_missing_rate)
    )
    and {{ rerate_filter('pstn_calls', scope, date_column=none) }}

),

components as (

    select
        calls.*,
        'pool_minutes' as charge_component,
        pooled_minutes as consumed_quantity,
        pooled_minutes as pricing_quantity,
        rate_per_minute as list_unit_price,
        cast(0 as decimal(18, 6)) as contracted_unit_price,
        cast(0 as decimal(18, 2)) as billed_cost
    from calls
    where pooled_seconds > 0

    union all

    select
        calls.*,
        'credit_minutes' as charge_component,
        {{ seconds_to_minutes('charged_seconds') }} as consumed_quantity,
        billable_minutes as pricing_quantity,
        rate_per_minute as list_unit_price,
        rate_per_minute as contracted_unit_price,
        cast(rated_charge - cast(round(connection_fee, 2) as decimal(18, 2)) as decimal(18, 2)) as billed_cost
    from calls
    where rated_capability = 'MCOPSTNPP' and charged_seconds > 0 and not is_missing_rate

    union all

    select
        calls.*,
        'connection_fee' as charge_component,
        cast(1 as decimal(18, 4)) as consumed_quantity,
        cast(1 as decimal(18, 4)) as pricing_quantity,
        connection_fee as list_unit_price,
        connection_fee as contracted_unit_price,
        cast(round(connection_fee, 2) as decimal(18, 2)) as billed_cost
    from calls
    where rated_capability = 'MCOPSTNPP' and charged_seconds > 0 and not is_missing_rate and connection_fee > 0

),

final as (

    select
        cast(billed_cost as decimal(18, 2)) as BilledCost,
        cast(tenant_id as {{ dbt.type_string() }}) as BillingAccountId,
        cast(tenant_id as {{ dbt.type_string() }}) as BillingAccountName,
        cast('Tenant' as {{ dbt.type_string() }}) as BillingAccountType,
        cast(currency as {{ dbt.type_string() }}) as BillingCurrency,
        cast(billing_month as timestamp) as BillingPeriodStart,
        cast({{ dbt.dateadd('month', 1, 'billing_month') }} as timestamp) as BillingPeriodEnd,
        cast('Usage' as {{ dbt.type_string() }}) as ChargeCategory,
        cast(null as {{ dbt.type_string() }}) as ChargeClass,
        cast(concat(
            case
                when call_direction = 'other' then concat('Teams call (', replace(call_type, '_', '-'), ')')
                else concat('Teams meeting ', replace(call_direction, '_', '-'))
            end,
            ' to ', coalesce(destination_country, 'unknown'),
            case
                when charge_component = 'pool_minutes' and pool_capability = 'MCOMEETADD'
                    then ': minutes from the Audio Conferencing dial-out pool'
                when charge_component = 'pool_minutes'
                    then concat(': ', minute_type, ' minutes from the ', pool_capability, ' Calling Plan pool')
                when charge_component = 'credit_minutes'
                    then concat(': minutes on Communications Credits (', charge_reason, ')')
                else concat(': connection fee on Communications Credits (', charge_reason, ')')
            end
        ) as {{ dbt.type_string() }}) as ChargeDescription,
        cast('Usage-Based' as {{ dbt.type_string() }}) as ChargeFrequency,
        cast(start_at as timestamp) as ChargePeriodStart,
        cast(end_at as timestamp) as ChargePeriodEnd,
        cast(consumed_quantity as decimal(18, 4)) as ConsumedQuantity,
        cast(
            case when charge_component = 'connection_fee' then 'Calls' else 'Minutes' end as {{ dbt.type_string() }}
        ) as ConsumedUnit,
        cast(contracted_unit_price * pricing_quantity as decimal(38, 10)) as ContractedCost,
        cast(contracted_unit_price as decimal(18, 6)) as ContractedUnitPrice,
        cast(billed_cost as decimal(18, 2)) as EffectiveCost,
        cast('Microsoft' as {{ dbt.type_string() }}) as HostProviderName,
        cast(null as {{ dbt.type_string() }}) as InvoiceId,
        cast('Microsoft' as {{ dbt.type_string() }}) as InvoiceIssuerName,
        cast(list_unit_price * pricing_quantity as decimal(38, 10)) as ListCost,
        cast(list_unit_price as decimal(18, 6)) as ListUnitPrice,
        cast('Standard' as {{ dbt.type_string() }}) as PricingCategory,
        cast(pricing_quantity as decimal(18, 4)) as PricingQuantity,
        cast(
            case when charge_component = 'connection_fee' then 'Calls' else 'Minutes' end as {{ dbt.type_string() }}
        ) as PricingUnit,
        cast('Microsoft' as {{ dbt.type_string() }}) as ProviderName,
        cast('Microsoft' as {{ dbt.type_string() }}) as PublisherName,
        cast(usage_id as {{ dbt.type_string() }}) as ResourceId,
        cast(call_id as {{ dbt.type_string() }}) as ResourceName,
        cast('PSTN call' as {{ dbt.type_string() }}) as ResourceType,
        cast('Business Applications' as {{ dbt.type_string() }}) as ServiceCategory,
        cast(
            case
                when call_direction = 'other' then 'Microsoft Teams Calling Plan' else
                    'Microsoft Teams Audio Conferencing'
            end
            as {{ dbt.type_string() }}
        ) as ServiceName,
        cast('Microsoft' as {{ dbt.type_string() }}) as ServiceProviderName,
        cast('Productivity and Collaboration' as {{ dbt.type_string() }}) as ServiceSubcategory,
        cast(
            case when charge_component = 'pool_minutes' then pool_capability else 'MCOPSTNPP' end
            as {{ dbt.type_string() }}
        ) as SkuId,
        cast(concat(
            coalesce(destination_country, 'unknown'), ':', coalesce(number_type, 'unknown'),
            case when charge_component = 'connection_fee' then ':connection' else '' end
        ) as {{ dbt.type_string() }}) as SkuPriceId,
        cast(tenant_id as {{ dbt.type_string() }}) as SubAccountId,
        cast(tenant_id as {{ dbt.type_string() }}) as SubAccountName,
        {{ json_object([('department', 'department'), ('destination_country', 'destination_country')]) }} as Tags,
        cast(tenant_id as {{ dbt.type_string() }}) as x_tenant_id,
        cast(usage_id as {{ dbt.type_string() }}) as x_usage_id,
        cast(charge_component as {{ dbt.type_string() }}) as x_charge_component,
        cast(billing_month as date) as x_billing_month,
        cast(rated_capability as {{ dbt.type_string() }}) as x_rated_capability,
        cast(charge_reason as {{ dbt.type_string() }}) as x_charge_reason,
        cast(department as {{ dbt.type_string() }}) as x_department,
        cast(destination_country as {{ dbt.type_string() }}) as x_destination_country,
        cast(destination_zone as {{ dbt.type_string() }}) as x_destination_zone,
        cast(number_type as {{ dbt.type_string() }}) as x_number_type,
        cast(pooled_minutes as decimal(18, 4)) as x_pooled_minutes,
        cast(overflow_minutes as decimal(18, 4)) as x_overflow_minutes,
        cast(rated_charge as decimal(18, 2)) as x_call_rated_charge,
        cast(user_principal_name as {{ dbt.type_string() }}) as x_organizer_user_principal_name,
        cast(reported_capability as {{ dbt.type_string() }}) as x_reported_capability,
        cast(reported_charge as decimal(18, 6)) as x_reported_charge,
        cast({{ rated_at() }} as timestamp) as x_rated_at
    from components

)

select * from final
