-- The benchmark's reference: the same work as the pipeline in one hand-written DuckDB script
-- (read the raw admin-center exports, deduplicate, attach licences as of each call, allocate
-- the pool with daily capacity, price the rest, write the rated calls). No validation, no
-- quarantine, no history, no tests: the engine's own limit for this job.
-- Parameters (replaced by scripts/benchmark.py): {raw}, {seeds}, {out}.
-- A first-level sub-folder of cdr/ or licenses/ is the tenant (as in the loader); files directly
-- in the kind's folder belong to tenant `default`.
create or replace temp table calls as
select * from (
    select
        coalesce(regexp_extract(filename, '/cdr/([^/]+)/[^/]+$', 1), '') as tenant_id,
        "UsageId" as usage_id, lower("Call Type") as call_type, "AAD ObjectId" as user_id,
        "Destination Dialed" as destination_name, "Destination Number" as callee_number,
        cast("Start Time" as timestamp) as start_at, cast("Duration Seconds" as bigint) as duration_seconds,
        row_number() over (
            partition by regexp_extract(filename, '/cdr/([^/]+)/[^/]+$', 1), "UsageId" order by "Start Time"
        ) as version
    from read_csv('{raw}/cdr/**/*.csv', all_varchar = true, header = true, filename = true, union_by_name = true)
    where try_cast("Start Time" as timestamp) is not null and try_cast("Duration Seconds" as bigint) >= 0
) where version = 1;

create or replace temp table licences as
select
    coalesce(regexp_extract(filename, '/licenses/([^/]+)/[^/]+$', 1), '') as tenant_id,
    cast(regexp_extract(filename, '(\d{{4}}-\d{{2}}-\d{{2}})', 1) as date) as snapshot_date, user_id,
    sku_part_numbers like '%SPE_E5%' or sku_part_numbers like '%MCOMEETADV%' as has_ac,
    sku_part_numbers like '%MCOPSTNC%' as has_credits
from read_csv('{raw}/licenses/**/licences_*.csv', all_varchar = true, header = true, filename = true);

create or replace temp table capacity as
select tenant_id, snapshot_date,
       lead(snapshot_date, 1, date '9999-12-31') over (partition by tenant_id order by snapshot_date) as next_date,
       60 * 60 * count(*) filter (where has_ac) as capacity_seconds
from licences group by tenant_id, snapshot_date;

create or replace temp table rated as
with located as (
    select calls.*, cast(start_at as date) as call_date, date_trunc('month', start_at) as month,
           zone.country_code is not null as is_zone_a, names.country_code as destination_country
    from calls
    left join (select lower(country_name) as name, min(country_code) as country_code
               from read_csv('{seeds}/countries.csv', all_varchar = true) group by 1) as names
        on lower(calls.destination_name) = names.name
    left join read_csv('{seeds}/zone_a_countries.csv', all_varchar = true) as zone
        on names.country_code = zone.country_code
),
licensed as (
    select located.*, licences.has_ac, licences.has_credits
    from located asof left join licences
        on located.tenant_id = licences.tenant_id and located.user_id = licences.user_id
        and located.call_date >= licences.snapshot_date
),
eligible as (
    select licensed.*, capacity.capacity_seconds,
        sum(duration_seconds) over (partition by licensed.tenant_id, month order by start_at, usage_id
                                    rows between unbounded preceding and 1 preceding) as before_seconds
    from licensed join capacity on licensed.tenant_id = capacity.tenant_id
        and call_date >= capacity.snapshot_date and call_date < capacity.next_date
    where call_type = 'conf_out' and is_zone_a and has_ac
),
allocated as (
    select tenant_id, usage_id, greatest(least(duration_seconds, capacity_seconds - coalesce(before_seconds, 0)), 0) as pooled_seconds
    from eligible
)
select licensed.*, coalesce(allocated.pooled_seconds, 0) as pooled_seconds,
       licensed.duration_seconds - coalesce(allocated.pooled_seconds, 0) as charged_seconds,
       round(ceil((licensed.duration_seconds - coalesce(allocated.pooled_seconds, 0)) / 60.0)
             * cast(rates.rate_per_minute as decimal(18, 6)), 2) as charge
from licensed
left join allocated using (tenant_id, usage_id)
left join read_csv('{seeds}/rate_card.csv', all_varchar = true) as rates
    on rates.destination_country = licensed.destination_country and rates.number_type = 'standard'
    and licensed.call_date >= cast(rates.valid_from as date)
    and licensed.call_date <= coalesce(try_cast(rates.valid_to as date), date '9999-12-31');

copy rated to '{out}' (format parquet);
