"""Render the FOCUS mart (`marts.fct_focus_charges`: Teams telephony charges in FinOps Open Cost and
Usage Specification columns, built and tested by dbt) as the files FinOps tools ingest: Parquet as
it is, and CSV with ISO 8601 UTC datetimes (`2024-05-01T00:00:00Z`) and cells a spreadsheet cannot
run. Nothing here computes a figure."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from pstn.files import write_text_atomically
from pstn.serve.warehouse import sql_identifier, sql_literal

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


MONTH_FILE = "focus_charges-{month}.{extension}"
EXTENSIONS = ("parquet", "csv")
MANIFEST = "months.json"


def write_focus_export(warehouse: Path, folder: Path, previous: Path | None = None) -> int:
    """Write the warehouse's FOCUS mart into `folder`, one Parquet and one CSV file per billing
    period (`focus_charges-YYYY-MM.parquet` and `.csv`), and `months.json` (each month's newest
    run stamp and rows); returns the number of rows. `previous`: the folder of the last export. A
    month whose stamp and rows are the same there is hard-linked from it (copied across file
    systems) rather than written again, so a night that re-rated one month writes that month
    only: the export costs what changed, not the history."""
    import duckdb

    folder.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        months = {
            month: {"stamp": stamp, "rows": rows}
            for month, stamp, rows in con.execute(
                "select strftime(x_billing_month, '%Y-%m'), cast(max(x_rated_at) as varchar), count(*)"
                f" from {FOCUS_RELATION} group by all order by 1"
            ).fetchall()
        }
        linkable = previous is not None and previous.resolve() != folder.resolve()
        kept = _kept_months(previous, months) if linkable else set()
        for month in months:
            files = {ext: folder / MONTH_FILE.format(month=month, extension=ext) for ext in EXTENSIONS}
            if month in kept and _link_from(previous, files):
                continue
            first_day = sql_literal(month + "-01")
            relation = f"select * from {FOCUS_RELATION} where x_billing_month = cast({first_day} as date)"
            _copy_atomically(con, relation, files["parquet"], "format parquet")
            _copy_atomically(con, csv_cells(relation, con), files["csv"], "header, delimiter ','")
    for stale in [*folder.glob(MONTH_FILE.format(month="*", extension="*")), *folder.glob("focus_charges.*")]:
        if stale.name.removeprefix("focus_charges-")[:7] not in months:
            stale.unlink()  # a month no longer held, or the single file of an older version
    write_text_atomically(folder / MANIFEST, json.dumps(months, indent=2) + "\n")
    return sum(figures["rows"] for figures in months.values())


def _kept_months(previous: Path, months: dict[str, dict]) -> set[str]:
    """The months `previous`'s manifest records with the same newest stamp and rows."""
    try:
        recorded = json.loads((previous / MANIFEST).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(recorded, dict):  # not a manifest this code wrote: write every month
        return set()
    return {month for month, figures in months.items() if recorded.get(month) == figures}


def _link_from(previous: Path, files: dict[str, Path]) -> bool:
    """A month's files linked from `previous` (copied where a link cannot be made); False, and
    nothing done, when one of them is missing there."""
    sources = {extension: previous / path.name for extension, path in files.items()}
    if not all(source.is_file() for source in sources.values()):
        return False
    for extension, path in files.items():
        path.unlink(missing_ok=True)
        try:
            os.link(sources[extension], path)
        except OSError:
            shutil.copy2(sources[extension], path)
    return True


def _copy_atomically(con, select: str, path: Path, options: str) -> None:
    """COPY a select to `path` through a temporary name, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    con.execute(f"copy ({select}) to {sql_literal(str(temporary))} ({options})")
    os.replace(temporary, path)
