"""Licence snapshots: per-user CSV, Graph `users` + `subscribedSkus` JSON, and the
tenant SKU snapshot (`sku_part_number, purchased_units, assigned_units`)."""

from __future__ import annotations

import re
from datetime import date

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

USER_COLUMNS = (
    Column("snapshot_date", ("snapshot_date", "Snapshot Date", "date")),
    Column("user_id", ("user_id", "id", "ObjectId", "AAD ObjectId")),
    Column("user_principal_name", ("user_principal_name", "UserPrincipalName", "UPN")),
    Column("display_name", ("display_name", "DisplayName")),
    Column("usage_location", ("usage_location", "UsageLocation", "Country")),
    Column("department", ("department",)),
    Column("sku_part_numbers", ("sku_part_numbers", "SkuPartNumbers", "skus", "licenses", "assigned_skus"), True),
    Column("dial_out_policy", ("dial_out_policy", "OnlineDialOutPolicy", "DialOutPolicy")),
)
SKU_COLUMNS = (
    Column("snapshot_date", ("snapshot_date", "Snapshot Date", "date")),
    Column("sku_id", ("sku_id", "skuId")),
    Column("sku_part_number", ("sku_part_number", "skuPartNumber"), required=True),
    Column("purchased_units", ("purchased_units", "prepaid_units", "enabled_units"), required=True),
    Column("assigned_units", ("assigned_units", "consumed_units", "consumedUnits"), required=True),
    Column("service_plans", ("service_plans",)),
)
USER_NAMES = tuple(c.name for c in USER_COLUMNS)
SKU_NAMES = tuple(c.name for c in SKU_COLUMNS)

DATE_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def date_from_name(file_name: str) -> date | None:
    match = DATE_IN_NAME.search(file_name)
    if not match:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


def is_sku_snapshot(headers: list[str]) -> bool:
    keys = {header_key(h) for h in headers}
    return "skupartnumber" in keys and ("purchasedunits" in keys or "prepaidunits" in keys)


def _with_snapshot_date(strings: pl.DataFrame, file_name: str) -> pl.DataFrame:
    fallback = date_from_name(file_name)
    has_column = strings.get_column("snapshot_date").is_not_null().any()
    if fallback is None and not has_column:
        raise FileRejected("no snapshot date: add a snapshot_date column or put YYYY-MM-DD in the file name")
    if fallback is not None:
        strings = strings.with_columns(pl.col("snapshot_date").fill_null(pl.lit(fallback.isoformat())))
    return strings


def _sku_list(column: str) -> pl.Expr:
    """`SPE_E5;MCOPSTNC` (also `,` or `|`) -> sorted unique upper-case list."""
    return (
        pl.col(column)
        .fill_null("")
        .str.to_uppercase()
        .str.replace_all(r"[,|]", ";")
        .str.split(";")
        .list.eval(pl.element().str.strip_chars().filter(pl.element() != ""))
        .list.unique()
        .list.sort()
        .alias(column)
    )


def normalise_users(strings: pl.DataFrame, source_format: str) -> pl.DataFrame:
    typed = parse.typed_with_reasons(strings, {"snapshot_date": (parse.date_value("snapshot_date"), "a date")})
    return typed.with_columns(
        _sku_list("sku_part_numbers"),
        parse.upper("usage_location"),
        pl.lit(source_format).alias("source_format"),
    )


def read_users_csv(data: bytes, file_name: str) -> tuple[str, pl.DataFrame]:
    """Returns ('licence_users' | 'tenant_skus', typed frame)."""
    strings = read_csv_strings(utf8_csv(data))
    if is_sku_snapshot(strings.columns):
        mapping = map_headers(strings.columns, SKU_COLUMNS)
        canonical = _with_snapshot_date(select_canonical(strings, mapping, SKU_NAMES), file_name)
        return "tenant_skus", normalise_skus(canonical, "sku_csv")
    mapping = map_headers(strings.columns, USER_COLUMNS)
    if "user_id" not in mapping and "user_principal_name" not in mapping:
        raise FileRejected("missing required column 'user_id' (or 'user_principal_name')")
    canonical = _with_snapshot_date(select_canonical(strings, mapping, USER_NAMES), file_name)
    return "licence_users", normalise_users(canonical, "licence_csv")


def normalise_skus(strings: pl.DataFrame, source_format: str) -> pl.DataFrame:
    typed = parse.typed_with_reasons(
        strings,
        {
            "snapshot_date": (parse.date_value("snapshot_date"), "a date"),
            "purchased_units": (parse.whole_number("purchased_units"), "a whole number"),
            "assigned_units": (parse.whole_number("assigned_units"), "a whole number"),
        },
    )
    return typed.with_columns(parse.upper("sku_part_number"), pl.lit(source_format).alias("source_format"))


def read_graph_json(data: bytes, file_name: str) -> list[tuple[str, pl.DataFrame]]:
    """`{"users": [...], "subscribedSkus": [...]}`, a `/users` page (`value`), or a
    `/subscribedSkus` page; skuIds are resolved to part numbers through `subscribedSkus`."""
    document = load_json(decode_text(data))
    if not isinstance(document, dict):
        raise FileRejected("licence JSON must be an object with 'users' and/or 'subscribedSkus'")
    snapshot = document.get("snapshot_date") or document.get("snapshotDate")
    snapshot_text = str(snapshot)[:10] if snapshot else None
    if snapshot_text is None and date_from_name(file_name) is not None:
        snapshot_text = date_from_name(file_name).isoformat()
    if snapshot_text is None:
        raise FileRejected("no snapshot date: add 'snapshot_date' or put YYYY-MM-DD in the file name")

    skus = document.get("subscribedSkus")
    if isinstance(skus, dict):
        skus = skus.get("value")
    users = document.get("users")
    if isinstance(users, dict):
        users = users.get("value")
    value = document.get("value")
    if isinstance(value, list) and value:
        first = value[0] if isinstance(value[0], dict) else {}
        if "skuPartNumber" in first:
            skus = value
        else:
            users = value
    if not isinstance(users, list) and not isinstance(skus, list):
        raise FileRejected("licence JSON has neither 'users' nor 'subscribedSkus'")

    part_numbers = {
        str(s.get("skuId")).lower(): str(s.get("skuPartNumber"))
        for s in skus or []
        if isinstance(s, dict) and s.get("skuId")
    }
    out: list[tuple[str, pl.DataFrame]] = []
    if isinstance(users, list):
        records = []
        for position, user in enumerate(users, start=1):
            if isinstance(user, dict):
                licences = user.get("assignedLicenses") or []
                names = [
                    part_numbers.get(str(lic.get("skuId")).lower(), f"SKUID:{str(lic.get('skuId')).lower()}")
                    for lic in licences
                    if isinstance(lic, dict)
                ]
                user = {**user, "_skus": ";".join(names), "_snapshot": snapshot_text}
            records.append((position, user))
        strings = records_frame(
            records,
            {
                "snapshot_date": "_snapshot",
                "user_id": "id",
                "user_principal_name": "userPrincipalName",
                "display_name": "displayName",
                "usage_location": "usageLocation",
                "department": "department",
                "sku_part_numbers": "_skus",
                "dial_out_policy": "onlineDialOutPolicy",
            },
        )
        strings = strings.with_columns(pl.col(c).str.strip_chars() for c in USER_NAMES)
        out.append(("licence_users", normalise_users(strings, "graph_users_json")))
    if isinstance(skus, list):
        records = []
        for position, sku in enumerate(skus, start=1):
            if isinstance(sku, dict):
                plans = [p.get("servicePlanName") for p in sku.get("servicePlans") or [] if isinstance(p, dict)]
                prepaid = sku.get("prepaidUnits") if isinstance(sku.get("prepaidUnits"), dict) else {}
                sku = {
                    **sku,
                    "_snapshot": snapshot_text,
                    "_purchased": prepaid.get("enabled"),
                    "_plans": ";".join(str(p) for p in plans if p),
                }
            records.append((position, sku))
        strings = records_frame(
            records,
            {
                "snapshot_date": "_snapshot",
                "sku_id": "skuId",
                "sku_part_number": "skuPartNumber",
                "purchased_units": "_purchased",
                "assigned_units": "consumedUnits",
                "service_plans": "_plans",
            },
        )
        out.append(("tenant_skus", normalise_skus(strings, "graph_subscribed_skus_json")))
    return out
