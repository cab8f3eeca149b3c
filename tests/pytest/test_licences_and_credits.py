"""Licence snapshots (CSV, Graph JSON, tenant SKU snapshot) and Communications Credits files."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import polars as pl

import pytest
from pstn.ingest.licences import USER_COLUMNS

USERS_CSV = (
    "user_id,user_principal_name,display_name,usage_location,department,sku_part_numbers,dial_out_policy\n"
    "u1,Ada@Contoso.example,Ada,US,Sales,SPE_E5; mcopstnc,DialoutCPCZoneAPSTNDomestic\n"
    "u2,ben@contoso.example,Ben,GB,Support,ENTERPRISEPACK,\n"
    "u3,cy@contoso.example,Cy,US,Support,,\n"
)


def test_licence_csv_date_from_file_name(landing):
    landing.write("licenses/licences_2024-03-15.csv", USERS_CSV)
    report = landing.load()
    assert report.rows_kept == 3
    users = landing.archive.read("licence_users").sort("user_id")
    assert set(users.get_column("snapshot_date")) == {date(2024, 3, 15)}
    assert users.get_column("sku_part_numbers").to_list() == ["MCOPSTNC;SPE_E5", "ENTERPRISEPACK", ""]
    assignments = landing.archive.read("licence_assignments")
    assert sorted(assignments.select("user_id", "sku_part_number").iter_rows()) == [
        ("u1", "MCOPSTNC"),
        ("u1", "SPE_E5"),
        ("u2", "ENTERPRISEPACK"),
    ]


def test_licence_csv_date_column_wins_per_row(landing):
    landing.write("licenses/export.csv", "snapshot_date," + USERS_CSV.replace("\nu", "\n2024-04-01,u"))
    assert landing.load().rows_kept == 3
    assert set(landing.archive.read("licence_users").get_column("snapshot_date")) == {date(2024, 4, 1)}


def test_identical_snapshots_on_two_days_are_both_loaded(landing):
    landing.write("licenses/licences_2024-03-01.csv", USERS_CSV)
    landing.write("licenses/licences_2024-03-02.csv", USERS_CSV)
    report = landing.load()
    assert report.files_skipped == 0
    days = set(landing.archive.read("licence_users").get_column("snapshot_date"))
    assert days == {date(2024, 3, 1), date(2024, 3, 2)}


def test_snapshot_without_any_date_is_rejected(landing):
    landing.write("licenses/licences.csv", USERS_CSV)
    landing.load()
    assert "no snapshot date" in landing.rejected_files()["licenses/licences.csv"]


def test_tenant_sku_snapshot_csv(landing):
    landing.write(
        "licenses/skus_2024-03-01.csv",
        "sku_part_number,purchased_units,assigned_units\nMCOMEETADV,100,20\nSPE_E5,50,48\n",
    )
    assert landing.load().rows_kept == 2
    skus = dict(landing.archive.read("tenant_skus").select("sku_part_number", "purchased_units").iter_rows())
    assert skus == {"MCOMEETADV": 100, "SPE_E5": 50}


def test_graph_users_and_subscribed_skus(landing):
    document = {
        "snapshot_date": "2024-04-01",
        "users": [
            {
                "id": "u1",
                "userPrincipalName": "ada@contoso.example",
                "usageLocation": "US",
                "department": "Sales",
                "assignedLicenses": [{"skuId": "AAAA-1"}, {"skuId": "bbbb-2"}],
            },
            {"id": "u2", "usageLocation": "DE", "assignedLicenses": [{"skuId": "unknown-guid"}]},
        ],
        "subscribedSkus": [
            {
                "skuId": "aaaa-1",
                "skuPartNumber": "SPE_E5",
                "prepaidUnits": {"enabled": 10},
                "consumedUnits": 1,
                "servicePlans": [{"servicePlanName": "MCOMEETADV"}, {"servicePlanName": "MCOEV"}],
            },
            {"skuId": "bbbb-2", "skuPartNumber": "MCOPSTNC", "prepaidUnits": {"enabled": 1}, "consumedUnits": 1},
        ],
    }
    landing.write("licenses/graph.json", json.dumps(document))
    report = landing.load()
    assert report.rows_kept == 4  # two users + two SKUs
    users = dict(landing.archive.read("licence_users").select("user_id", "sku_part_numbers").iter_rows())
    assert users == {"u1": "MCOPSTNC;SPE_E5", "u2": "SKUID:UNKNOWN-GUID"}
    skus = landing.archive.read("tenant_skus").sort("sku_part_number").row(1, named=True)
    assert (skus["sku_part_number"], skus["purchased_units"], skus["service_plans"]) == (
        "SPE_E5",
        10,
        "MCOMEETADV;MCOEV",
    )


def test_graph_users_page_date_from_name(landing):
    page = {"value": [{"id": "u9", "usageLocation": "FR", "assignedLicenses": []}]}
    landing.write("licenses/tenant-b/users_2024-05-02.json", json.dumps(page))
    assert landing.load().rows_kept == 1
    row = landing.archive.read("licence_users").row(0, named=True)
    assert (row["tenant_id"], row["snapshot_date"], row["usage_location"]) == ("tenant-b", date(2024, 5, 2), "FR")


def test_credit_fundings_and_settings_csv(landing):
    landing.write(
        "credits/fundings.csv",
        "funded_at,amount,currency,kind\n2024-01-05,100.00,usd,manual\n2024-02-01T10:00:00Z,50,USD,auto_recharge\n",
    )
    landing.write("credits/auto_recharge.csv", "trigger_amount,recharge_amount,currency\n20,50,USD\n")
    assert landing.load().rows_kept == 3
    fundings = landing.archive.read("credit_fundings").sort("funded_at")
    assert fundings.get_column("amount").to_list() == [Decimal("100"), Decimal("50")]
    assert fundings.get_column("currency").to_list() == ["USD", "USD"]
    settings = landing.archive.read("credit_settings").row(0, named=True)
    assert (settings["trigger_amount"], settings["recharge_amount"], settings["is_enabled"]) == (
        Decimal("20"),
        Decimal("50"),
        True,
    )


def test_credits_json(landing):
    landing.write(
        "credits/kr/credits.json",
        json.dumps(
            {
                "fundings": [{"funded_at": "2024-02-01T00:00:00Z", "amount": "100.00", "currency": "USD"}],
                "auto_recharge": {"trigger_amount": "10", "recharge_amount": "50", "enabled": False},
            }
        ),
    )
    assert landing.load().rows_kept == 2
    funding = landing.archive.read("credit_fundings").row(0, named=True)
    assert (funding["tenant_id"], funding["kind"]) == ("kr", "manual")
    assert landing.archive.read("credit_settings").get_column("is_enabled").to_list() == [False]


def test_licence_and_credit_row_rejections(landing):
    landing.write(
        "licenses/licences_2024-03-01.csv",
        "user_id,usage_location,sku_part_numbers\nu1,US,SPE_E5\nu1,US,ENTERPRISEPACK\nu2,ZZ,SPE_E5\n,US,SPE_E5\n",
    )
    landing.write(
        "credits/fundings.csv", "funded_at,amount,currency,kind\n2024-01-05,-5,USD,manual\n2024-01-06,5,USD,gift\n"
    )
    report = landing.load()
    assert report.rows_kept == 0
    reasons = " | ".join(landing.reasons())
    for expected in (
        "user repeated in the same snapshot",
        "unknown country code (ZZ)",
        "missing user_id",
        "amount must be positive",
        "kind must be manual or auto_recharge",
    ):
        assert expected in reasons
    assert landing.quarantine().filter(pl.col("dataset") == "licence_users").height == 4


LICENCE_ALIASES = [(column.name, alias) for column in USER_COLUMNS for alias in column.aliases[1:]]


@pytest.mark.parametrize(("canonical", "alias"), LICENCE_ALIASES, ids=[f"{c}:{a}" for c, a in LICENCE_ALIASES])
def test_every_licence_header_alias(landing, canonical, alias):
    values = {
        "snapshot_date": "2024-03-01",
        "user_id": "u1",
        "user_principal_name": "ada@contoso.example",
        "display_name": "Ada",
        "usage_location": "US",
        "department": "Sales",
        "sku_part_numbers": "SPE_E5",
        "dial_out_policy": "DialoutCPCandPSTNInternational",
    }
    headers = [alias if name == canonical else name for name in values]
    landing.write("licenses/snapshot.csv", ",".join(headers) + "\n" + ",".join(values.values()) + "\n")
    assert landing.load().rows_kept == 1
    row = landing.archive.read("licence_users").row(0, named=True)
    expected = date(2024, 3, 1) if canonical == "snapshot_date" else values[canonical]
    if canonical == "usage_location":
        expected = "US"
    assert row[canonical] == expected


CREDIT_ALIASES = [
    ("funded_at", "date"),
    ("funded_at", "purchased_at"),
    ("kind", "type"),
]


@pytest.mark.parametrize(("canonical", "alias"), CREDIT_ALIASES)
def test_credit_header_aliases(landing, canonical, alias):
    headers = {"funded_at": "funded_at", "amount": "amount", "currency": "currency", "kind": "kind"}
    headers[canonical] = alias
    landing.write("credits/f.csv", ",".join(headers.values()) + "\n2024-01-05,10,USD,manual\n")
    assert landing.load().rows_kept == 1


def test_auto_recharge_header_aliases(landing):
    landing.write("credits/ar.csv", "auto_recharge_trigger,auto_recharge_amount,valid_from\n5,25,2024-01-01\n")
    assert landing.load().rows_kept == 1
    row = landing.archive.read("credit_settings").row(0, named=True)
    assert (row["trigger_amount"], row["recharge_amount"], row["effective_from"]) == (
        Decimal("5"),
        Decimal("25"),
        date(2024, 1, 1),
    )
