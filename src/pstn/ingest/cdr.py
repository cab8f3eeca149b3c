"""Call detail records: the Teams admin-center export (CSV or the downloaded zip) and Microsoft
Graph `getPstnCalls` pages / JSON Lines, normalised to one typed schema."""

from __future__ import annotations

import json
from decimal import Decimal

import polars as pl

from pstn.ingest import parse
from pstn.ingest.rawfile import (
    Column,
    FileRejected,
    decode_text,
    load_json,
    map_headers,
    oversized_line_reason,
    read_csv_strings,
    records_frame,
    select_canonical,
    utf8_csv,
)

# Admin-center headers (documented order) with the aliases seen in real exports.
ADMIN_CENTER_COLUMNS = (
    Column("usage_id", ("UsageId", "Usage ID", "Id"), required=True),
    Column("call_id", ("Call ID", "CallId")),
    Column("conference_id", ("Conference ID", "ConferenceId")),
    Column("user_location", ("User Location", "Usage Location", "Country")),
    Column("user_id", ("AAD ObjectId", "AAD Object ID", "ObjectId", "User ID", "UserId")),
    Column("user_principal_name", ("UPN", "User Principal Name", "UserPrincipalName")),
    Column("user_display_name", ("User Display Name", "Display Name", "UserDisplayName")),
    Column("caller_number", ("Caller ID", "Caller Number", "CallerNumber")),
    Column("call_type", ("Call Type", "CallType"), required=True),
    Column("number_type", ("Number Type", "NumberType")),
    Column("destination_context", ("Domestic/International", "Domestic International", "DestinationContext")),
    Column("destination_name", ("Destination Dialed", "Destination Name", "DestinationName", "Destination")),
    Column("callee_number", ("Destination Number", "Callee Number", "CalleeNumber")),
    Column("start_at", ("Start Time", "Start Time (UTC)", "StartDateTime", "Start Time UTC"), required=True),
    Column("end_at", ("End Time", "End Time (UTC)", "EndDateTime", "End Time UTC"), required=True),
    Column(
        "duration_seconds",
        ("Duration Seconds", "Duration (seconds)", "Duration (s)", "Duration Sec", "DurationSeconds", "Duration"),
        required=True,
    ),
    Column("connection_charge", ("Connection Fee", "Connection Charge", "ConnectionCharge")),
    Column("charge", ("Charge", "Call Charge")),
    Column("currency", ("Currency",)),
    Column("capability", ("Capability", "License Capability", "LicenseCapability")),
    # Since 2024 the export names the user's administrative units (several separated by ';').
    Column("administrative_units", ("Administrative Unit", "Administrative Units", "AdministrativeUnit")),
)

# pstnCallLogRow property -> canonical name.
GRAPH_FIELDS = {
    "usage_id": "id",
    "call_id": "callId",
    "conference_id": "conferenceId",
    "user_id": "userId",
    "user_principal_name": "userPrincipalName",
    "user_display_name": "userDisplayName",
    "caller_number": "callerNumber",
    "call_type": "callType",
    "number_type": "inventoryType",
    "destination_context": "destinationContext",
    "destination_name": "destinationName",
    "callee_number": "calleeNumber",
    "start_at": "startDateTime",
    "end_at": "endDateTime",
    "duration_seconds": "duration",
    "connection_charge": "connectionCharge",
    "charge": "charge",
    "currency": "currency",
    "capability": "licenseCapability",
    "operator": "operator",
    "inventory_type": "inventoryType",
    "call_duration_source": "callDurationSource",
    "tenant_country_code": "tenantCountryCode",
    "usage_country_code": "usageCountryCode",
    "other_party_country_code": "otherPartyCountryCode",
    "administrative_units": "administrativeUnitInfos",
}

CALL_COLUMNS = (
    *(c.name for c in ADMIN_CENTER_COLUMNS),
    "operator",
    "inventory_type",
    "call_duration_source",
    "tenant_country_code",
    "usage_country_code",
    "other_party_country_code",
)

TIMESTAMP = "an ISO 8601 timestamp"
PARSERS = {
    "start_at": parse.timestamp_parser("start_at", TIMESTAMP),
    "end_at": parse.timestamp_parser("end_at", TIMESTAMP),
    "duration_seconds": (parse.whole_number("duration_seconds"), "a whole number of seconds"),
    "charge": (parse.money("charge"), "a decimal amount"),
    "connection_charge": (parse.money("connection_charge"), "a decimal amount"),
}

# Content that identifies a version of a call; the same UsageId with another hash is a conflict.
CONTENT_COLUMNS = tuple(c for c in CALL_COLUMNS if c != "usage_id")


def normalise(strings: pl.DataFrame, source_format: str) -> pl.DataFrame:
    """Typed call rows with `_reasons` for parse failures; every input row is kept."""
    typed = parse.typed_with_reasons(strings, PARSERS)
    return typed.with_columns(
        parse.lower("call_type"),
        parse.upper("capability"),
        parse.upper("currency"),
        # Graph has no "User Location"; its usageCountryCode is the user's country (the same
        # value the admin center shows as User Location), so a Graph row gets it as such.
        pl.coalesce(pl.col("user_location"), pl.col("usage_country_code")).str.to_uppercase().alias("user_location"),
        parse.upper("tenant_country_code"),
        parse.upper("usage_country_code"),
        parse.upper("other_party_country_code"),
        pl.lit(source_format).alias("source_format"),
    )


def read_admin_center_csv(data: bytes) -> pl.DataFrame:
    strings = read_csv_strings(utf8_csv(data))
    mapping = map_headers(strings.columns, ADMIN_CENTER_COLUMNS)
    return normalise(select_canonical(strings, mapping, CALL_COLUMNS), "admin_center_csv")


def read_graph_json(data: bytes) -> pl.DataFrame:
    """A `getPstnCalls` page (`{"value": [...]}`) or a bare JSON array of pstnCallLogRow."""
    document = load_json(decode_text(data))
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        items = document["value"]
    elif isinstance(document, list):
        items = document
    else:
        raise FileRejected("JSON is neither a Graph page with a 'value' array nor an array of call rows")
    # Position in the array (1-based) stands in for a line number.
    return _graph_frame(list(enumerate(items, start=1)))


def read_graph_jsonl(data: bytes) -> pl.DataFrame:
    """JSON Lines: one pstnCallLogRow per line; a broken line is quarantined, not the file."""
    text = decode_text(data)
    records: list[tuple[int, object]] = []
    broken: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if (reason := oversized_line_reason(line)) is not None:
            broken[number] = reason
            records.append((number, {}))
            continue
        try:
            records.append((number, json.loads(line, parse_float=Decimal)))
        except json.JSONDecodeError as exc:
            broken[number] = f"invalid JSON on this line: {exc.msg} at column {exc.colno}"
            records.append((number, {"_unparsed": line[:2000]}))
    return _graph_frame(records, broken)


def _administrative_unit_ids(item: object) -> object:
    """Graph's `administrativeUnitInfos` ([{"id": ...}, ...]) as the ids joined by ';', the
    admin center's way of listing several; anything else is left for the checks to judge."""
    if not isinstance(item, dict) or not isinstance(units := item.get("administrativeUnitInfos"), list):
        return item
    ids = [str(unit["id"]) for unit in units if isinstance(unit, dict) and unit.get("id")]
    return {**item, "administrativeUnitInfos": ";".join(ids) or None}


def _graph_frame(records: list[tuple[int, object]], problems: dict[int, str] | None = None) -> pl.DataFrame:
    records = [(line, _administrative_unit_ids(item)) for line, item in records]
    strings = records_frame(records, GRAPH_FIELDS, problems)
    absent = [pl.lit(None, dtype=pl.String).alias(c) for c in CALL_COLUMNS if c not in GRAPH_FIELDS]
    return normalise(strings.with_columns(absent).select(*CALL_COLUMNS, "_line", "_raw", "_ragged"), "graph_json")
