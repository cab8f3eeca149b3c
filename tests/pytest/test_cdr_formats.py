"""Every CDR input format and every header alias reaches the archive typed and complete."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl
from conftest import ADMIN_HEADER, admin_csv, admin_row, zip_bytes

import pytest
from pstn.ingest.cdr import ADMIN_CENTER_COLUMNS


def test_documented_export_is_typed(landing):
    landing.write("cdr/export.csv", admin_csv(admin_row("u1", Charge="1.25", **{"Connection Fee": "0.10"})))
    report = landing.load()
    assert report.rows_kept == 1
    row = landing.calls().row(0, named=True)
    assert row["usage_id"] == "u1"
    assert row["tenant_id"] == "default"
    assert str(row["start_at"]) == "2024-01-10 10:00:00"
    assert row["duration_seconds"] == 300
    assert row["charge"] == Decimal("1.25")
    assert row["connection_charge"] == Decimal("0.10")
    assert row["callee_number"] == "+12125550123"
    assert row["month"] == "2024-01"
    assert landing.calls().schema["charge"] == pl.Decimal(18, 6)


def test_bom_case_and_extra_columns(landing):
    header = ADMIN_HEADER.upper().replace("CALL TYPE", "call type") + ",Workload,Region"
    rows = [admin_row(f"u{i}") + ",Teams,EMEA" for i in range(3)]
    landing.write("cdr/bom.csv", b"\xef\xbb\xbf" + admin_csv(*rows, header=header).encode())
    assert landing.load().rows_kept == 3
    assert set(landing.calls().get_column("call_type")) == {"conf_out"}


ALIASES = [(column.name, alias) for column in ADMIN_CENTER_COLUMNS for alias in column.aliases[1:]]


@pytest.mark.parametrize(("canonical", "alias"), ALIASES, ids=[f"{c}:{a}" for c, a in ALIASES])
def test_every_header_alias(landing, canonical, alias):
    documented = next(c for c in ADMIN_CENTER_COLUMNS if c.name == canonical).aliases[0]
    # The documented headers, with the column newer exports add.
    names = [*ADMIN_HEADER.split(","), "Administrative Unit"]
    header = ",".join(alias if h == documented else h for h in names)
    row = admin_row("u1", **{"Number Type": "Toll"}) + ",Sales"
    landing.write("cdr/aliased.csv", admin_csv(row, header=header))
    report = landing.load()
    assert report.rows_kept == 1, report.summary()
    assert landing.calls().get_column(canonical)[0] is not None


def test_timestamp_variants_are_utc(landing):
    rows = [
        admin_row("a", **{"Start Time": "2024-01-10 10:00:00", "End Time": "2024-01-10 10:05:00"}),
        admin_row("b", **{"Start Time": "2024-01-10T12:00:00+02:00", "End Time": "2024-01-10T12:05:00+02:00"}),
        admin_row("c", **{"Start Time": "2024-01-10T10:00:00.1234567Z", "End Time": "2024-01-10T10:05:00Z"}),
    ]
    landing.write("cdr/ts.csv", admin_csv(*rows))
    assert landing.load().rows_kept == 3
    starts = {r["usage_id"]: str(r["start_at"]) for r in landing.calls().iter_rows(named=True)}
    assert starts == {"a": "2024-01-10 10:00:00", "b": "2024-01-10 10:00:00", "c": "2024-01-10 10:00:00.123456"}


def test_masked_numbers_stay_strings(landing):
    landing.write("cdr/masked.csv", admin_csv(admin_row("u1", **{"Destination Number": "+4930*****789"})))
    landing.load()
    assert landing.calls().get_column("callee_number")[0] == "+4930*****789"


def test_zip_export_with_parameters(landing):
    payload = zip_bytes(
        {
            "PSTN.calls.2024-01-01.csv": admin_csv(admin_row("z1"), admin_row("z2")),
            "parameters.json": json.dumps({"from": "2024-01-01", "to": "2024-01-31"}),
        }
    )
    landing.write("cdr/Calls.Export.1234.zip", payload)
    report = landing.load()
    assert report.rows_kept == 2
    manifest = landing.manifest()
    member = manifest.filter(pl.col("source_member") == "PSTN.calls.2024-01-01.csv").row(0, named=True)
    assert member["status"] == "loaded"
    assert json.loads(member["export_parameters"])["to"] == "2024-01-31"
    assert set(landing.calls().get_column("source_member")) == {"PSTN.calls.2024-01-01.csv"}


GRAPH_ROW = {
    "id": "g1",
    "callId": "c1",
    "userId": "user-1",
    "userPrincipalName": "ada@contoso.example",
    "userDisplayName": "Ada",
    "startDateTime": "2024-02-01T08:00:00Z",
    "endDateTime": "2024-02-01T08:10:00Z",
    "duration": 600,
    "charge": 0.35,
    "connectionCharge": 0,
    "currency": "USD",
    "callType": "CONF_OUT",
    "calleeNumber": "+33********12",
    "callerNumber": "+14255550100",
    "destinationName": "France",
    "destinationContext": "International",
    "conferenceId": "555",
    "licenseCapability": "mcopstnpp",
    "inventoryType": "Service",
    "operator": "Microsoft",
    "callDurationSource": "microsoft",
    "tenantCountryCode": "US",
    "usageCountryCode": "US",
    "otherPartyCountryCode": "FR",
}


def test_graph_page(landing):
    page = {"@odata.nextLink": "https://graph.example/next", "value": [GRAPH_ROW, {**GRAPH_ROW, "id": "g2"}]}
    landing.write("cdr/page1.json", json.dumps(page))
    assert landing.load().rows_kept == 2
    row = landing.calls().filter(pl.col("usage_id") == "g1").row(0, named=True)
    assert row["call_type"] == "conf_out"
    assert row["capability"] == "MCOPSTNPP"
    assert row["charge"] == Decimal("0.35")
    assert row["other_party_country_code"] == "FR"
    assert row["source_format"] == "graph_json"


def test_graph_json_lines_with_a_broken_line(landing):
    lines = [json.dumps(GRAPH_ROW), "{not json", json.dumps({**GRAPH_ROW, "id": "g3"})]
    landing.write("cdr/calls.jsonl", "\n".join(lines) + "\n")
    report = landing.load()
    assert (report.rows_kept, report.rows_rejected) == (2, 1)
    quarantined = landing.quarantine().row(0, named=True)
    assert quarantined["source_line"] == 2
    assert "invalid JSON" in quarantined["reasons"]


def test_graph_bare_array_and_non_object_item(landing):
    landing.write("cdr/array.json", json.dumps([GRAPH_ROW, 42]))
    report = landing.load()
    assert (report.rows_kept, report.rows_rejected) == (1, 1)
    assert "not a JSON object" in landing.reasons()[0]


def test_tenant_subfolders(landing):
    landing.write("cdr/contoso-eu/a.csv", admin_csv(admin_row("t1")))
    landing.write("cdr/contoso-eu/2024/b.csv", admin_csv(admin_row("t2")))
    landing.write("cdr/c.csv", admin_csv(admin_row("t3")))
    landing.load()
    tenants = dict(landing.calls().select("usage_id", "tenant_id").iter_rows())
    assert tenants == {"t1": "contoso-eu", "t2": "contoso-eu", "t3": "default"}
