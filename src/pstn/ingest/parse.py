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


# Exact layouts tried first on a whole timestamp column: when one of them reads every value, the
# general parser (several layouts, offsets) is not needed. Each gives what the general one gives.
QUICK_TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S%.fZ", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f")


def timestamp_parser(column: str, expected: str) -> tuple[pl.Expr, str, tuple[pl.Expr, ...]]:
    quick = tuple(
        pl.col(column).str.to_datetime(layout, strict=False, time_unit="us").alias(column)
        for layout in QUICK_TIMESTAMP_FORMATS
    )
    return timestamp_utc(column), expected, quick


def _parsed(strings: pl.DataFrame, name: str, expr: pl.Expr, quick: tuple[pl.Expr, ...]) -> pl.Series:
    present = strings.get_column(name).is_not_null().sum()
    for candidate in quick:
        values = strings.select(candidate).to_series()
        if values.is_not_null().sum() == present:
            return values
    return strings.select(expr).to_series()


def typed_with_reasons(strings: pl.DataFrame, parsers: dict[str, tuple]) -> pl.DataFrame:
    """Apply `parsers` (column -> (expression, what it should be[, quick expressions])) and
    collect parse failures.

    The result keeps every row, with `_reasons` a list of strings (empty when the row parsed).
    Reasons are written only for the rows that have one (usually none of millions).
    """
    parsed = {
        name: _parsed(strings, name, spec[0], tuple(spec[2]) if len(spec) > 2 else ()) for name, spec in parsers.items()
    }
    failed = {name: strings.get_column(name).is_not_null() & parsed[name].is_null() for name in parsers}
    ragged = strings.get_column("_ragged").is_not_null() if "_ragged" in strings.columns else None
    any_failed = pl.Series([False] * strings.height, dtype=pl.Boolean)
    for mask in [*failed.values(), *([ragged] if ragged is not None else [])]:
        any_failed = any_failed | mask
    typed = strings.with_columns(pl.Series(name, values) for name, values in parsed.items())
    empty = pl.lit([], dtype=pl.List(pl.String)).alias(REASONS)
    if not any_failed.any():
        return typed.with_columns(empty).drop("_ragged", strict=False)
    flagged = strings.filter(any_failed)
    messages = [
        pl.when(pl.lit(failed[name].filter(any_failed))).then(
            pl.format("{} '{}' is not {}", pl.lit(name), pl.col(name), pl.lit(spec[1]))
        )
        for name, spec in parsers.items()
    ]
    raggeds = pl.col("_ragged") if ragged is not None else pl.lit(None, dtype=pl.String)
    reasons = flagged.select(pl.col("_line"), pl.concat_list([raggeds, *messages]).list.drop_nulls().alias("_found"))
    return (
        typed.join(reasons, on="_line", how="left", maintain_order="left")
        .with_columns(pl.col("_found").fill_null(pl.lit([], dtype=pl.List(pl.String))).alias(REASONS))
        .drop("_found", "_ragged", strict=False)
    )
