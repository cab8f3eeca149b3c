"""Shared fixtures: every test gets its own landing folder, archive and warehouse under tmp_path;
the Great Expectations project is shared per session (it only accumulates validation results)."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import polars as pl

import pytest
from pstn.ingest.archive import Archive
from pstn.ingest.loader import Loader, LoadReport
from pstn.ingest.quality import Validator
from pstn.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Every mart the project defines: both engines must export each of them.
MARTS = {path.stem for path in (ROOT / "models" / "marts").rglob("*.sql")}
# Stale-data alerts are judged at one fixed instant, so both engines' fct_alerts can be compared.
ALERTS_AS_OF = "2024-07-02 12:00:00"


def free_port() -> int:
    """A TCP port on 127.0.0.1 free at the moment of asking (for servers the tests start)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def pstn(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The project's CLI as a user runs it, from the project root with `env`."""
    return subprocess.run([sys.executable, "-m", "pstn", *args], cwd=ROOT, env=env, capture_output=True, text=True)


ADMIN_HEADER = (
    "UsageId,Call ID,Conference ID,User Location,AAD ObjectId,UPN,User Display Name,Caller ID,Call Type,"
    "Number Type,Domestic/International,Destination Dialed,Destination Number,Start Time,End Time,"
    "Duration Seconds,Connection Fee,Charge,Currency,Capability"
)


def admin_row(usage_id: str, start: str = "2024-01-10T10:00:00Z", seconds: int = 300, **overrides: str) -> str:
    """One documented admin-center row; `overrides` replace fields by header name."""
    from datetime import datetime, timedelta

    begin = datetime.fromisoformat(start.replace("Z", "+00:00"))
    end = (begin + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = {
        "UsageId": usage_id,
        "Call ID": f"call-{usage_id}",
        "Conference ID": "12345678",
        "User Location": "US",
        "AAD ObjectId": "user-1",
        "UPN": "ada@contoso.example",
        "User Display Name": "Ada",
        "Caller ID": "+14255550100",
        "Call Type": "conf_out",
        "Number Type": "",
        "Domestic/International": "Domestic",
        "Destination Dialed": "United States",
        "Destination Number": "+12125550123",
        "Start Time": start,
        "End Time": end,
        "Duration Seconds": str(seconds),
        "Connection Fee": "0",
        "Charge": "0",
        "Currency": "USD",
        "Capability": "MCOMEETADD",
    }
    fields.update(overrides)
    return ",".join(fields[h] for h in ADMIN_HEADER.split(","))


def admin_csv(*rows: str, header: str = ADMIN_HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def zip_bytes(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


class Landing:
    """A landing folder + archive + warehouse in a temp dir, with helpers to write and load."""

    def __init__(self, root: Path, validator: Validator) -> None:
        self.root = root
        self.settings = Settings.from_env(
            raw_dir=root / "raw", warehouse=root / "wh" / "warehouse.duckdb", archive_dir=root / "wh" / "archive"
        )
        self.validator = validator
        self.archive = Archive(self.settings.archive_dir)

    def write(self, relative: str, content: str | bytes) -> Path:
        path = self.settings.raw_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    def load(self, reprocess_rejected: bool = False, rehash: bool = False) -> LoadReport:
        return Loader(self.settings, self.validator, rehash=rehash).run(reprocess_rejected=reprocess_rejected)

    def calls(self) -> pl.DataFrame:
        return self.archive.read("calls")

    def quarantine(self) -> pl.DataFrame:
        return self.archive.read("quarantine")

    def manifest(self) -> pl.DataFrame:
        return self.archive.manifest()

    def reasons(self) -> list[str]:
        return self.quarantine().get_column("reasons").to_list()

    def rejected_files(self) -> dict[str, str]:
        rejected = self.manifest().filter(pl.col("status") == "rejected")
        return {
            (r["source_path"] + (f"!{r['source_member']}" if r["source_member"] else "")): r["reason"]
            for r in rejected.iter_rows(named=True)
        }


@pytest.fixture(scope="session")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Validator:
    return Validator(tmp_path_factory.mktemp("gx"))


@pytest.fixture
def landing(tmp_path: Path, validator: Validator) -> Landing:
    return Landing(tmp_path, validator)
