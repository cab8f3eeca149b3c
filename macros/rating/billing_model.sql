{% macro billing_model(tenant_column) -%}
    {#- The tenant's billing model, 'prepaid' (Communications Credits bought ahead: the credits
        ledger applies, and a call beyond the pool without a credits licence is blocked) or
        'pay_as_you_go' (billed in arrears, Microsoft Customer Agreement and new-commerce calling
        subscriptions: every call beyond the pool is charged to MCOPSTNPP, no balance, no expiry,
        no recharge advice). var tenant_billing_models names tenants; var default_billing_model
        is every other tenant's. -#}
    {%- set models = var('tenant_billing_models', {}) or {} -%}
    {%- set default = var('default_billing_model', 'prepaid') -%}
    {%- for tenant, model in (models.items() | list) + [('(default_billing_model)', default)] -%}
        {%- if model not in ('prepaid', 'pay_as_you_go') -%}
            {{ exceptions.raise_compiler_error(
                "billing model of " ~ tenant ~ " is '" ~ model ~ "': use prepaid or pay_as_you_go") }}
        {%- endif -%}
    {%- endfor -%}
    {%- if models -%}
    case {{ tenant_column }}
        {%- for tenant, model in models.items() %}
        when '{{ tenant | replace("'", "''") }}' then '{{ model }}'
        {%- endfor %}
        else '{{ default }}'
    end
    {%- else -%}
    '{{ default }}'
    {%- endif -%}
{%- endmacro %}
