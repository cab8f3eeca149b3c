"""Personal data in its place: a scan of everything a BI tool or a reader of exports can open
(the published warehouse, every export, the FOCUS CSV, the report, the alerts) after a nightly,
with pseudonymisation off (no whole phone number anywhere) and on (no UPN, display name or
object id either). The landing folder also holds a rejected row full of personal data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
from conftest import ADMIN_HEADER, ROOT, admin_row

import pytest
from pstn_sample.generate import SampleSpec, generate

KEY = "a-test-key-of-32-characters-long"
NOTE = "call bob.personal@example.org at +14255550199"


def install(root: Path, **extra: str) -> subprocess.CompletedProcess:
    generate(root / "raw", SampleSpec(seed=5, users=25, months=2))
    rejected = admin_row(
        "pii-row",
        **{
            "Start Time": "not-a-time",
            "UPN": "grace.hopper@contoso.example",
            "User Display Name": "Grace Hopper",
            "AAD ObjectId": "gh-object-id",
        },
        **{"Caller ID": "+14255550177", "Destination Number": "+442079460123"},
    )
    (root / "raw" / "cdr" / "rejected.csv").write_text(f"{ADMIN_HEADER},Notes\n{rejected},{NOTE}\n")
    env = dict(os.environ, PSTN_RAW_DIR=str(root / "raw"), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_EXPORT_DIR", "PSTN_TARGET", "PSTN_NIGHTLY_DIR", "PSTN_WEBHOOK_URL"):
        env.pop(key, None)
    env.update(extra)
    return subprocess.run([sys.executable, "-m", "pstn", "nightly"], cwd=ROOT, env=env, capture_output=True, text=True)


def personal_values(root: Path) -> dict[str, set[str]]:
    """The clear values the landing folder held, read from the private build warehouse."""
    found: dict[str, set[str]] = {"numbers": set(), "users": set()}
    with duckdb.connect(str(root / "wh" / "private" / "warehouse.duckdb"), read_only=True) as con:
        for number in ("caller_number", "callee_number"):
            found["numbers"] |= {
                re.sub(r"\D", "", value)
                for (value,) in con.execute(f"select distinct {number} from staging.stg_archive__pstn_calls").fetchall()
                if value and "*" not in value and len(re.sub(r"\D", "", value)) >= 7
            }
        for column in ("user_id", "user_principal_name", "user_display_name"):
            found["users"] |= {
                value
                for (value,) in con.execute(f"select distinct {column} from staging.stg_archive__pstn_calls").fetchall()
                if value
            }
        for column in ("user_id", "user_principal_name", "display_name"):
            found["users"] |= {
                value
                for (value,) in con.execute(
                    f"select distinct {column} from staging.stg_archive__licence_users"
                ).fetchall()
                if value
            }
    found["numbers"] |= {"14255550177", "442079460123", "14255550199"}
    found["users"] |= {"grace.hopper@contoso.example", "Grace Hopper", "gh-object-id", "bob.personal@example.org"}
    return found


def readable_text(root: Path) -> dict[str, str]:
    """Everything a BI tool or a reader of the exports can open, as text, by where it lives."""
    texts: dict[str, str] = {}
    published = root / "wh" / "warehouse.duckdb"
    with duckdb.connect(str(published), read_only=True) as con:
        schemas = {row[0] for row in con.execute("select distinct schema_name from duckdb_tables()").fetchall()}
        assert schemas == {"marts"}, schemas  # staging, intermediate and archive stay private
        for (table,) in con.execute("select table_name from duckdb_tables()").fetchall():
            texts[f"warehouse:{table}"] = repr(con.execute(f"select * from marts.{table}").fetchall())
    exports = (root / "wh" / "exports").resolve()
    with duckdb.connect() as con:
        for path in exports.rglob("*"):
            if path.suffix == ".parquet":
                texts[str(path)] = repr(con.execute(f"select * from read_parquet('{path}')").fetchall())
            elif path.suffix in (".csv", ".html", ".json"):
                texts[str(path)] = path.read_text(encoding="utf-8", errors="replace")
    texts["alerts"] = (root / "wh" / "nightly" / "alerts.jsonl").read_text()
    return texts


def whole_numbers(text: str) -> set[str]:
    return {re.sub(r"\D", "", match) for match in re.findall(r"\+?\d[\d ()\-]{6,}\d", text)}


# The docs site shows the project's own unit-test fixtures, whose fictional numbers the sample
# generator reuses: those are the project's code, not a tenant's data.
FIXTURE_NUMBERS = whole_numbers("".join(p.read_text() for p in (ROOT / "models").rglob("*.yml")))


def leaks_of(texts: dict[str, str], numbers: set[str]) -> dict[str, set[str]]:
    found = {}
    for where, text in texts.items():
        leaked = whole_numbers(text) & numbers
        if where.endswith(("docs/index.html",)):
            leaked -= FIXTURE_NUMBERS
        if leaked:
            found[where] = leaked
    return found


@pytest.fixture(scope="module")
def installations(tmp_path_factory):
    off, on = tmp_path_factory.mktemp("pii-off"), tmp_path_factory.mktemp("pii-on")
    first = install(off)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = install(on, PSTN_PSEUDONYMISE="true", PSTN_PSEUDONYM_KEY=KEY)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return off, on


def test_no_whole_number_anywhere_a_reader_can_look(installations):
    off, _ = installations
    numbers = personal_values(off)["numbers"]
    assert len(numbers) > 20
    assert leaks_of(readable_text(off), numbers) == {}


def test_the_rejected_row_is_shown_masked(installations):
    off, _ = installations
    with duckdb.connect(str(off / "wh" / "warehouse.duckdb"), read_only=True) as con:
        (record,) = con.execute(
            "select raw_record from marts.rpt_ingest_rejections where source_path = 'cdr/rejected.csv'"
        ).fetchone()
    shown = json.loads(record)
    assert shown["Caller ID"] == "+1***177" and shown["Destination Number"] == "+44***123"
    assert shown["UPN"] == "grace.hopper@contoso.example"  # users in clear while the switch is off
    assert shown["Notes"] == "call [e-mail removed] at ***199"


def test_with_the_switch_on_no_user_identifier_anywhere(installations):
    _, on = installations
    values = personal_values(on)
    users = {value for value in values["users"] if len(value) >= 4}
    texts = readable_text(on)
    leaks = {where: sorted(user for user in users if user in text) for where, text in texts.items()}
    assert {where: found for where, found in leaks.items() if found} == {}
    assert leaks_of(texts, values["numbers"]) == {}


def test_pseudonyms_are_keyed_and_stable(installations):
    """The same user gets the same pseudonym in every mart; it is HMAC-SHA-256 with the key, so
    hashing a list of UPNs without the key finds nobody."""
    import hashlib
    import hmac

    _, on = installations
    with duckdb.connect(str(on / "wh" / "warehouse.duckdb"), read_only=True) as con:
        calls = dict(
            con.execute(
                "select usage_id, user_principal_name from marts.fct_pstn_calls where user_principal_name is not null"
            ).fetchall()
        )
        charged = dict(con.execute("select usage_id, user_principal_name from marts.fct_charges_mcopstnpp").fetchall())
    assert charged and all(calls[usage_id] == pseudonym for usage_id, pseudonym in charged.items())
    with duckdb.connect(str(on / "wh" / "private" / "warehouse.duckdb"), read_only=True) as con:
        usage_id, upn = con.execute(
            "select usage_id, user_principal_name from staging.stg_archive__pstn_calls "
            "where user_principal_name is not null limit 1"
        ).fetchone()
    expected = "user-" + hmac.new(KEY.encode(), upn.encode(), hashlib.sha256).hexdigest()[:24]
    assert calls[usage_id] == expected
    assert expected != "user-" + hashlib.sha256(upn.encode()).hexdigest()[:24]


def test_the_private_folder_is_owner_only(installations):
    off, _ = installations
    assert (off / "wh" / "private").stat().st_mode & 0o777 == 0o700
    assert (off / "wh" / "archive").stat().st_mode & 0o777 == 0o700


def test_formula_cells_are_neutralised_in_the_csv_export(installations):
    off, _ = installations
    months = sorted((off / "wh" / "exports" / "focus").glob("focus_charges-*.csv"))
    assert months
    cells = [cell for month in months for line in month.read_text().splitlines()[1:] for cell in line.split(",")]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "@", "\t", "\r")]
