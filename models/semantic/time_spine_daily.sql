{#- One row per day from 2019 to 2035: the calendar MetricFlow joins metrics to (metric_time). -#}
with

days as (

    {{ dbt.date_spine('day', "cast('2019-01-01' as date)", "cast('2036-01-01' as date)") }}

),

final as (

    select cast(date_day as date) as date_day
    from days

)

select * from final
