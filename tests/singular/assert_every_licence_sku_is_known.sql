{{ config(severity='warn') }}
{# A warning, not an error: the rest of the rating stands, but users on these SKUs count for nothing
   until the licence catalogue lists them. #}
select
    tenant_id,
    sku_reference,
    first_seen_date,
    last_seen_date,
    holding_users
from {{ ref('rpt_unknown_skus') }}
