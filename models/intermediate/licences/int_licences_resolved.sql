{{ config(materialized='table') }}

{# One row per tenant, licence snapshot day and user, with the service plans that matter resolved
   through seeds/licence_service_plans.csv, and the days the snapshot stands for: from its date
   until the day before the tenant's next snapshot (a missing day carries the previous snapshot
   forward; a user absent from a later snapshot holds nothing from that day). With var
   assume_licences_before_first_snapshot (default true) each tenant's first snapshot also stands
   for every day before it, as extra rows flagged is_licence_assumed. #}
with

licence_users as {{ not_materialized() }} (

    select * from {{ ref('stg_archive__licence_users') }}

),

licence_assignments as (

    select * from {{ ref('stg_archive__licence_assignments') }}

),

licence_service_plans as (

    select * from {{ ref('licence_service_plans') }}

),

licence_products as (

    select * from {{ ref('licence_products') }}

),

current_assignments as (

    {# Only the assignments that came with the current version of the user's row. A Graph SKU
       the file's subscriptions did not name is known by its GUID where the catalogue has it. #}
    select
        licence_assignments.tenant_id,
        licence_assignments.snapshot_date,
        licence_assignments.user_key,
        coalesce(licence_assignments.sku_part_number, licence_products.sku_part_number) as sku_part_number
    from licence_assignments
    left join licence_products
        on licence_assignments.sku_part_number is null
            and licence_assignments.sku_id = lower(licence_products.sku_id)
    inner join licence_users
        on {{ joins_current_user_row('licence_assignments', 'licence_users') }}

),

plans_per_user as (

    select
        current_assignments.tenant_id,
        current_assignments.snapshot_date,
        current_assignments.user_key,
        max(
            case when licence_service_plans.service_plan_name = 'MCOMEETADV' then 1 else 0 end
        ) as audio_conferencing_flag,
        max(
            case when licence_service_plans.service_plan_name = 'MCOMEETACPEA' then 1 else 0 end
        ) as pay_per_minute_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOMEETBASIC' then 1 else 0 end) as basic_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOPSTNC' then 1 else 0 end) as credits_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOEV' then 1 else 0 end) as phone_system_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOPSTN1' then 1 else 0 end) as mcopstn1_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOPSTN2' then 1 else 0 end) as mcopstn2_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOPSTN5' then 1 else 0 end) as mcopstn5_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOPSTN6' then 1 else 0 end) as mcopstn6_flag,
        max(case when licence_service_plans.service_plan_name = 'MCOPSTN8' then 1 else 0 end) as mcopstn8_flag
    from current_assignments
    inner join licence_service_plans
        on upper(current_assignments.sku_part_number) = upper(licence_service_plans.sku_part_number)
    group by
        current_assignments.tenant_id,
        current_assignments.snapshot_date,
        current_assignments.user_key

),

snapshot_days as (

    select distinct
        tenant_id,
        snapshot_date
    from licence_users

),

snapshot_ranges as (

    select
        tenant_id,
        snapshot_date,
        lead(snapshot_date) over (partition by tenant_id order by snapshot_date) as next_snapshot_date,
        row_number() over (partition by tenant_id order by snapshot_date) = 1 as is_first_snapshot
    from snapshot_days

),

resolved as (

    select
        licence_users.tenant_id,
        licence_users.snapshot_date,
        licence_users.user_key,
        licence_users.user_id,
        licence_users.user_principal_name,
        licence_users.display_name,
        licence_users.usage_location,
        licence_users.department,
        licence_users.dial_out_policy,
        licence_users.sku_part_numbers,
        coalesce(plans_per_user.audio_conferencing_flag, 0) = 1 as has_audio_conferencing,
        coalesce(plans_per_user.pay_per_minute_flag, 0) = 1 as has_pay_per_minute,
        coalesce(plans_per_user.basic_flag, 0) = 1 as has_audio_conferencing_basic,
        coalesce(plans_per_user.credits_flag, 0) = 1 as has_communications_credits,
        coalesce(plans_per_user.phone_system_flag, 0) = 1 as has_phone_system,
        coalesce(plans_per_user.mcopstn1_flag, 0) = 1 as has_mcopstn1,
        coalesce(plans_per_user.mcopstn2_flag, 0) = 1 as has_mcopstn2,
        coalesce(plans_per_user.mcopstn5_flag, 0) = 1 as has_mcopstn5,
        coalesce(plans_per_user.mcopstn6_flag, 0) = 1 as has_mcopstn6,
        coalesce(plans_per_user.mcopstn8_flag, 0) = 1 as has_mcopstn8,
        snapshot_ranges.snapshot_date as valid_from,
        {{ add_days('snapshot_ranges.next_snapshot_date', -1) }} as valid_to,
        snapshot_ranges.is_first_snapshot
    from licence_users
    inner join snapshot_ranges
        on licence_users.tenant_id = snapshot_ranges.tenant_id
            and licence_users.snapshot_date = snapshot_ranges.snapshot_date
    left join plans_per_user
        on licence_users.tenant_id = plans_per_user.tenant_id
            and licence_users.snapshot_date = plans_per_user.snapshot_date
            and licence_users.user_key = plans_per_user.user_key

),

final as (

    {%- set held = ['tenant_id', 'snapshot_date', 'user_key', 'user_id', 'user_principal_name', 'display_name',
        'usage_location', 'department', 'dial_out_policy', 'sku_part_numbers', 'has_audio_conferencing',
        'has_pay_per_minute', 'has_audio_conferencing_basic', 'has_communications_credits', 'has_phone_system']
        + calling_plan_flags() %}

    select
        {{ held | join(',\n        ') }},
        valid_from,
        valid_to,
        false as is_licence_assumed
    from resolved
    {%- if var('assume_licences_before_first_snapshot', true) %}

    union all

    select
        {{ held | join(',\n        ') }},
        {{ assumed_licences_from() }} as valid_from,
        {{ add_days('valid_from', -1) }} as valid_to,
        true as is_licence_assumed
    from resolved
    where is_first_snapshot
    {%- endif %}

)

select * from final
