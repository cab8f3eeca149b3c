{{ config(store_failures=true, severity=var('missing_rate_severity', 'error')) }}

{# A rate missing from the card is a data-quality failure that names the
   destination, never a silent zero. One row per missing (destination, number type), with the
   first and last call dates that need it; add those rows to seeds/rate_card.csv. #}
select
    destination_country,
    number_type as rate_number_type,
    min(billing_date) as first_call_date,
    max(billing_date) as last_call_date,
    count(*) as calls_without_rate
from {{ ref('fct_pstn_calls') }}
where is_missing_rate
group by destination_country, number_type
