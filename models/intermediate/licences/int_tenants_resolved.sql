{{ config(materialized='table') }}

{# One row per tenant seen in calls or licences, with the country that decides its pool allotment:
   var('tenant_countries') if set, else the tenantCountryCode most often reported on its calls,
   else the usage location most common among its users. #}
with

calls as {{ not_materialized() }} (

    select * from {{ ref('stg_archive__pstn_calls') }}

),

licence_users as {{ not_materialized() }} (

    select * from {{ ref('stg_archive__licence_users') }}

),

tenant_ids as (

    select tenant_id from calls
    union
    select tenant_id from licence_users

),

reported_countries as (

    select
        tenant_id,
        tenant_country_code as country_code,
        count(*) as occurrences
    from calls
    where tenant_country_code is not null
    group by tenant_id, tenant_country_code

),

user_countries as (

    select
        tenant_id,
        usage_location as country_code,
        count(*) as occurrences
    from licence_users
    where usage_location is not null
    group by tenant_id, usage_location

),

reported_ranked as (

    select
        tenant_id,
        country_code,
        row_number() over (partition by tenant_id order by occurrences desc, country_code asc) as country_rank
    from reported_countries

),

users_ranked as (

    select
        tenant_id,
        country_code,
        row_number() over (partition by tenant_id order by occurrences desc, country_code asc) as country_rank
    from user_countries

),

final as (

    select
        tenant_ids.tenant_id,
        {%- set overrides = var('tenant_countries', {}) %}
        coalesce(
            {%- if overrides %}
            case tenant_ids.tenant_id
                {%- for tenant, country in overrides.items() %}
                when '{{ tenant }}' then '{{ country | upper }}'
                {%- endfor %}
            end,
            {%- endif %}
            reported_ranked.country_code,
            users_ranked.country_code
        ) as tenant_country_code,
        case
        {%- if overrides %}
            when tenant_ids.tenant_id in ('{{ overrides.keys() | join("', '") }}') then 'variable'
            {%- endif %}
            when reported_ranked.country_code is not null then 'call_records'
            when users_ranked.country_code is not null then 'licence_usage_location'
        end as tenant_country_source,
        {{ billing_model('tenant_ids.tenant_id') }} as billing_model
    from tenant_ids
    left join reported_ranked
        on tenant_ids.tenant_id = reported_ranked.tenant_id
            and reported_ranked.country_rank = 1
    left join users_ranked
        on tenant_ids.tenant_id = users_ranked.tenant_id
            and users_ranked.country_rank = 1

)

select * from final
