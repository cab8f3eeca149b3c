"""A fake Microsoft Graph and Entra ID sign-in on 127.0.0.1 that behaves like the real ones where
the fetcher depends on it: client-credentials tokens (secret or certificate assertion) that
expire, `getPstnCalls` / `getDirectRoutingCalls` windows of at most 90 days with
`@odata.nextLink` paging, `/users` and `/subscribedSkus` pages, throttling (429/503 with
Retry-After), server errors, dropped connections and permission errors, all scripted per test."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import re
import threading
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

CALLS = re.compile(
    r"^/v1\.0/communications/callRecords/(getPstnCalls|getDirectRoutingCalls)\(fromDateTime=([^,]+),toDateTime=([^)]+)\)$"
)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Fault:
    """Answer the next `times` requests whose path contains `match` with `status` (or drop the
    connection when status is 0)."""

    match: str
    status: int
    headers: dict = field(default_factory=dict)
    body: dict = field(default_factory=dict)
    times: int = 1


class FakeGraph:
    def __init__(
        self,
        records: list[dict] | None = None,
        page_size: int = 100,
        tenant: str = "11111111-2222-3333-4444-555555555555",
        client_id: str = "app-client-id",
        secret: str | None = "s3cret-value",
        certificate_public_key=None,
        token_lifetime: int = 3600,
        users: list[dict] | None = None,
        skus: list[dict] | None = None,
        direct_routing_records: list[dict] | None = None,
    ) -> None:
        self.records = records or []
        self.direct_routing_records = direct_routing_records or []
        self.page_size = page_size
        self.tenant = tenant
        self.client_id = client_id
        self.secret = secret
        self.certificate_public_key = certificate_public_key
        self.token_lifetime = token_lifetime
        self.users = users or []
        self.skus = skus or []
        self.faults: list[Fault] = []
        self.forbidden: dict[str, tuple[int, str]] = {}
        self.valid_tokens: set[str] = set()
        self.token_requests = 0
        self.requests: list[tuple[str, str]] = []
        self.bodies: set[str] = set()  # sha256 of every page body sent
        self.expire_tokens_after: int | None = None  # expire every token after this many data requests
        self.data_requests = 0
        self.hold_on: tuple[str, ...] | None = None  # substrings of a path+query to stop at until released
        self.held = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self._server: http.server.ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeGraph:
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                fake._token(self)

            def do_GET(self) -> None:
                fake._get(self)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:
                pass  # a client killed mid-request (the crash test) is expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def graph_url(self) -> str:
        return f"{self.base}/v1.0"

    def env(self) -> dict[str, str]:
        env = {
            "PSTN_GRAPH_TENANT_ID": self.tenant,
            "PSTN_GRAPH_CLIENT_ID": self.client_id,
            "PSTN_GRAPH_URL": self.graph_url,
            "PSTN_GRAPH_LOGIN_URL": self.base,
        }
        if self.secret:
            env["PSTN_GRAPH_CLIENT_SECRET"] = self.secret
        return env

    # -- answers --------------------------------------------------------------------------------

    def _send(self, handler, status: int, document: dict, headers: dict | None = None) -> bytes:
        body = json.dumps(document).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, str(value))
        handler.end_headers()
        handler.wfile.write(body)
        return body

    def _fault(self, handler, target: str) -> bool:
        with self.lock:
            fault = next((f for f in self.faults if f.match in target and f.times > 0), None)
            if fault:
                fault.times -= 1
        if not fault:
            return False
        if fault.status == 0:
            handler.connection.shutdown(2)  # the connection drops without an answer
            handler.close_connection = True
            return True
        self._send(
            handler, fault.status, fault.body or {"error": {"code": "Fault", "message": "scripted"}}, fault.headers
        )
        return True

    def _token(self, handler) -> None:
        length = int(handler.headers.get("Content-Length", 0))
        form = dict(urllib.parse.parse_qsl(handler.rfile.read(length).decode()))
        self.requests.append(("POST", handler.path))
        if self._fault(handler, handler.path):
            return
        if handler.path != f"/{self.tenant}/oauth2/v2.0/token":
            self._send(
                handler, 400, {"error": "invalid_request", "error_description": "AADSTS90002: Tenant not found."}
            )
            return
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != self.client_id:
            self._send(handler, 400, {"error": "unauthorized_client", "error_description": "AADSTS700016: unknown app"})
            return
        if not form.get("scope", "").endswith("/.default"):
            self._send(handler, 400, {"error": "invalid_scope", "error_description": "AADSTS1002012: bad scope"})
            return
        if "client_assertion" in form:
            if not self._assertion_ok(form["client_assertion"], handler.path):
                self._send(
                    handler, 401, {"error": "invalid_client", "error_description": "AADSTS700027: bad assertion"}
                )
                return
        elif form.get("client_secret") != self.secret:
            self._send(
                handler,
                401,
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
            )
            return
        with self.lock:
            self.token_requests += 1
            token = f"token-{self.token_requests}"
            self.valid_tokens.add(token)
        self._send(handler, 200, {"token_type": "Bearer", "expires_in": self.token_lifetime, "access_token": token})

    def _assertion_ok(self, assertion: str, path: str) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        header, claims, signature = assertion.split(".")
        try:
            self.certificate_public_key.verify(
                _b64decode(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature:
            return False
        body = json.loads(_b64decode(claims))
        return body["iss"] == body["sub"] == self.client_id and body["aud"].endswith(path)

    def _get(self, handler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        path = urllib.parse.unquote(parts.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        target = path + ("?" + parts.query if parts.query else "")
        self.requests.append(("GET", target))
        if self.hold_on and all(part in target for part in self.hold_on):
            self.held.set()
            self.release.wait(60)
        if self._fault(handler, target):
            return
        token = (handler.headers.get("Authorization") or "").removeprefix("Bearer ")
        with self.lock:
            self.data_requests += 1
            if self.expire_tokens_after is not None and self.data_requests > self.expire_tokens_after:
                self.valid_tokens.clear()
                self.expire_tokens_after = None
            valid = token in self.valid_tokens
        if not valid:
            self._send(
                handler,
                401,
                {
                    "error": {
                        "code": "InvalidAuthenticationToken",
                        "message": "Access token has expired or is not yet valid.",
                    }
                },
            )
            return
        for part, (status, code) in self.forbidden.items():
            if part in path:
                self._send(
                    handler,
                    status,
                    {"error": {"code": code, "message": "Insufficient privileges to complete the operation."}},
                )
                return
        match = CALLS.match(path)
        if match:
            function, start, end = match.group(1), _time(match.group(2)), _time(match.group(3))
            if end - start > timedelta(days=90):
                self._send(
                    handler, 400, {"error": {"code": "BadRequest", "message": "The time range cannot exceed 90 days."}}
                )
                return
            source = self.records if function == "getPstnCalls" else self.direct_routing_records
            rows = [r for r in source if start <= _time(r["startDateTime"]) < end]
            self._page(handler, rows, f"{self.graph_url}{path[len('/v1.0') :]}", query, "pstnCallLogRow")
        elif path == "/v1.0/users":
            self._page(handler, self.users, f"{self.graph_url}/users", query, "users", keep=("$select", "$top"))
        elif path == "/v1.0/subscribedSkus":
            self._page(handler, self.skus, f"{self.graph_url}/subscribedSkus", query, "subscribedSkus")
        else:
            self._send(handler, 404, {"error": {"code": "ResourceNotFound", "message": path}})

    def _page(self, handler, rows: list, url: str, query: dict, context: str, keep=()) -> None:
        skip = int(query.get("$skip", 0))
        document = {
            "@odata.context": f"{self.graph_url}/$metadata#{context}",
            "value": rows[skip : skip + self.page_size],
        }
        if skip + self.page_size < len(rows):
            params = {k: query[k] for k in keep if k in query} | {"$skip": skip + self.page_size}
            document["@odata.nextLink"] = f"{url}?{urllib.parse.urlencode(params, safe='$,')}"
        body = self._send(handler, 200, document)
        with self.lock:
            self.bodies.add(hashlib.sha256(body).hexdigest())
