"""Render the FOCUS mart (`marts.fct_focus_charges`: Teams telephony charges in FinOps Open Cost and
Usage Specification columns, built and tested by dbt) as the files FinOps tools ingest: Parquet as
it is, and CSV with ISO 8601 UTC datetimes (`2024-05-01T00:00:00Z`) and cells a spreadsheet cannot
run. Nothing here computes a figure."""

from __future__ import annotations

from pathlib import Path

from pstn.serve.warehouse import sql_identifier

FOCUS_RELATION = "marts.fct_focus_charges"


def csv_cells(relation: str, con) -> str:
    """A select of `relation` as the CSV shows it. Text cells cannot run in a spreadsheet: a cell
    starting with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe (OWASP's
    advice on CSV injection), which spreadsheets show as text. Timestamps are ISO 8601 UTC text
    (`...T00:00:00Z`), as FOCUS requires of datetimes in a CSV. Parquet keeps values as they are."""
    columns = con.execute(f"select * from ({relation}) limit 0").description
    selected = []
    for name, kind, *_ in columns:
        quoted = sql_identifier(name)
        kind = str(kind).upper()
        if kind in ("VARCHAR", "STRING"):
            risky = f"left({quoted}, 1) in ('=', '+', '-', '@', chr(9), chr(13))"
            selected.append(f"case when {risky} then concat(chr(39), {quoted}) else {quoted} end as {quoted}")
        elif kind.startswith("TIMESTAMP"):
            selected.append(f"strftime({quoted}, '%Y-%m-%dT%H:%M:%SZ') as {quoted}")
        else:
            selected.append(quoted)
    return f"select {', '.join(selected)} from ({relation})"


def write_focus_export(warehouse: Path, folder: Path) -> int:
    """Write focus_charges.parquet and .csv into `folder` from the warehouse's FOCUS mart;
    returns the number of rows."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    relation = f"select * from {FOCUS_RELATION}"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute(f"copy ({relation}) to '{folder / 'focus_charges.parquet'}' (format parquet)")
        # COPY answers the number of rows it wrote.
        return con.execute(
            f"copy ({csv_cells(relation, con)}) to '{folder / 'focus_charges.csv'}' (header, delimiter ',')"
        ).fetchone()[0]
