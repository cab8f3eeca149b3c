"""Compare two folders of mart exports (one sub-folder of Parquet files per mart), e.g. the same
sample built on DuckDB and on Spark, or incrementally and in full: same marts, same rows, value
for value. `rated_at` and `x_rated_at` (when a row was rated: a run stamp, not a figure) are left out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb


@dataclass(frozen=True)
class MartComparison:
    mart: str
    left_rows: int
    right_rows: int
    only_left: int
    only_right: int
    example: str | None = None

    @property
    def identical(self) -> bool:
        return self.left_rows == self.right_rows and self.only_left == 0 and self.only_right == 0

    def line(self) -> str:
        status = "identical" if self.identical else "DIFFERENT"
        text = f"{self.mart:<36} {self.left_rows:>8} rows  {self.right_rows:>8} rows  {status}"
        if not self.identical:
            text += f" ({self.only_left} only left, {self.only_right} only right; e.g. {self.example})"
        return text


def _marts(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}


RUN_STAMPS = ("rated_at", "x_rated_at")


def _normalised(con: duckdb.DuckDBPyConnection, folder: Path, columns: list[str] | None) -> tuple[str, list[str]]:
    """A SELECT over the mart's files with every column as text (timestamps in UTC, no zone)."""
    files = sorted(str(p) for p in folder.glob("*.parquet"))
    if not files:
        return "", columns or []
    source = f"read_parquet({files!r})"
    described = con.execute(f"describe select * from {source}").fetchall()
    types = {name: kind for name, kind, *_ in described}
    names = columns or [name for name, *_ in described if name not in RUN_STAMPS]
    exprs = []
    for name in names:
        kind = types.get(name)
        if kind is None:
            exprs.append(f'null as "{name}"')
        elif kind.startswith("TIMESTAMP"):
            exprs.append(f'cast(cast("{name}" as timestamp) as varchar) as "{name}"')
        else:
            exprs.append(f'cast("{name}" as varchar) as "{name}"')
    return f"select {', '.join(exprs)} from {source}", names


def compare_exports(left: Path, right: Path) -> tuple[list[MartComparison], list[str]]:
    """Per-mart comparisons, and the marts present on one side only."""
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    left_marts, right_marts = _marts(left), _marts(right)
    missing = sorted(left_marts ^ right_marts)
    results = []
    for mart in sorted(left_marts & right_marts):
        left_sql, names = _normalised(con, left / mart, None)
        right_sql, _ = _normalised(con, right / mart, names)
        empty = "select 1 where false"
        left_sql, right_sql = left_sql or empty, right_sql or empty
        count = "select count(*) from ({})"
        left_rows = con.execute(count.format(left_sql)).fetchone()[0] if left_sql != empty else 0
        right_rows = con.execute(count.format(right_sql)).fetchone()[0] if right_sql != empty else 0
        if left_sql == empty or right_sql == empty:
            only_left, only_right, example = left_rows, right_rows, None
        else:
            only_left = con.execute(count.format(f"{left_sql} except all {right_sql}")).fetchone()[0]
            only_right = con.execute(count.format(f"{right_sql} except all {left_sql}")).fetchone()[0]
            row = con.execute(f"{left_sql} except all {right_sql} limit 1").fetchone() if only_left else None
            example = str(dict(zip(names, row, strict=True)))[:300] if row else None
        results.append(MartComparison(mart, left_rows, right_rows, only_left, only_right, example))
    return results, missing
