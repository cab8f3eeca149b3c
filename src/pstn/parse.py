"""String -> typed columns. A value that is present but unparseable yields a reason naming the
column and the value, so the row can be quarantined with something a person can fix."""

from __future__ import annotations

import polars as pl

REASONS = "_reasons"
MONEY = pl.Decimal(18, 6)


def timestamp_utc(column: str) -> pl.Expr:
    """ISO 8601 with `T` or space, optional fraction, `Z` or an offset -> naive UTC microseconds."""
    text = pl.col(column).str.replace(r"^(\d{4}-\d{2}-\d{2}) ", "${1}T")
    bare = text.str.replace(r"Z$", "")
    return pl.coalesce(
        text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", strict=False, time_unit="us")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None),
        bare.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", strict=False, time_unit="us"),
        bare.str.to_datetime("%Y-%m-%dT%H:%M", strict=False, time_unit="us"),
        bare.str.to_datetime("%Y-%m-%d", strict=False, time_unit="us"),
    ).alias(column)


def date_value(column: str) -> pl.Expr:
    return pl.col(column).str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(column)


def whole_number(column: str) -> pl.Expr:
    """Integers, also written `12.0`; `12.5` is not a whole number of seconds and fails."""
    as_float = pl.col(column).str.replace_all(",", "").cast(pl.Float64, strict=False)
    return pl.when(as_float == as_float.round(0)).then(as_float.cast(pl.Int64)).alias(column)


def money(column: str) -> pl.Expr:
    return pl.col(column).str.replace(r"^\+", "").cast(MONEY, strict=False).alias(column)


def upper(column: str) -> pl.Expr:
    return pl.col(column).str.to_uppercase().alias(column)


def lower(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().alias(column)


def typed_with_reasons(strings: pl.DataFrame, parsers: dict[str, tuple[pl.Expr, str]]) -> pl.DataFrame:
    """Apply `parsers` (column -> (expression, what it should be)) and collect parse failures.

    The result keeps every row, with `_reasons` a list of strings (empty when the row parsed).
    """
    failures = []
    for name, (expr, expected) in parsers.items():
        failed = pl.col(name).is_not_null() & expr.is_null()
        failures.append(
            pl.when(failed).then(pl.format("{} '{}' is not {}", pl.lit(name), pl.col(name), pl.lit(expected)))
        )
    ragged = pl.col("_ragged") if "_ragged" in strings.columns else pl.lit(None, dtype=pl.String)
    reasons = pl.concat_list([ragged, *failures]).list.drop_nulls().alias(REASONS)
    typed = strings.with_columns(reasons).with_columns([expr for expr, _ in parsers.values()])
    return typed.drop("_ragged", strict=False)
