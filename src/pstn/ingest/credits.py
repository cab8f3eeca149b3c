"""Communications Credits funding and auto-recharge settings."""

from __future__ import annotations

import polars as pl

from pstn.ingest import parse
from pstn.ingest.rawfile import (
    Column,
    FileRejected,
    decode_text,
    header_key,
    load_json,
    map_headers,
    read_csv_strings,
    records_frame,
    select_canonical,
    utf8_csv,
)

FUNDING_COLUMNS = (
    Column("funded_at", ("funded_at", "date", "purchased_at"), required=True),
    Column("amount", ("amount",), required=True),
    Column("currency", ("currency",), required=True),
    Column("kind", ("kind", "type")),
)
SETTINGS_COLUMNS = (
    Column("effective_from", ("effective_from", "valid_from")),
    Column("trigger_amount", ("trigger_amount", "auto_recharge_trigger"), required=True),
    Column("recharge_amount", ("recharge_amount", "auto_recharge_amount"), required=True),
    Column("currency", ("currency",)),
    Column("is_enabled", ("enabled", "is_enabled", "auto_recharge_enabled")),
)


def _fundings(strings: pl.DataFrame) -> pl.DataFrame:
    typed = parse.typed_with_reasons(
        strings,
        {
            "funded_at": (parse.timestamp_utc("funded_at"), "an ISO 8601 timestamp or date"),
            "amount": (parse.money("amount"), "a decimal amount"),
        },
    )
    return typed.with_columns(
        parse.upper("currency"),
        pl.col("kind").str.to_lowercase().fill_null("manual").alias("kind"),
    )


def _settings(strings: pl.DataFrame) -> pl.DataFrame:
    typed = parse.typed_with_reasons(
        strings,
        {
            "effective_from": (parse.date_value("effective_from"), "a date"),
            "trigger_amount": (parse.money("trigger_amount"), "a decimal amount"),
            "recharge_amount": (parse.money("recharge_amount"), "a decimal amount"),
        },
    )
    enabled = pl.col("is_enabled").str.to_lowercase()
    return typed.with_columns(
        parse.upper("currency"),
        pl.when(enabled.is_null()).then(True).otherwise(enabled.is_in(["true", "1", "yes", "y"])).alias("is_enabled"),
    )


def read_csv(data: bytes) -> tuple[str, pl.DataFrame]:
    strings = read_csv_strings(utf8_csv(data))
    keys = {header_key(h) for h in strings.columns}
    if "triggeramount" in keys or "autorechargetrigger" in keys:
        mapping = map_headers(strings.columns, SETTINGS_COLUMNS)
        names = [c.name for c in SETTINGS_COLUMNS]
        return "credit_settings", _settings(select_canonical(strings, mapping, names))
    mapping = map_headers(strings.columns, FUNDING_COLUMNS)
    names = [c.name for c in FUNDING_COLUMNS]
    return "credit_fundings", _fundings(select_canonical(strings, mapping, names))


def read_json(data: bytes) -> list[tuple[str, pl.DataFrame]]:
    """`{"fundings": [...], "auto_recharge": {...}}`; either part may be absent."""
    document = load_json(decode_text(data))
    if not isinstance(document, dict):
        raise FileRejected("credits JSON must be an object with 'fundings' and/or 'auto_recharge'")
    out = []
    fundings = document.get("fundings")
    if isinstance(fundings, list):
        strings = records_frame(list(enumerate(fundings, 1)), {c.name: c.name for c in FUNDING_COLUMNS})
        out.append(("credit_fundings", _fundings(strings.with_columns(pl.col("kind").str.strip_chars()))))
    settings = document.get("auto_recharge")
    if isinstance(settings, dict):
        settings = [settings]
    if isinstance(settings, list):
        fields = {c.name: c.name for c in SETTINGS_COLUMNS} | {"is_enabled": "enabled"}
        out.append(("credit_settings", _settings(records_frame(list(enumerate(settings, 1)), fields))))
    if not out:
        raise FileRejected("credits JSON has neither 'fundings' nor 'auto_recharge'")
    return out
