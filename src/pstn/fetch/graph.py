"""Fetch call records and licences from Microsoft Graph, unattended.

App-only sign-in (OAuth 2.0 client credentials, with a client secret or a certificate), then:

* `GET /communications/callRecords/getPstnCalls(fromDateTime=...,toDateTime=...)` (and, when asked,
  `getDirectRoutingCalls`) in windows of at most 90 days (UTC), following `@odata.nextLink`; each
  page is written unchanged under `$PSTN_RAW_DIR/cdr/<tenant>/`, where the loader reads Graph
  pages. A window's pages are first written to a hidden scratch folder (`.fetching/`, which the
  loader skips) and moved into place together, and only then does the state file
  (`$PSTN_RAW_DIR/.pstn-fetch/<tenant>.json`) advance to the window's end: a run killed midway
  fetches that window again, so nothing is missed and no page lands twice.
* `GET /users` (assignedLicenses, usageLocation, department) and `GET /subscribedSkus`, written as
  the day's licence snapshot `licenses/<tenant>/graph-licences-<date>.json`.

Throttling and faults: `Retry-After` is honoured on 429 and 503; other 5xx and network errors back
off exponentially with jitter; an expired token is refreshed once per request; 401 and 403 stop
with the permission the call needs. Secrets are read from the environment only, never written to
disk or printed.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import random
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from pstn.files import write_text_atomically
from pstn.settings import Settings

WINDOW = timedelta(days=90)
CALL_FUNCTIONS = {
    "pstn_calls": "getPstnCalls",
    "direct_routing_calls": "getDirectRoutingCalls",
}
PERMISSIONS = {
    "callRecords": "CallRecords.Read.All (or CallRecord-PstnCalls.Read.All for PSTN calls only)",
    "users": "User.Read.All",
    "subscribedSkus": "Organization.Read.All",
}
USER_FIELDS = "id,userPrincipalName,displayName,assignedLicenses,usageLocation,department"


class FetchError(Exception):
    """A fetch that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class GraphConfig:
    tenant_id: str
    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    certificate: Path | None = None
    certificate_password: str | None = field(default=None, repr=False)
    tenant_key: str = "default"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    login_url: str = "https://login.microsoftonline.com"
    backfill_days: int = 365
    lag_minutes: int = 60
    direct_routing: bool = False
    max_attempts: int = 8
    timeout_seconds: float = 60.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> GraphConfig | None:
        """None when `PSTN_GRAPH_TENANT_ID` is not set (the fetcher is not configured)."""
        env = os.environ if environ is None else environ
        tenant_id = env.get("PSTN_GRAPH_TENANT_ID")
        if not tenant_id:
            return None
        client_id = env.get("PSTN_GRAPH_CLIENT_ID")
        secret = env.get("PSTN_GRAPH_CLIENT_SECRET") or None
        certificate = env.get("PSTN_GRAPH_CERTIFICATE") or None
        if not client_id:
            raise FetchError("PSTN_GRAPH_CLIENT_ID is not set (the app registration's application id)")
        if not secret and not certificate:
            raise FetchError(
                "set PSTN_GRAPH_CLIENT_SECRET, or PSTN_GRAPH_CERTIFICATE (a PEM file holding the private key "
                "and the certificate uploaded to the app registration)"
            )
        return cls(
            tenant_id=tenant_id,
            client_id=client_id,
            client_secret=secret,
            certificate=Path(certificate) if certificate else None,
            certificate_password=env.get("PSTN_GRAPH_CERTIFICATE_PASSWORD") or None,
            tenant_key=env.get("PSTN_GRAPH_TENANT_KEY") or "default",
            graph_url=(env.get("PSTN_GRAPH_URL") or cls.graph_url).rstrip("/"),
            login_url=(env.get("PSTN_GRAPH_LOGIN_URL") or cls.login_url).rstrip("/"),
            backfill_days=int(env.get("PSTN_GRAPH_BACKFILL_DAYS") or 365),
            lag_minutes=int(env.get("PSTN_GRAPH_LAG_MINUTES") or 60),
            direct_routing=(env.get("PSTN_GRAPH_DIRECT_ROUTING") or "").lower() in ("1", "true", "yes"),
        )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def windows(start: datetime, end: datetime, size: timedelta = WINDOW) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) in consecutive windows of at most `size`, no gap and no overlap."""
    cursor = start
    while cursor < end:
        upper = min(cursor + size, end)
        yield cursor, upper
        cursor = upper


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class GraphClient:
    """HTTP with sign-in, retries and clear failures. `sleep`, `clock` and `jitter` are injectable
    so tests can observe the waits without waiting."""

    def __init__(
        self,
        config: GraphConfig,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        log: Callable[[str], None] = print,
    ) -> None:
        self.config = config
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter
        self.log = log
        self._token: str | None = None
        self._token_expires = 0.0
        self.token_requests = 0

    # -- sign-in --------------------------------------------------------------------------------

    def _client_assertion(self, audience: str) -> str:
        """A JWT signed with the certificate's private key (RFC 7523), as Entra ID expects."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            pem = self.config.certificate.read_bytes()
        except OSError as error:
            raise FetchError(
                f"PSTN_GRAPH_CERTIFICATE {self.config.certificate} cannot be read: {error.strerror}"
            ) from error
        key = _private_key(pem, self.config.certificate, self.config.certificate_password)
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as error:
            raise FetchError(
                f"{self.config.certificate}: holds no PEM certificate beside the private key "
                "(put the certificate and its key in one PEM file)"
            ) from error
        thumbprint = certificate.fingerprint(hashes.SHA1())
        now = int(self.clock())
        header = {"alg": "RS256", "typ": "JWT", "x5t": _b64url(thumbprint)}
        claims = {
            "aud": audience,
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "jti": str(uuid.uuid4()),
            "nbf": now,
            "exp": now + 600,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def _sign_in(self) -> None:
        url = f"{self.config.login_url}/{urllib.parse.quote(self.config.tenant_id)}/oauth2/v2.0/token"
        graph_root = urllib.parse.urlsplit(self.config.graph_url)
        form = {
            "grant_type": "client_credentials",
            "client_id": self.config.client_id,
            "scope": f"{graph_root.scheme}://{graph_root.netloc}/.default",
        }
        if self.config.client_secret:
            form["client_secret"] = self.config.client_secret
        else:
            form["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            form["client_assertion"] = self._client_assertion(url)
        body = urllib.parse.urlencode(form).encode()
        status, _, payload = self._send(urllib.request.Request(url, data=body, method="POST"), what="sign-in")
        self.token_requests += 1
        document = _json(payload)
        if status != 200 or "access_token" not in document:
            detail = document.get("error_description") or document.get("error") or f"HTTP {status}"
            raise FetchError(
                f"sign-in to tenant {self.config.tenant_id} as app {self.config.client_id} failed: "
                f"{str(detail).splitlines()[0]}"
            )
        self._token = document["access_token"]
        self._token_expires = self.clock() + float(document.get("expires_in", 3600)) - 60

    def token(self) -> str:
        if self._token is None or self.clock() >= self._token_expires:
            self._sign_in()
        return self._token

    # -- requests -------------------------------------------------------------------------------

    def get(self, url: str, area: str) -> bytes:
        """The body of a 200 response to GET `url`; `area` names the permission on 401/403."""
        refreshed = False
        while True:
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token()}"})
            status, _, payload = self._send(request, what=url)
            if status == 200:
                return payload
            error = _json(payload).get("error") or {}
            code = error.get("code", "") if isinstance(error, dict) else ""
            message = error.get("message", "") if isinstance(error, dict) else ""
            if status == 401 and not refreshed and ("expired" in message.lower() or code in _EXPIRED_CODES):
                self.log("access token expired: signing in again")
                self._token = None
                refreshed = True
                continue
            if status in (401, 403):
                raise FetchError(
                    f"HTTP {status} {code or ''} on {_path(url)}: the app registration needs the application "
                    f"permission {PERMISSIONS[area]} with admin consent ({message or 'access denied'})"
                )
            raise FetchError(f"HTTP {status} {code} on {_path(url)}: {message or payload[:200]!r}")

    def _send(self, request: urllib.request.Request, what: str) -> tuple[int, dict, bytes]:
        """One request with retries: Retry-After on 429/503, backoff with jitter on 5xx and
        network errors. Returns (status, headers, body) of the first other answer."""
        last = ""
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.config.timeout_seconds) as response:
                    return response.status, dict(response.headers), response.read()
            except urllib.error.HTTPError as error:
                body = error.read()
                status = error.code
                if status not in (429, 500, 502, 503, 504):
                    return status, dict(error.headers), body
                wait = _retry_after(error.headers.get("Retry-After"), self.clock()) if status in (429, 503) else None
                last = f"HTTP {status}"
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as error:
                wait = None
                last = f"network error: {getattr(error, 'reason', error)}"
            if attempt == self.config.max_attempts:
                break
            if wait is None:
                wait = min(60.0, 2.0 ** (attempt - 1)) * (0.5 + self.jitter())
            self.log(f"{last} on {_path(what)}: retrying in {wait:.1f} s (attempt {attempt + 1})")
            self.sleep(wait)
        raise FetchError(f"gave up on {_path(what)} after {self.config.max_attempts} attempts: {last}")


_EXPIRED_CODES = {"InvalidAuthenticationToken", "TokenExpired", "ExpiredAuthenticationToken"}


def _private_key(pem: bytes, path: Path, password: str | None):
    """The private key of a PEM file, with a message that says which of the operator's settings
    is wrong: a password given for a key that has none, none for one that needs it, a wrong one."""
    from cryptography.hazmat.primitives import serialization

    secret = password.encode() if password else None
    try:
        return serialization.load_pem_private_key(pem, password=secret)
    except TypeError as error:
        if secret is not None:
            raise FetchError(
                f"{path}: the private key is not encrypted, but PSTN_GRAPH_CERTIFICATE_PASSWORD is set; unset it"
            ) from error
        raise FetchError(
            f"{path}: the private key is encrypted; set PSTN_GRAPH_CERTIFICATE_PASSWORD to its password"
        ) from error
    except ValueError as error:
        if secret is not None and b"ENCRYPTED" in pem:
            raise FetchError(f"{path}: PSTN_GRAPH_CERTIFICATE_PASSWORD does not decrypt the private key") from error
        raise FetchError(f"{path}: not a PEM file with a private key and a certificate") from error


def _json(payload: bytes) -> dict:
    try:
        document = json.loads(payload or b"{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}


def _path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.unquote(parts.path) if parts.scheme else url


def _retry_after(value: str | None, now: float) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        moment = email.utils.parsedate_to_datetime(value)
        return max(0.0, moment.timestamp() - now) if moment else None


@dataclass
class FetchReport:
    pages: int = 0
    records: int = 0
    windows: int = 0
    licence_snapshot: str | None = None


class Fetcher:
    """Pages into the landing folder, resuming from the state file."""

    def __init__(self, settings: Settings, config: GraphConfig, client: GraphClient | None = None) -> None:
        self.settings = settings
        self.config = config
        self.client = client or GraphClient(config)
        # In the landing folder, beside the pages it describes; the loader skips dot folders.
        self.state_dir = settings.raw_dir / ".pstn-fetch"
        self.state_file = self.state_dir / f"{_safe(config.tenant_key)}.json"
        self.cdr_dir = settings.raw_dir / "cdr" / config.tenant_key
        self.licence_dir = settings.raw_dir / "licenses" / config.tenant_key

    def state(self) -> dict:
        if self.state_file.exists():
            return json.loads(self.state_file.read_text())
        return {}

    def _save_state(self, state: dict) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomically(self.state_file, json.dumps(state, indent=1, sort_keys=True))

    def run(
        self,
        now: datetime | None = None,
        licences: bool = True,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> FetchReport:
        """Fetch from the state file's moment (or `since`, or `backfill_days` ago on a first
        run) up to `until` (default: now minus `lag_minutes`), then today's licences."""
        now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        report = FetchReport()
        kinds = ["pstn_calls"] + (["direct_routing_calls"] if self.config.direct_routing else [])
        for kind in kinds:
            self.fetch_calls(kind, now, report, since, until)
        if licences:
            self.fetch_licences(now.date(), report)
        return report

    def fetch_calls(
        self,
        kind: str,
        now: datetime,
        report: FetchReport,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        function = CALL_FUNCTIONS[kind]
        state = self.state()
        through = state.get(kind, {}).get("fetched_through")
        if since is not None:
            start = since
        elif through:
            start = parse_iso(through)
        else:
            start = now - timedelta(days=self.config.backfill_days)
        end = until or now - timedelta(minutes=self.config.lag_minutes)
        for window_start, window_end in windows(start, end):
            url = (
                f"{self.config.graph_url}/communications/callRecords/{function}"
                f"(fromDateTime={iso(window_start)},toDateTime={iso(window_end)})"
            )
            stem = f"graph-{function}-{window_start:%Y%m%dT%H%M%SZ}-{window_end:%Y%m%dT%H%M%SZ}"
            scratch = self.cdr_dir / ".fetching" / stem
            shutil.rmtree(scratch, ignore_errors=True)
            scratch.mkdir(parents=True)
            pages = 0
            for body, items in self._pages(url, "callRecords"):
                pages += 1
                (scratch / f"{stem}-p{pages:04d}.json").write_bytes(body)
                report.records += len(items)
            self._commit_window(scratch, stem)
            report.windows += 1
            report.pages += pages
            state = self.state()
            previous = state.get(kind, {}).get("fetched_through")
            if previous is None or parse_iso(previous) <= window_end:
                state[kind] = {"fetched_through": iso(window_end), "updated_at": iso(datetime.now(UTC))}
            self._save_state(state)
            self.client.log(f"{function} {iso(window_start)} .. {iso(window_end)}: {pages} page(s)")

    def _commit_window(self, scratch: Path, stem: str) -> None:
        """Move a whole window's pages into the landing folder (replacing any earlier copy of
        that window, page for page), so the loader never sees half a window."""
        self.cdr_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.cdr_dir.glob(f"{stem}-p*.json"):
            stale.unlink()
        for page in sorted(scratch.iterdir()):
            os.replace(page, self.cdr_dir / page.name)
        scratch.rmdir()

    def _pages(self, url: str, area: str) -> Iterator[tuple[bytes, list]]:
        """Each page's body as received and its `value` items, following `@odata.nextLink`."""
        while url:
            body = self.client.get(url, area)
            document = _json(body)
            if not isinstance(document.get("value"), list):
                raise FetchError(f"{_path(url)}: the answer is not a Graph page with a 'value' array")
            yield body, document["value"]
            url = document.get("@odata.nextLink")

    def _all_pages(self, url: str, area: str) -> list:
        return [item for _, items in self._pages(url, area) for item in items]

    def fetch_licences(self, day: date, report: FetchReport) -> None:
        state = self.state()
        if state.get("licences", {}).get("snapshot_date") == day.isoformat():
            return
        users = self._all_pages(f"{self.config.graph_url}/users?$select={USER_FIELDS}&$top=999", "users")
        skus = self._all_pages(f"{self.config.graph_url}/subscribedSkus", "subscribedSkus")
        self.licence_dir.mkdir(parents=True, exist_ok=True)
        path = self.licence_dir / f"graph-licences-{day.isoformat()}.json"
        write_text_atomically(
            path, json.dumps({"snapshot_date": day.isoformat(), "users": users, "subscribedSkus": skus})
        )
        state = self.state()
        state["licences"] = {"snapshot_date": day.isoformat(), "users": len(users), "skus": len(skus)}
        self._save_state(state)
        report.licence_snapshot = str(path.relative_to(self.settings.raw_dir))
        self.client.log(f"licence snapshot {day}: {len(users)} users, {len(skus)} subscribed SKUs")


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key) or hashlib.sha256(key.encode()).hexdigest()
