"""Reading raw bytes into string frames: encoding checks, CSV with header aliases, JSON.

Everything here returns strings; typing happens in the per-kind normalisers. A problem that makes
the whole file unreadable raises `FileRejected` with a reason a person can act on.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from pstn.ingest.bounds import current_bounds

LINE = "_line"
RAW = "_raw"
# What the bounded reader leaves in place of a line over the line bound (followed by its length).
OVERSIZED_LINE = "pstn-line-over-bound:"
# C0 control characters but tab: a field holding one is quarantined (NUL bytes, escape codes...).
CONTROL_CHARACTERS = r"[\x00-\x08\x0a-\x1f]"


class FileRejected(Exception):
    """The file as a whole cannot be read; the message is the reason recorded in the manifest."""


def header_key(name: str) -> str:
    """Case- and punctuation-insensitive form of a header: `Duration (seconds)` -> `durationseconds`."""
    return re.sub(r"[^a-z0-9]", "", name.strip().lstrip("\ufeff").lower())


@dataclass(frozen=True)
class Column:
    """A canonical column, the header names it is known by, and whether a file must have it."""

    name: str
    aliases: tuple[str, ...]
    required: bool = False
    label: str = ""

    @property
    def display(self) -> str:
        return self.label or self.aliases[0]


def decode_text(data: bytes) -> str:
    """UTF-8 text with or without BOM; anything else is rejected with the reason."""
    if not data.strip(b"\xef\xbb\xbf \t\r\n"):
        raise FileRejected("empty file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FileRejected("file is UTF-16 encoded; save it as UTF-8 (with or without BOM)")
    if b"\x00" in data[:65536]:
        raise FileRejected("binary content (NUL bytes): not a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRejected(f"not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at offset {exc.start}") from exc


def map_headers(headers: Iterable[str], columns: Iterable[Column]) -> dict[str, str]:
    """Map source headers to canonical names; unknown headers are ignored, the first match wins.

    Raises FileRejected naming the first required column that is missing.
    """
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(header_key(header), header)
    mapping: dict[str, str] = {}
    for column in columns:
        source = next((by_key[header_key(a)] for a in column.aliases if header_key(a) in by_key), None)
        if source is not None:
            mapping[column.name] = source
        elif column.required:
            raise FileRejected(f"missing required column '{column.display}'")
    return mapping


def utf8_csv(data: bytes) -> bytes:
    """The bytes of a CSV file after the checks of `decode_text`, without a BOM (polars reads
    bytes directly; a str would be encoded back)."""
    decode_text(data)
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


def read_csv_strings(text: str | bytes) -> pl.DataFrame:
    """Every column as a string, plus `_line` (the row number, header = 1) and `_raw` (the row as JSON).

    polars reads well-formed files; a file it cannot read (ragged rows, stray quotes) is read again
    with the csv module so that only the broken rows are lost to quarantine, never the file. A
    header with more columns than the bound rejects the file; rows over the line or field bound,
    or holding control characters, carry their reason in `_ragged` (see `bound_problems`).
    """
    bounds = current_bounds()
    head = text[: text.find(b"\n" if isinstance(text, bytes) else "\n")] if text else text
    columns = head.count(b"," if isinstance(head, bytes) else ",") + 1
    if columns > bounds.max_header_columns:
        raise FileRejected(f"header of {columns:,} columns is {bounds.over('max_header_columns')}")
    try:
        source = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
        frame = pl.read_csv(source, infer_schema=False, missing_utf8_is_empty_string=False)
        ragged: list[int] = []
    except pl.exceptions.PolarsError:
        frame, ragged = _read_csv_leniently(text.decode("utf-8-sig") if isinstance(text, bytes) else text)
    if frame.width == 0 or not frame.columns:
        raise FileRejected("no header row")
    frame = frame.rename({c: c.lstrip("\ufeff").strip() for c in frame.columns})
    columns = frame.columns
    frame = frame.with_columns(pl.int_range(2, frame.height + 2, dtype=pl.Int64).alias(LINE))
    malformed = pl.when(pl.col(LINE).is_in(ragged)).then(pl.lit("malformed CSV row (wrong number of fields)"))
    frame = frame.with_columns(bound_problems(columns[0], columns, malformed))
    return frame.with_columns(*cut_oversized(columns)).with_columns(
        # The record as read (its fields cut to the bound); written out as JSON only for rows
        # that end in quarantine.
        pl.struct(columns).alias(RAW)
    )


def cut_oversized(columns: list[str]) -> list[pl.Expr]:
    """Fields over the field bound, cut to a few hundred characters: the row is quarantined for
    it already, and nothing after this point should copy the whole value around."""
    limit = current_bounds().max_field_bytes
    return [
        pl.when(pl.col(c).str.len_bytes() > limit)
        .then(pl.concat_str(pl.col(c).str.slice(0, 200), pl.lit("…(cut: over the field bound)")))
        .otherwise(pl.col(c))
        .alias(c)
        for c in columns
    ]


def bound_problems(first: str | None, columns: list[str], other: pl.Expr | None = None) -> pl.Expr:
    """`_ragged`: why a row of string `columns` cannot be kept, or null. A line the bounded reader
    cut out (its first field holds the marker), a field over the field bound, a control character;
    `other` adds a reason of the caller's."""
    bounds = current_bounds()
    reasons = []
    if first is not None:
        marker = pl.col(first).str.starts_with(OVERSIZED_LINE)
        reasons.append(
            pl.when(marker).then(
                pl.format(
                    "line of {} bytes is {}",
                    pl.col(first).str.slice(len(OVERSIZED_LINE)),
                    pl.lit(bounds.over("max_line_bytes")),
                )
            )
        )
    for column in columns:
        value = pl.col(column).cast(pl.String)
        reasons.append(
            pl.when(value.str.len_bytes() > bounds.max_field_bytes).then(
                pl.format(
                    "field '{}' of {} bytes is {}",
                    pl.lit(column),
                    value.str.len_bytes(),
                    pl.lit(bounds.over("max_field_bytes")),
                )
            )
        )
        reasons.append(
            pl.when(value.str.contains(CONTROL_CHARACTERS)).then(
                pl.lit(f"field '{column}' holds a control character (NUL or another C0 code)")
            )
        )
    if other is not None:
        reasons.append(other)
    if not reasons:
        return pl.lit(None, dtype=pl.String).alias("_ragged")
    joined = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    return pl.when(joined != "").then(joined).alias("_ragged")


def oversized_line_reason(line: str) -> str | None:
    """The reason for a line the bounded reader cut out, or None for any other line."""
    if not line.startswith(OVERSIZED_LINE):
        return None
    return f"line of {line[len(OVERSIZED_LINE) :]} bytes is {current_bounds().over('max_line_bytes')}"


def _read_csv_leniently(text: str) -> tuple[pl.DataFrame, list[int]]:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise FileRejected("no header row")
    header, body = rows[0], rows[1:]
    width = len(header)
    ragged = [i + 2 for i, row in enumerate(body) if len(row) != width]
    padded = [(row + [None] * width)[:width] for row in body]
    columns = {name: [row[i] for row in padded] for i, name in enumerate(_unique(header))}
    return pl.DataFrame(columns, schema={name: pl.String for name in columns}), ragged


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        count = seen.get(name, 0)
        seen[name] = count + 1
        out.append(name if count == 0 else f"{name}_{count}")
    return out


def load_json(text: str) -> object:
    """Parse JSON keeping numbers exact (money stays Decimal); a syntax error rejects the file."""
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise FileRejected(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc


def records_frame(
    records: list[tuple[int, object]],
    fields: Mapping[str, str],
    problems: Mapping[int, str] | None = None,
) -> pl.DataFrame:
    """A string frame from JSON objects: `fields` maps canonical name -> JSON key.

    `records` holds (line or position, object); an item that is not an object, or whose line is in
    `problems`, carries a `_ragged` reason so it is quarantined rather than lost.
    """
    problems = problems or {}
    data: dict[str, list[str | None]] = {name: [] for name in fields}
    lines: list[int] = []
    raws: list[str] = []
    issues: list[str | None] = []
    from pstn.ingest.redact import cut

    for line, item in records:
        lines.append(line)
        raws.append(cut(json.dumps(item, default=str, ensure_ascii=False)))
        is_object = isinstance(item, dict)
        issues.append(problems.get(line) or (None if is_object else "record is not a JSON object"))
        for name, key in fields.items():
            value = item.get(key) if is_object else None
            data[name].append(None if value is None else _json_scalar(value))
    frame = pl.DataFrame(data, schema={name: pl.String for name in fields})
    return (
        frame.with_columns(
            pl.Series(LINE, lines, dtype=pl.Int64),
            pl.Series(RAW, raws, dtype=pl.String),
            pl.Series("_ragged", issues, dtype=pl.String),
        )
        .with_columns(bound_problems(None, list(fields), pl.col("_ragged")))
        .with_columns(*cut_oversized(list(fields)))
    )


def _json_scalar(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def select_canonical(frame: pl.DataFrame, mapping: Mapping[str, str], names: Iterable[str]) -> pl.DataFrame:
    """Canonical string columns (null where the file lacks the column), trimmed, '' -> null."""
    exprs = []
    for name in names:
        if name in mapping:
            value = pl.col(mapping[name]).cast(pl.String).str.strip_chars()
            exprs.append(pl.when(value == "").then(None).otherwise(value).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=pl.String).alias(name))
    extras = [c for c in (LINE, RAW, "_ragged") if c in frame.columns]
    out = frame.select(*exprs, *extras)
    if "_ragged" not in out.columns:
        out = out.with_columns(pl.lit(None, dtype=pl.String).alias("_ragged"))
    return out
