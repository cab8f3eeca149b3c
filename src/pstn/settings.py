"""Where things live. Every entry point resolves paths here, from the environment (SPEC 2)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    archive_dir: Path
    gx_dir: Path
    project_dir: Path = PROJECT_ROOT

    @classmethod
    def from_env(cls, **overrides: Path | str | None) -> Settings:
        """Resolve `$PSTN_RAW_DIR`, `$PSTN_WAREHOUSE`, `$PSTN_ARCHIVE_DIR` and `$PSTN_GX_DIR`.

        Relative paths are taken from the current directory and made absolute, so dbt (which
        runs from the project root) sees the same files as the caller.
        """

        def pick(key: str, env: str, default: str | Path) -> Path:
            value = overrides.get(key) or os.environ.get(env) or default
            return Path(value).expanduser().resolve()

        raw_dir = pick("raw_dir", "PSTN_RAW_DIR", PROJECT_ROOT / "data" / "raw")
        warehouse = pick("warehouse", "PSTN_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse.duckdb")
        archive_dir = pick("archive_dir", "PSTN_ARCHIVE_DIR", warehouse.parent / "archive")
        gx_dir = pick("gx_dir", "PSTN_GX_DIR", warehouse.parent / "gx")
        return cls(raw_dir=raw_dir, warehouse=warehouse, archive_dir=archive_dir, gx_dir=gx_dir)

    def dbt_env(self) -> dict[str, str]:
        """The environment a dbt subprocess needs to see the same warehouse and archive."""
        env = dict(os.environ)
        env.update(
            PSTN_RAW_DIR=str(self.raw_dir),
            PSTN_WAREHOUSE=str(self.warehouse),
            PSTN_ARCHIVE_DIR=str(self.archive_dir),
            PSTN_GX_DIR=str(self.gx_dir),
            DBT_PROFILES_DIR=str(self.project_dir),
        )
        return env
