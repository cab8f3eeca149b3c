"""The Microsoft Graph fetcher against a fake Graph on 127.0.0.1 (fake_graph.py) that
pages, splits nothing itself (a window over 90 days is a 400 as on the real service), throttles,
fails, drops connections and expires tokens. Then the fetched pages go through the normal
pipeline and rate exactly like the same calls exported from the admin center as CSV."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
from conftest import ROOT, admin_csv, admin_row, pstn
from fake_graph import FakeGraph, Fault

import pytest
from pstn.fetch.graph import Fetcher, FetchError, GraphClient, GraphConfig, windows
from pstn.settings import Settings
from pstn_sample.generate import _graph_record

NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)


def records_between(start: datetime, end: datetime, every: timedelta, prefix: str = "graph") -> list[dict]:
    rows, moment, n = [], start, 0
    while moment < end:
        n += 1
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(
            {
                "id": f"{prefix}-{n:05d}",
                "callId": f"call-{n:05d}",
                "userId": "user-1",
                "userPrincipalName": "ada@contoso.example",
                "startDateTime": stamp,
                "endDateTime": (moment + timedelta(seconds=120)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duration": 120,
                "callType": "conf_out",
                "calleeNumber": "+12125550123",
                "destinationName": "United States",
                "currency": "USD",
                "charge": 0,
            }
        )
        moment += every
    return rows


@pytest.fixture
def fake():
    server = FakeGraph(
        records=records_between(NOW - timedelta(days=370), NOW - timedelta(hours=2), timedelta(hours=13)),
        page_size=40,
        users=[
            {
                "id": "user-1",
                "userPrincipalName": "ada@contoso.example",
                "displayName": "Ada",
                "usageLocation": "US",
                "department": "Sales",
                "assignedLicenses": [{"skuId": "sku-e5"}],
            }
        ],
        skus=[
            {
                "skuId": "sku-e5",
                "skuPartNumber": "SPE_E5",
                "prepaidUnits": {"enabled": 10},
                "consumedUnits": 1,
                "servicePlans": [{"servicePlanName": "MCOMEETADV"}],
            }
        ],
    ).start()
    yield server
    server.stop()


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.lines: list[str] = []


def fetcher(fake: FakeGraph, tmp_path: Path, recorder: Recorder | None = None, **overrides) -> Fetcher:
    config = dataclasses.replace(GraphConfig.from_env(fake.env()), **overrides)
    recorder = recorder or Recorder()
    client = GraphClient(config, sleep=recorder.sleeps.append, jitter=lambda: 0.5, log=recorder.lines.append)
    settings = Settings.from_env(raw_dir=tmp_path / "raw", warehouse=tmp_path / "wh" / "warehouse.duckdb")
    return Fetcher(settings, config, client)


def landed_ids(raw: Path) -> list[str]:
    ids = []
    for page in sorted((raw / "cdr" / "default").glob("*.json")):
        ids.extend(r["id"] for r in json.loads(page.read_text())["value"])
    return ids


def expected_ids(fake: FakeGraph, start: datetime, end: datetime) -> list[str]:
    return [
        r["id"]
        for r in fake.records
        if start <= datetime.fromisoformat(r["startDateTime"].replace("Z", "+00:00")) < end
    ]


def call_windows(fake: FakeGraph) -> list[tuple[datetime, datetime]]:
    found = []
    for method, target in fake.requests:
        if method == "GET" and "getPstnCalls(" in target and "$skip" not in target:
            inner = target.split("(", 1)[1].rstrip(")")
            start, end = (part.split("=", 1)[1] for part in inner.split(","))
            found.append(
                (
                    datetime.fromisoformat(start.replace("Z", "+00:00")),
                    datetime.fromisoformat(end.replace("Z", "+00:00")),
                )
            )
    return found


def test_windows_cover_the_range_in_at_most_90_days():
    start, end = NOW - timedelta(days=365), NOW
    parts = list(windows(start, end))
    assert parts[0][0] == start and parts[-1][1] == end
    assert all(b - a <= timedelta(days=90) for a, b in parts)
    assert all(parts[i][1] == parts[i + 1][0] for i in range(len(parts) - 1))


def test_first_run_backfills_a_year_in_90_day_windows_following_every_page(fake, tmp_path):
    run = fetcher(fake, tmp_path)
    report = run.run(now=NOW)
    start, end = NOW - timedelta(days=365), NOW - timedelta(minutes=60)
    # The real service refuses a range over 90 days; these are contiguous and cover the year.
    asked = call_windows(fake)
    assert asked == list(windows(start, end)) and len(asked) == 5
    assert all(b - a <= timedelta(days=90) for a, b in asked)
    # Every record once, no gap, no duplicate; every page written exactly as Graph sent it.
    assert landed_ids(run.settings.raw_dir) == expected_ids(fake, start, end)
    pages = sorted((run.settings.raw_dir / "cdr" / "default").glob("*.json"))
    assert report.pages == len(pages) > 5 and report.records == len(expected_ids(fake, start, end))
    assert {hashlib.sha256(p.read_bytes()).hexdigest() for p in pages} <= fake.bodies
    assert any("@odata.nextLink" in json.loads(p.read_text()) for p in pages)
    assert run.state()["pstn_calls"]["fetched_through"] == end.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Today's licence snapshot, in the shape the loader reads.
    snapshot = json.loads(
        (run.settings.raw_dir / "licenses" / "default" / "graph-licences-2024-07-01.json").read_text()
    )
    assert snapshot["snapshot_date"] == "2024-07-01"
    assert snapshot["users"][0]["department"] == "Sales" and snapshot["subscribedSkus"][0]["skuPartNumber"] == "SPE_E5"
    users_request = next(t for m, t in fake.requests if t.startswith("/v1.0/users"))
    assert "assignedLicenses" in users_request and "usageLocation" in users_request and "department" in users_request


def test_the_next_run_resumes_where_the_last_one_stopped(fake, tmp_path):
    fetcher(fake, tmp_path).run(now=NOW)
    fake.requests.clear()
    later = NOW + timedelta(days=1)
    # Calls of the next day (after the first run's end, which is `lag_minutes` before its start).
    fake.records += records_between(NOW - timedelta(minutes=50), later - timedelta(hours=2), timedelta(hours=5), "new")
    run = fetcher(fake, tmp_path)
    run.run(now=later)
    assert call_windows(fake) == [(NOW - timedelta(minutes=60), later - timedelta(minutes=60))]
    ids = landed_ids(run.settings.raw_dir)
    assert len(ids) == len(set(ids)) and ids == expected_ids(
        fake, NOW - timedelta(days=365), later - timedelta(minutes=60)
    )
    # The licence snapshot is taken once a day: a second run on the same day asks nothing.
    fake.requests.clear()
    run.run(now=later + timedelta(hours=1))
    assert not any(t.startswith("/v1.0/users") for _, t in fake.requests)


def test_throttling_honours_retry_after_and_backs_off_on_server_errors(fake, tmp_path):
    fake.faults += [
        Fault("getPstnCalls", 429, headers={"Retry-After": "7"}),
        Fault("getPstnCalls", 503, headers={"Retry-After": "3"}),
        Fault("getPstnCalls", 502),
        Fault("getPstnCalls", 0),  # the connection drops
    ]
    recorder = Recorder()
    run = fetcher(fake, tmp_path, recorder)
    run.run(now=NOW)
    # 429 and 503 wait what the service asks; 502 and the dropped connection back off
    # exponentially (2^(attempt-1) s, times a jitter factor of 0.5 + U[0,1), here 1.0).
    assert recorder.sleeps == [7.0, 3.0, 4.0, 8.0]
    assert any("HTTP 429" in line and "retrying in 7.0 s" in line for line in recorder.lines)
    assert landed_ids(run.settings.raw_dir) == expected_ids(
        fake, NOW - timedelta(days=365), NOW - timedelta(minutes=60)
    )


def test_an_expired_token_is_refreshed_and_the_fetch_goes_on(fake, tmp_path):
    fake.expire_tokens_after = 3  # the service starts refusing the token on the 4th request
    recorder = Recorder()
    run = fetcher(fake, tmp_path, recorder)
    run.run(now=NOW)
    assert fake.token_requests == 2 and run.client.token_requests == 2
    assert "access token expired: signing in again" in recorder.lines
    assert landed_ids(run.settings.raw_dir) == expected_ids(
        fake, NOW - timedelta(days=365), NOW - timedelta(minutes=60)
    )


def test_a_missing_permission_stops_with_its_name(fake, tmp_path):
    fake.forbidden["/subscribedSkus"] = (403, "Authorization_RequestDenied")
    run = fetcher(fake, tmp_path)
    with pytest.raises(FetchError) as error:
        run.run(now=NOW)
    assert "HTTP 403" in str(error.value) and "Organization.Read.All" in str(error.value)
    # The call records fetched before it are kept and recorded; no half snapshot is written.
    assert run.state()["pstn_calls"]["fetched_through"]
    assert not (run.settings.raw_dir / "licenses" / "default").exists() or not list(
        (run.settings.raw_dir / "licenses" / "default").glob("*.json")
    )
    fake.forbidden = {"callRecords": (403, "Forbidden")}
    with pytest.raises(FetchError) as error:
        fetcher(fake, tmp_path / "other").run(now=NOW)
    assert "CallRecords.Read.All" in str(error.value) and "CallRecord-PstnCalls.Read.All" in str(error.value)


def cli_env(fake: FakeGraph, root: Path, **extra: str) -> dict:
    env = dict(os.environ, PSTN_RAW_DIR=str(root / "raw"), PSTN_WAREHOUSE=str(root / "wh" / "warehouse.duckdb"))
    env.update(fake.env())
    env.update(extra)
    return env


def test_the_cli_names_a_wrong_secret_and_never_prints_it(fake, tmp_path):
    env = cli_env(fake, tmp_path, PSTN_GRAPH_CLIENT_SECRET="not-the-secret-42")
    result = pstn(env, "fetch")
    assert result.returncode == 1
    assert "sign-in to tenant 11111111-2222-3333-4444-555555555555 as app app-client-id failed" in result.stderr
    assert "AADSTS7000215" in result.stderr
    assert "not-the-secret-42" not in result.stdout + result.stderr
    assert not list((tmp_path / "raw").rglob("*.json")) or "not-the-secret-42" not in "".join(
        p.read_text() for p in (tmp_path / "raw").rglob("*.json")
    )


def test_a_certificate_signs_in_instead_of_a_secret(fake, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pstn-fetch")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2034, 1, 1, tzinfo=UTC))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "app.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    fake.secret = None
    fake.certificate_public_key = key.public_key()
    env = cli_env(fake, tmp_path, PSTN_GRAPH_CERTIFICATE=str(pem), PSTN_GRAPH_BACKFILL_DAYS="30")
    env.pop("PSTN_GRAPH_CLIENT_SECRET", None)
    result = pstn(env, "fetch", "--no-licences")
    assert result.returncode == 0, result.stderr
    assert fake.token_requests == 1 and "fetched" in result.stdout


@pytest.mark.parametrize(
    ("encrypt_with", "password", "words"),
    [
        (None, "a-password", "the private key is not encrypted, but PSTN_GRAPH_CERTIFICATE_PASSWORD is set"),
        (b"right", None, "the private key is encrypted; set PSTN_GRAPH_CERTIFICATE_PASSWORD"),
        (b"right", "wrong", "PSTN_GRAPH_CERTIFICATE_PASSWORD does not decrypt the private key"),
    ],
)
def test_a_certificate_password_mistake_is_named(fake, tmp_path, encrypt_with, password, words):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = serialization.BestAvailableEncryption(encrypt_with) if encrypt_with else serialization.NoEncryption()
    pem = tmp_path / "app.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    env = cli_env(fake, tmp_path, PSTN_GRAPH_CERTIFICATE=str(pem))
    env.pop("PSTN_GRAPH_CLIENT_SECRET", None)
    if password:
        env["PSTN_GRAPH_CERTIFICATE_PASSWORD"] = password
    result = pstn(env, "fetch", "--no-licences")
    assert result.returncode == 1
    assert words in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_run_killed_midway_resumes_with_no_gap_and_no_duplicate(fake, tmp_path):
    """SIGKILL while the third window's second page is on its way; the next run fetches that
    window again from its start, and the landing folder ends with every record exactly once."""
    now = datetime.now(UTC).replace(microsecond=0)
    fake.records = records_between(now - timedelta(days=366), now - timedelta(hours=3), timedelta(hours=13))
    env = cli_env(fake, tmp_path)
    start = now - timedelta(days=365)
    third = list(windows(start, now))[2][0].strftime("%Y-%m-%dT%H:%M")
    fake.hold_on = (f"fromDateTime={third}", "$skip=40")
    process = subprocess.Popen(
        [sys.executable, "-m", "pstn", "fetch"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert fake.held.wait(120), "the fetcher never asked for the third window's second page"
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    fake.hold_on = None
    fake.release.set()
    raw = tmp_path / "raw"
    state = json.loads((raw / ".pstn-fetch" / "default.json").read_text())
    # Two windows committed; nothing of the third is visible to the loader (only in .fetching/).
    assert state["pstn_calls"]["fetched_through"].startswith(third)
    third_stem = "graph-getPstnCalls-" + third.replace("-", "").replace(":", "")
    assert not [p for p in (raw / "cdr" / "default").glob("*.json") if p.name.startswith(third_stem)]
    assert list((raw / "cdr" / "default" / ".fetching").glob(f"{third_stem}*/*.json"))
    again = pstn(env, "fetch")
    assert again.returncode == 0, again.stderr
    ids = landed_ids(raw)
    assert len(ids) == len(set(ids))
    assert set(ids) == {r["id"] for r in fake.records if r["startDateTime"] >= start.strftime("%Y-%m-%dT%H:%M:%SZ")}
    assert not list((raw / "cdr" / "default" / ".fetching").glob("*/*"))


def test_fetched_pages_rate_like_the_same_calls_exported_as_csv(fake, tmp_path):
    """The same 24 calls, once as an admin-center CSV export and once served by Graph and fetched:
    the marts built from either landing folder are the same, row for row."""
    destinations = [
        ("United States", "+12125550123", "conf_out", ""),
        ("Vietnam", "+842812345678", "conf_out", ""),
        ("Germany", "+4930123456", "conf_out", ""),
        ("United States", "+18005550100", "conf_in", "toll_free"),
        ("United States", "+12065550100", "conf_in", ""),
        ("Japan", "+81312345678", "conf_out", ""),
    ]
    rows = []
    for n in range(24):
        country, number, kind, number_type = destinations[n % len(destinations)]
        start = datetime(2024, 6, 3 + n, 9, n % 60, tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(
            admin_row(
                f"u-{n:03d}",
                start=start,
                seconds=600 + 97 * n,
                **{
                    "Destination Dialed": country,
                    "Destination Number": number,
                    "Call Type": kind,
                    "Number Type": number_type,
                    "AAD ObjectId": f"user-{n % 3}",
                    "UPN": f"user{n % 3}@contoso.example",
                },
            )
        )
    text = admin_csv(*rows)
    licences = (
        "user_id,sku_part_numbers,department\nuser-0,SPE_E5;MCOPSTNC,Sales\nuser-1,SPE_E5,Support\nuser-2,MCOPSTNC,HR\n"
    )
    header = text.splitlines()[0].split(",")
    fake.records = [_graph_record(dict(zip(header, line.split(","), strict=True))) for line in text.splitlines()[1:]]
    fake.page_size = 10
    csv_root, graph_root = tmp_path / "csv", tmp_path / "graph"
    (csv_root / "raw" / "cdr" / "default").mkdir(parents=True)
    (csv_root / "raw" / "cdr" / "default" / "export.csv").write_text(text)
    for root in (csv_root, graph_root):
        (root / "raw" / "licenses" / "default").mkdir(parents=True, exist_ok=True)
        (root / "raw" / "licenses" / "default" / "licences_2024-06-01.csv").write_text(licences)
    env = cli_env(fake, graph_root)
    fetched = pstn(env, "fetch", "--no-licences", "--since", "2024-06-01T00:00:00Z", "--until", "2024-07-01T00:00:00Z")
    assert fetched.returncode == 0, fetched.stderr
    assert len(list((graph_root / "raw" / "cdr" / "default").glob("*.json"))) >= 3
    for run_env in (cli_env(fake, csv_root), env):
        run_env.pop("PSTN_ARCHIVE_DIR", None)
        built = pstn(run_env, "run")
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    marts = (
        "fct_pstn_calls",
        "fct_charges_mcopstnpp",
        "fct_pool_consumption_daily",
        "rpt_monthly_pool_usage",
        "rpt_monthly_charges",
        "rpt_monthly_charges_by_department",
        "rpt_monthly_reconciliation",
    )
    ignore = {"source_path", "rated_at"}  # where the row came from, and when it was rated
    for mart in marts:
        with duckdb.connect(str(csv_root / "wh" / "warehouse.duckdb"), read_only=True) as con:
            columns = [c for c in con.execute(f"select * from marts.{mart} limit 0").pl().columns if c not in ignore]
            from_csv = con.execute(f"select {', '.join(columns)} from marts.{mart} order by all").fetchall()
        with duckdb.connect(str(graph_root / "wh" / "warehouse.duckdb"), read_only=True) as con:
            from_graph = con.execute(f"select {', '.join(columns)} from marts.{mart} order by all").fetchall()
        assert from_csv and from_graph == from_csv, mart
    with duckdb.connect(str(graph_root / "wh" / "warehouse.duckdb"), read_only=True) as con:
        charged = con.execute("select count(*), sum(rated_charge) from marts.fct_charges_mcopstnpp").fetchone()
    assert charged[0] > 0 and charged[1] > 0


def test_the_nightly_fetches_from_graph_when_configured(fake, tmp_path):
    """`make nightly` with PSTN_GRAPH_* set: the fetch step lands the pages and today's licence
    snapshot, the build rates them; a missing permission fails the night with its name and
    leaves the published warehouse as it was."""
    now = datetime.now(UTC).replace(microsecond=0)
    fake.records = records_between(now - timedelta(days=20), now - timedelta(days=1), timedelta(hours=7))
    (tmp_path / "raw").mkdir()
    env = cli_env(fake, tmp_path)
    for key in ("PSTN_ARCHIVE_DIR", "PSTN_EXPORT_DIR", "PSTN_TARGET", "PSTN_WEBHOOK_URL"):
        env.pop(key, None)
    first = subprocess.run([sys.executable, "-m", "pstn", "nightly"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    summary = json.loads((tmp_path / "wh" / "nightly" / "last_run.json").read_text())
    assert [s["step"] for s in summary["steps"]][:4] == ["preflight", "fetch", "verify_archive", "load"]
    assert summary["facts"]["fetched_records"] == len(fake.records)
    with duckdb.connect(str(tmp_path / "wh" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.fct_pstn_calls").fetchone()[0] == len(fake.records)
    with duckdb.connect(str(tmp_path / "wh" / "private" / "warehouse.duckdb"), read_only=True) as con:
        snapshots = con.execute("select count(*) from staging.stg_archive__licence_users").fetchone()[0]
    assert snapshots == 1
    published = (tmp_path / "wh" / "warehouse.duckdb").read_bytes()
    fake.forbidden["/users"] = (403, "Authorization_RequestDenied")
    (tmp_path / "raw" / ".pstn-fetch" / "default.json").unlink()  # a new day: licences are due again
    second = subprocess.run(
        [sys.executable, "-m", "pstn", "nightly"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert second.returncode == 1
    assert "Graph fetch failed" in second.stderr and "User.Read.All" in second.stderr
    assert (tmp_path / "wh" / "warehouse.duckdb").read_bytes() == published


def test_direct_routing_calls_are_fetched_the_same_way_when_asked(fake, tmp_path):
    fake.direct_routing_records = records_between(
        NOW - timedelta(days=100), NOW - timedelta(days=1), timedelta(hours=30), "direct"
    )
    run = fetcher(fake, tmp_path, direct_routing=True)
    run.run(now=NOW, licences=False)
    pages = sorted((run.settings.raw_dir / "cdr" / "default").glob("graph-getDirectRoutingCalls-*.json"))
    ids = [r["id"] for p in pages for r in json.loads(p.read_text())["value"]]
    assert ids == [r["id"] for r in fake.direct_routing_records]
    assert run.state()["direct_routing_calls"]["fetched_through"] == "2024-07-01T11:00:00Z"
    # Without the switch, only PSTN calls are asked for.
    fake.requests.clear()
    fetcher(fake, tmp_path / "plain").run(now=NOW, licences=False)
    assert not any("getDirectRoutingCalls" in target for _, target in fake.requests)
