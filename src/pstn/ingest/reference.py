"""Closed sets the loader validates against, and the rating settings Python reads. Countries and
currencies come from the dbt seeds, the billing increment from dbt_project.yml, so the loader, the
sample generator and the models share one statement of each."""

from __future__ import annotations

import csv
from functools import cache

import yaml

from pstn.settings import PROJECT_ROOT

SEEDS = PROJECT_ROOT / "seeds"

# Documented callType values, plus the ones Microsoft's schema lists for PSTN rows.
CALL_TYPES = frozenset(
    {
        "conf_out",
        "conf_in",
        "user_in",
        "user_out",
        "user_out_conf",
        "user_out_transfer",
        "user_out_forwarding",
        "ucap_in",
        "ucap_out",
        "unassigned_in",
        "emergency_out",
        "oc_in",
        "oc_out",
    }
)

# Capability values; MCOPSTNC is the SKU spelling of Communications Credits.
CAPABILITIES = frozenset(
    {
        "MCOMEETADD",
        "MCOPSTNPP",
        "MCOPSTNC",
        "MCOMEETACPEA",
        "MCOPSTN1",
        "MCOPSTN2",
        "MCOPSTN3",
        "MCOPSTN5",
        "MCOPSTN6",
        "MCOPSTN8",
        "MCOPSTNEAU",
        "FREECALL",
        "MCOEV",
    }
)

CREDIT_KINDS = frozenset({"manual", "auto_recharge"})


def _seed_column(file_name: str, column: str) -> frozenset[str]:
    with (SEEDS / file_name).open(newline="", encoding="utf-8") as handle:
        return frozenset(row[column] for row in csv.DictReader(handle))


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (seeds/countries.csv)."""
    return _seed_column("countries.csv", "country_code")


@cache
def currency_codes() -> frozenset[str]:
    """ISO 4217 codes (seeds/currencies.csv)."""
    return _seed_column("currencies.csv", "currency_code")


@cache
def billing_increment_seconds() -> int:
    """Charged seconds are rounded up to this many before pricing (var billing_increment_seconds
    in dbt_project.yml; a build may override it with --vars, the sample uses the project's)."""
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text(encoding="utf-8"))
    return int(project["vars"]["billing_increment_seconds"])
