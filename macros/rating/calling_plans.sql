{% macro calling_plans() %}
    {#- The Calling Plans, richest first: a call draws on the first plan its user holds that covers its
        minute type, then on the next (MCOPSTN8 is per user and domestic, so last). -#}
    {{ return(['MCOPSTN2', 'MCOPSTN1', 'MCOPSTN6', 'MCOPSTN5', 'MCOPSTN8']) }}
{% endmacro %}


{% macro calling_plan_legs() %}
    {#- The outbound legs a user's Calling Plan pays for; ucap_out and oc_out never draw. -#}
    {{ return(['user_out', 'user_out_conf', 'user_out_transfer', 'user_out_forwarding']) }}
{% endmacro %}


{% macro calling_plan_country(country) -%}
    {#- The country a Calling Plan pool is kept for: Puerto Rico and the other US territories pool
        with the US. -#}
    case when {{ country }} in ('PR', 'GU', 'VI', 'AS', 'MP', 'UM') then 'US' else {{ country }} end
{%- endmacro %}
