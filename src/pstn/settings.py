"""Where things live. Every entry point resolves paths here, from the environment."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path


def find_project_root() -> Path:
    """The dbt project (dbt_project.yml, models, seeds): `$PSTN_PROJECT_DIR`, else the checkout
    this package runs from (an editable install), else the current folder. A package installed
    with `pip install .` runs from any folder once `$PSTN_PROJECT_DIR` names the project."""
    configured = os.environ.get("PSTN_PROJECT_DIR")
    if configured:
        return Path(configured).expanduser().resolve()
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    return Path.cwd()


def require_project(project_dir: Path) -> None:
    """Stop with one line when the dbt project is not where the settings say."""
    if not (project_dir / "dbt_project.yml").is_file():
        from pstn.errors import OperatorError

        raise OperatorError(
            f"no dbt project (dbt_project.yml) in {project_dir}: set PSTN_PROJECT_DIR to the project's folder "
            "(the checkout), or run pstn from it"
        )


PROJECT_ROOT = find_project_root()

# What the dbt project is made of: its two files and the folders dbt reads; the Python suites
# under tests/pytest are not part of it.
PROJECT_FILES = ("dbt_project.yml", "profiles.yml")
PROJECT_FOLDERS = ("models", "macros", "seeds", "tests", "snapshots", "analyses")


def project_files(project_dir: Path) -> list[Path]:
    """Every file of the dbt project in `project_dir`, in a stable order."""
    files = [project_dir / name for name in PROJECT_FILES]
    for folder in PROJECT_FOLDERS:
        files += sorted(
            path
            for path in (project_dir / folder).rglob("*")
            if path.is_file() and "pytest" not in path.relative_to(project_dir).parts
        )
    return [path for path in files if path.is_file()]


def copy_project(project_dir: Path, to: Path) -> Path:
    """A copy of the dbt project at `to` (a changed rate card or rule tried without touching it)."""
    for path in project_files(project_dir):
        copied = to / path.relative_to(project_dir)
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copied)
    return to


PRIVATE_FOLDER = "private"


def default_build_warehouse(warehouse: Path) -> Path:
    """`<folder>/private/<name>` for a published `<folder>/<name>` (profiles.yml derives the same)."""
    return warehouse.parent / PRIVATE_FOLDER / warehouse.name


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    build_warehouse: Path
    archive_dir: Path
    gx_dir: Path
    export_dir: Path
    spark_dir: Path
    target: str = "duckdb"
    project_dir: Path = PROJECT_ROOT

    @classmethod
    def from_env(cls, **overrides: Path | str | None) -> Settings:
        """Resolve `$PSTN_RAW_DIR`, `$PSTN_WAREHOUSE` (the published marts BI tools open),
        `$PSTN_BUILD_WAREHOUSE` (the private build warehouse: staging, intermediate, marts and
        dbt's state; default `private/<warehouse name>` beside the published file), `$PSTN_ARCHIVE_DIR`, `$PSTN_GX_DIR`,
        `$PSTN_EXPORT_DIR`, `$PSTN_SPARK_DIR`, `$PSTN_TARGET` (duckdb or spark) and
        `$PSTN_PROJECT_DIR` (the dbt project; this checkout by default).

        Relative paths are taken from the current directory and made absolute, so dbt (which
        runs from the project root) sees the same files as the caller.
        """

        def pick(key: str, env: str, default: str | Path, follow: bool = True) -> Path:
            path = Path(overrides.get(key) or os.environ.get(env) or default).expanduser()
            return path.resolve() if follow else path.absolute().parent.resolve() / path.name

        raw_dir = pick("raw_dir", "PSTN_RAW_DIR", PROJECT_ROOT / "data" / "raw")
        warehouse = pick("warehouse", "PSTN_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse.duckdb")
        build_warehouse = pick("build_warehouse", "PSTN_BUILD_WAREHOUSE", default_build_warehouse(warehouse))
        archive_dir = pick("archive_dir", "PSTN_ARCHIVE_DIR", warehouse.parent / "archive")
        gx_dir = pick("gx_dir", "PSTN_GX_DIR", warehouse.parent / "gx")
        # The exports folder is a symlink once the nightly has published (to its current version):
        # the link itself is the setting, not the version it points at.
        export_dir = pick("export_dir", "PSTN_EXPORT_DIR", warehouse.parent / "exports", follow=False)
        spark_dir = pick("spark_dir", "PSTN_SPARK_DIR", warehouse.parent / "spark")
        target = str(overrides.get("target") or os.environ.get("PSTN_TARGET") or "duckdb")
        if target not in ("duckdb", "spark"):
            raise ValueError(f"PSTN_TARGET must be duckdb or spark, not {target!r}")
        project_dir = pick("project_dir", "PSTN_PROJECT_DIR", PROJECT_ROOT)
        return cls(
            project_dir=project_dir,
            raw_dir=raw_dir,
            warehouse=warehouse,
            build_warehouse=build_warehouse,
            archive_dir=archive_dir,
            gx_dir=gx_dir,
            export_dir=export_dir,
            spark_dir=spark_dir,
            target=target,
        )

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's target folder for the builds of this build warehouse (its manifest, run results,
        compiled SQL and kept parses), beside it in the private folder: two builds of different
        warehouses from one checkout, at the same time, never read each other's results."""
        return self.build_warehouse.parent / f"{self.build_warehouse.stem}.dbt-target"

    def dbt_env(self) -> dict[str, str]:
        """The environment a dbt subprocess needs to see the same warehouse and archive."""
        env = dict(os.environ)
        env.update(
            PSTN_RAW_DIR=str(self.raw_dir),
            PSTN_WAREHOUSE=str(self.warehouse),
            PSTN_BUILD_WAREHOUSE=str(self.build_warehouse),
            PSTN_ARCHIVE_DIR=str(self.archive_dir),
            PSTN_GX_DIR=str(self.gx_dir),
            PSTN_EXPORT_DIR=str(self.export_dir),
            PSTN_SPARK_DIR=str(self.spark_dir),
            PSTN_TARGET=self.target,
            DBT_PROFILES_DIR=str(self.project_dir),
            DBT_TARGET_PATH=str(self.dbt_target_dir),
        )
        return env
