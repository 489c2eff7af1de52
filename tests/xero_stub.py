"""Helpers for the Xero tests (tests/ is on pytest's pythonpath; fixtures are in conftest.py).

- secrets_of(): every token the store and the sandbox hold.
- XeroStub: a real HTTP server on 127.0.0.1 (port 0) answering Xero's identity and accounting
  URLs with bodies shaped like the OpenAPI examples, scriptable per route (status, headers,
  body, delay) to produce 401, 403, 429, 500-then-200, slow and malformed answers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
import threading
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit


def secrets_of(db: Any) -> list[str]:
    """Every token the store and the sandbox hold."""
    rows = db.execute(
        "SELECT access_token, refresh_token FROM credentials UNION ALL "
        "SELECT access_token, refresh_token FROM sandbox_grants"
    ).fetchall()
    return [v for row in rows for v in row if v]


# --- a real HTTP server -------------------------------------------------------------------------

# Bodies as the OpenAPI examples show them (xero-identity.yaml, xero_accounting.yaml).
ORGANISATION = {
    "Id": "27b7a645-a3ee-43c8-b2c6-a2fa7b84c8c5",
    "Status": "OK",
    "ProviderName": "Provider Name Example",
    "DateTimeUTC": "/Date(1552404447003)/",
    "Organisations": [
        {
            "APIKey": "CTJ60UH519MXQIXEJSDPDALS3EOZ5Y",
            "Name": "Harbourside Coffee Roasters",
            "LegalName": "Harbourside Coffee Roasters Ltd",
            "PaysTax": True,
            "Version": "NZ",
            "OrganisationType": "COMPANY",
            "BaseCurrency": "NZD",
            "CountryCode": "NZ",
            "IsDemoCompany": False,
            "OrganisationStatus": "ACTIVE",
            "OrganisationID": "b2c885a9-4bb9-4a00-9b6e-6c2bf60b1a2b",
        }
    ],
}
ACCOUNTS = {
    "Accounts": [
        {
            "AccountID": "ebd06280-af70-4bed-97c6-7451a454ad85",
            "Code": "091",
            "Name": "Business Savings Account",
            "Type": "BANK",
            "TaxType": "NONE",
            "EnablePaymentsToAccount": False,
            "BankAccountNumber": "0209087654321050",
            "BankAccountType": "BANK",
            "CurrencyCode": "NZD",
        },
        {
            "AccountID": "7d05a53d-613d-4eb2-a2fc-dcb6adb80b80",
            "Code": "200",
            "Name": "Sales",
            "Type": "REVENUE",
            "TaxType": "OUTPUT2",
            "Description": "Income from any normal business activity",
            "EnablePaymentsToAccount": False,
        },
    ]
}
TAX_RATES = {
    "TaxRates": [
        {
            "Name": "15% GST on Expenses",
            "TaxType": "INPUT2",
            "ReportTaxType": "INPUT",
            "CanApplyToExpenses": True,
            "CanApplyToRevenue": False,
            "DisplayTaxRate": 15.0,
            "EffectiveRate": 15.0,
            "Status": "ACTIVE",
        },
        {
            "Name": "15% GST on Income",
            "TaxType": "OUTPUT2",
            "ReportTaxType": "OUTPUT",
            "CanApplyToExpenses": False,
            "CanApplyToRevenue": True,
            "DisplayTaxRate": 15.0,
            "EffectiveRate": 15.0,
            "Status": "ACTIVE",
        },
    ]
}


class XeroStub(ThreadingHTTPServer):
    """Xero on 127.0.0.1: identity under /identity, the API under /api.

    `script[(method, path)]` is a deque of answers (status, headers, body, delay) used one per
    request, the last one repeating (`{authorization}` and `{token}` in a body echo the
    request's credentials); unscripted routes answer like a healthy Xero. Every request
    is kept in `seen` as (method, path, headers).
    """

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: dict[tuple[str, str], deque] = {}
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.tenants: dict[str, str] = {}  # tenant id -> name
        self.connection_ids: dict[str, str] = {}
        self.stopping = threading.Event()
        self.rotations = 0
        # The consent page: code -> (redirect_uri, code_challenge, scope); `consent_error`
        # makes it redirect with error=... (access_denied: the user declined).
        self.codes: dict[str, tuple[str, str, str]] = {}
        self.consent_error: str | None = None
        self.token_forms: list[dict[str, str]] = []

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api"

    @property
    def login_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/login/identity/connect/authorize"

    @property
    def identity_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/identity"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gives up (a timeout, a closed keep-alive connection) resets its socket;
        # that is the client's business, not a server fault to print into a test's stderr.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def answer(self, method: str, path: str, *answers: tuple) -> None:
        self.script[(method, path)] = deque(answers)

    def scripted(self, method: str, path: str) -> tuple | None:
        queue = self.script.get((method, path))
        if not queue:
            return None
        return queue.popleft() if len(queue) > 1 else queue[0]


def problem(status: int, title: str, detail: str) -> bytes:
    return json.dumps(
        {
            "Type": None,
            "Title": title,
            "Status": status,
            "Detail": detail,
            "Instance": str(uuid.uuid4()),
            "Extensions": {},
        }
    ).encode()


# Answers for XeroStub.answer: each way a call to Xero can fail.
FAILURES = {
    "401": (
        401,
        {"WWW-Authenticate": "Bearer error=invalid_token"},
        problem(401, "Unauthorized", "AuthenticationUnsuccessful"),
    ),
    "403": (403, {}, problem(403, "Forbidden", "AuthenticationUnsuccessful")),
    "404": (
        404,
        {"Content-Type": "text/plain"},
        b"The resource you're looking for cannot be found",
    ),
    "429": (429, {"Retry-After": "3600", "X-Rate-Limit-Problem": "minute"}, b""),
    "500": (500, {"Xero-Correlation-Id": "c-500"}, b""),
    "timeout": (200, {}, b"{}", 1.0),
    "malformed": (200, {}, b'{"Organisations": [{'),
}


class _Handler(BaseHTTPRequestHandler):
    server: XeroStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep pytest output quiet
        pass

    def _reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        if delay and self.server.stopping.wait(delay):
            return
        headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        headers.setdefault("Xero-Correlation-Id", str(uuid.uuid4()))
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        self.server.seen.append((self.command, path, dict(self.headers)))
        scripted = self.server.scripted(self.command, path)
        if scripted is not None:
            status, headers, body, *rest = scripted
            # {authorization} and {token} echo the request's credentials, as some servers do
            sent = self.headers.get("Authorization", "")
            body = body.replace(b"{authorization}", sent.encode())
            body = body.replace(b"{token}", sent.partition(" ")[2].encode())
            self._reply(status, body, headers, rest[0] if rest else 0.0)
            return
        if path == "/identity/connect/token":
            self._token(raw)
        elif path == "/login/identity/connect/authorize" and self.command == "GET":
            self._consent()
        elif not self.headers.get("Authorization", "").startswith("Bearer stub-at-"):
            self._reply(
                401,
                problem(401, "Unauthorized", "AuthenticationUnsuccessful"),
                {"WWW-Authenticate": "Bearer error=invalid_token"},
            )
        elif path == "/api/connections" and self.command == "GET":
            body = [
                {
                    "id": self.server.connection_ids.setdefault(t, str(uuid.uuid4())),
                    "tenantId": t,
                    "tenantName": name,
                    "tenantType": "ORGANISATION",
                    "createdDateUtc": "2019-12-07T18:46:19.5165400",
                    "updatedDateUtc": "2019-12-07T18:46:19.5187840",
                }
                for t, name in self.server.tenants.items()
            ]
            self._reply(200, json.dumps(body).encode())
        elif path.startswith("/api/connections/") and self.command == "DELETE":
            self._reply(204)
        elif path.startswith("/api/api.xro/2.0/"):
            self._accounting(path.rsplit("/", 1)[1], raw)
        else:
            self._reply(
                404,
                b"The resource you're looking for cannot be found",
                {"Content-Type": "text/plain"},
            )

    def _consent(self) -> None:
        """Xero's consent page, the user already signed in and clicking "Allow access"."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        redirect = query.get("redirect_uri", "")
        back = {"state": query["state"]} if "state" in query else {}
        if self.server.consent_error:
            back["error"] = self.server.consent_error
        else:
            code = f"stub-code-{uuid.uuid4()}"
            self.server.codes[code] = (
                redirect,
                query.get("code_challenge", ""),
                query.get("scope", ""),
            )
            back = {"code": code, "scope": query.get("scope", ""), **back}
        self._reply(302, b"", {"Location": f"{redirect}?{urlencode(back)}"})

    def _token(self, raw: bytes) -> None:
        auth = self.headers.get("Authorization", "")
        pair = base64.b64decode(auth[6:]).decode() if auth.startswith("Basic ") else ""
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        self.server.token_forms.append(form)
        public = not auth and form.get("client_id") == "stub-id"  # a PKCE public client
        scope = "openid offline_access accounting.transactions"
        if pair != "stub-id:stub-secret" and not public:
            self._reply(400, json.dumps({"error": "invalid_client"}).encode())
            return
        if form.get("grant_type") == "authorization_code":
            redirect, challenge, scope = self.server.codes.pop(form.get("code", ""), ("", "", ""))
            verifier = form.get("code_verifier", "").encode()
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if (
                not redirect
                or redirect != form.get("redirect_uri")
                or (digest.decode() != challenge)
            ):
                self._reply(400, json.dumps({"error": "invalid_grant"}).encode())
                return
        elif form.get("grant_type") != "refresh_token" or form.get("refresh_token", "").startswith(
            "revoked"
        ):
            self._reply(400, json.dumps({"error": "invalid_grant"}).encode())
            return
        self.server.rotations += 1
        body = {
            "access_token": f"stub-at-{uuid.uuid4()}",
            "expires_in": 1800,
            "token_type": "Bearer",
            "refresh_token": f"stub-rt-{uuid.uuid4()}",
            "scope": scope,
        }
        self._reply(200, json.dumps(body).encode())

    def _accounting(self, resource: str, raw: bytes) -> None:
        tenant = self.headers.get("xero-tenant-id")
        if tenant not in self.server.tenants:
            self._reply(403, problem(403, "Forbidden", "AuthenticationUnsuccessful"))
            return
        bodies = {
            "Organisation": ORGANISATION,
            "Accounts": ACCOUNTS,
            "TaxRates": TAX_RATES,
            "TrackingCategories": {"TrackingCategories": []},
            "Contacts": {"Contacts": []},
        }
        if self.command == "GET" and resource in bodies:
            self._reply(
                200,
                json.dumps(bodies[resource]).encode(),
                {"X-MinLimit-Remaining": "59", "X-DayLimit-Remaining": "4999"},
            )
        elif self.command in ("PUT", "POST") and resource in (
            "Invoices",
            "CreditNotes",
            "ManualJournals",
        ):
            sent = json.loads(raw)[resource][0]
            sent["InvoiceID" if resource == "Invoices" else "CreditNoteID"] = str(uuid.uuid4())
            self._reply(200, json.dumps({"Status": "OK", resource: [sent]}).encode())
        else:
            self._reply(
                404,
                b"The resource you're looking for cannot be found",
                {"Content-Type": "text/plain"},
            )

    do_GET = do_POST = do_PUT = do_DELETE = _handle
