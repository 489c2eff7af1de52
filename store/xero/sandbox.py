"""The embedded Xero: an httpx transport that answers like api.xero.com and identity.xero.com.

It serves the store's sandbox_* tables (built from sample_data/xero.yaml and orgs.yaml) with the
real API's URLs, headers, status codes and JSON shapes, so the client cannot tell it from Xero:

- POST /connect/token (Basic auth): refresh_token and authorization_code grants. Refresh tokens
  rotate on every use (the old one stops working at once; Xero's 30-minute grace period is not
  modelled); an unknown, used or NULL refresh token answers 400 {"error": "invalid_grant"}.
- GET /connections, DELETE /connections/{id} (204, or 404 when unknown), for the grant (one Xero
  user's authorisation) that owns the bearer token.
- /api.xro/2.0/...: unknown or expired bearer token -> 401 with Xero's body and
  `WWW-Authenticate: Bearer error=invalid_token`; missing xero-tenant-id, or a tenant without a
  live connection for that grant -> 403 AuthenticationUnsuccessful; a tenant with
  behaviour.outage -> 503 "Organisation offline"; then the rate limits (below); then GET
  Organisation, Accounts, TaxRates, TrackingCategories, Contacts (where=EmailAddress=="...")
  and PUT/POST Invoices, CreditNotes, ManualJournals, validated like Xero does (unknown or
  archived account code, unusable TaxType, duplicate invoice number, ...) with the 400
  ValidationException body (Elements[].ValidationErrors[].Message) in Xero's wording.
- Every response carries a fresh Xero-Correlation-Id; tenant calls carry X-MinLimit-Remaining,
  X-DayLimit-Remaining and X-AppMinLimit-Remaining.

Rate limits. Every tenant has Xero's real minute limit (60 calls in any 60 s, counted in this
transport's memory). A tenant whose behaviour has `rate_limit: {problem, retry_after}` is
"busy" (another app burns its allowance) in a fixed cycle measured on the transport's clock: the
first call starts a cycle; for `retry_after` seconds every call answers 429 with
`Retry-After: <seconds left>` and `X-Rate-Limit-Problem: <problem>`; the following
`open_seconds` (default 60) calls are served; the next call after that starts a new cycle. The
cycle start is kept in the tenant's behaviour JSON (`cycle_started`, epoch seconds), so separate
processes agree. A client that honours Retry-After therefore always gets through, and tests
that share a fake clock between this transport and the client's sleep finish at once.

Created documents are kept in a table of the sandbox's own, sandbox_documents (created here if
missing), so invoice numbers stay unique and Idempotency-Key replays return the first answer.

Each request opens its own SQLite connection to the store file (writes in BEGIN IMMEDIATE), so
the transport can be used from a worker thread while the caller holds its own connection.
"""

from __future__ import annotations

import base64
import calendar
import json
import math
import os
import re
import secrets
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs

import httpx

from store.clock import epoch as clock_epoch
from store.errors import XeroConsentRequired

SANDBOX_REDIRECT = "http://localhost:8765/syncdesk/callback"
SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)
ACCESS_LIFETIME = 1800  # 30 minutes, as Xero
CODE_LIFETIME = 300  # authorisation codes: 5 minutes
MINUTE_LIMIT = 60
DAY_LIMIT = 5000
APP_MINUTE_LIMIT = 10_000
ACCOUNTING = "/api.xro/2.0/"
_NS = uuid.UUID("6f1c1c8e-8c9a-4f7e-9a51-5d0c3c1b2a77")
_WHERE_EMAIL = re.compile(r'EmailAddress\s*==\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_CLASS = {
    **dict.fromkeys(("REVENUE", "SALES", "OTHERINCOME"), "REVENUE"),
    **dict.fromkeys(("DIRECTCOSTS", "EXPENSE", "OVERHEADS", "DEPRECIATN"), "EXPENSE"),
    **dict.fromkeys(("CURRLIAB", "LIABILITY", "TERMLIAB", "PAYG"), "LIABILITY"),
    "EQUITY": "EQUITY",
}
_VERSION = {"NZ": ("NZ", "NZ"), "AU": ("AU", "AU"), "UK": ("UK", "GB")}
_DOCUMENTS_SQL = """
CREATE TABLE IF NOT EXISTS sandbox_documents (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    resource TEXT NOT NULL,       -- Invoices, CreditNotes, ManualJournals
    type TEXT,
    number TEXT,
    document_id TEXT NOT NULL,
    idempotency_key TEXT,
    body TEXT NOT NULL,           -- the created document as Xero returned it
    created_at TEXT NOT NULL
)
"""
_DOCUMENTS_INDEX = (
    "CREATE INDEX IF NOT EXISTS sandbox_documents_number "
    "ON sandbox_documents(tenant_id, resource, number)"
)

# Authorisation codes live only in memory: consent and the code exchange happen in one process.
_CODES: dict[str, tuple[str, int, str, float]] = {}  # code -> (store path, org id, redirect, exp)
_CODES_LOCK = threading.Lock()
_READY: set[str] = set()


class _Answer(Exception):
    """Stop handling a request and send this response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _epoch(stamp: str | None) -> float:
    """Epoch seconds of a store time ('YYYY-MM-DDTHH:MM:SSZ'); 0 for none."""
    if not stamp:
        return 0.0
    return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))


def _msdate(epoch: float) -> str:
    return f"/Date({int(epoch * 1000)}+0000)/"


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def _text_response(status: int, text: str, headers: dict[str, str] | None = None):
    return httpx.Response(
        status,
        content=text.encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
    )


def _problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None):
    body = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return _json_response(status, body, headers)


def _unauthorised() -> _Answer:
    return _Answer(
        _problem(
            401,
            "Unauthorized",
            "AuthenticationUnsuccessful",
            {"WWW-Authenticate": "Bearer error=invalid_token"},
        )
    )


def _forbidden() -> _Answer:
    return _Answer(_problem(403, "Forbidden", "AuthenticationUnsuccessful"))


def _token_error(error: str, description: str | None = None) -> _Answer:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return _Answer(_json_response(400, body))


def _store_path(db: Any) -> str | None:
    """The file behind a sqlite_utils.Database or sqlite3.Connection ('' for :memory:)."""
    conn = getattr(db, "conn", db)
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return file or None
    return None


class SandboxTransport(httpx.BaseTransport):
    """Xero, served from the store's sandbox_* tables. `clock` gives epoch seconds."""

    def __init__(self, db: Any, *, clock: Callable[[], float] = clock_epoch) -> None:
        if isinstance(db, str | os.PathLike):
            self.path: str | None = os.fspath(db)
            self._shared = None
        else:
            self.path = _store_path(db)
            self._shared = None if self.path else getattr(db, "conn", db)
        self.clock = clock
        self._lock = threading.RLock()
        self._minute: dict[str, deque[float]] = {}
        self._day: dict[str, int] = {}
        self._app: deque[float] = deque()
        with self._connect() as conn:
            key = self.path or f"memory:{id(conn)}"
            if key not in _READY:
                conn.execute(_DOCUMENTS_SQL)
                conn.execute(_DOCUMENTS_INDEX)
                _READY.add(key)

    def __repr__(self) -> str:
        return f"SandboxTransport({self.path or ':memory:'!r})"

    # --- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        if self._shared is not None:
            with self._lock:
                yield self._shared
            return
        conn = sqlite3.connect(
            self.path, timeout=5.0, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 5000")
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        try:
            with self._connect() as conn:
                response = self._dispatch(conn, request)
        except _Answer as answer:
            response = answer.response
        except Exception:  # what a real server does with its own bugs and a locked store
            response = _problem(500, "Internal Error", "An error occurred in Xero.")
        response.headers["Xero-Correlation-Id"] = str(uuid.uuid4())
        response.headers["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        return response

    def _dispatch(self, conn: sqlite3.Connection, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        lower = path.lower()
        if lower == "/connect/token":
            if request.method != "POST":
                return _text_response(405, "Method Not Allowed")
            return self._token(conn, request)
        if lower == "/connections":
            if request.method != "GET":
                return _text_response(405, "Method Not Allowed")
            return self._connections(conn, request)
        if lower.startswith("/connections/"):
            if request.method != "DELETE":
                return _text_response(405, "Method Not Allowed")
            return self._delete_connection(conn, request, path.split("/", 2)[2])
        if lower.startswith(ACCOUNTING.lower()):
            return self._accounting(conn, request, path[len(ACCOUNTING) :])
        return _text_response(404, "The resource you're looking for cannot be found")

    # --- identity ----------------------------------------------------------------------------

    def _issue(self, conn: sqlite3.Connection, org_id: int) -> httpx.Response:
        access = "sbx-at-" + secrets.token_urlsafe(24)
        refresh = "sbx-rt-" + secrets.token_urlsafe(24)
        conn.execute(
            "UPDATE sandbox_grants SET access_token = ?, refresh_token = ?, access_expires_at = ? "
            "WHERE org_id = ?",
            [access, refresh, _iso(self.clock() + ACCESS_LIFETIME), org_id],
        )
        return _json_response(
            200,
            {
                "id_token": "sbx-id-" + secrets.token_urlsafe(16),
                "access_token": access,
                "expires_in": ACCESS_LIFETIME,
                "token_type": "Bearer",
                "refresh_token": refresh,
                "scope": SCOPES,
            },
        )

    def _token(self, conn: sqlite3.Connection, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("Authorization", "")
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            client_id = secret = ""
        if not auth.startswith("Basic ") or not client_id or not secret:
            raise _token_error("invalid_client")
        form = {k: v[0] for k, v in parse_qs(request.content.decode("utf-8", "replace")).items()}
        grant_type = form.get("grant_type")
        with self._write(conn):
            if grant_type == "refresh_token":
                token = form.get("refresh_token")
                row = conn.execute(
                    "SELECT org_id FROM sandbox_grants WHERE refresh_token = ?", [token]
                ).fetchone()
                if not token or row is None:
                    raise _token_error("invalid_grant")
                return self._issue(conn, row["org_id"])
            if grant_type == "authorization_code":
                with _CODES_LOCK:
                    entry = _CODES.pop(form.get("code") or "", None)
                if (
                    entry is None
                    or entry[0] != (self.path or "")
                    or entry[3] < self.clock()
                    or entry[2] != form.get("redirect_uri")
                ):
                    raise _token_error("invalid_grant")
                return self._issue(conn, entry[1])
        raise _token_error("unsupported_grant_type")

    def _grant(self, conn: sqlite3.Connection, request: httpx.Request) -> sqlite3.Row:
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.startswith("Bearer ") else ""
        row = (
            conn.execute("SELECT * FROM sandbox_grants WHERE access_token = ?", [token]).fetchone()
            if token
            else None
        )
        if row is None or _epoch(row["access_expires_at"]) <= self.clock():
            raise _unauthorised()
        return row

    def _connections(self, conn: sqlite3.Connection, request: httpx.Request) -> httpx.Response:
        grant = self._grant(conn, request)
        live = json.loads(grant["connections"])
        event = request.url.params.get("authEventId")
        if event:
            live = [c for c in live if c.get("authEventId") == event]
        return _json_response(200, live)

    def _delete_connection(
        self, conn: sqlite3.Connection, request: httpx.Request, connection_id: str
    ) -> httpx.Response:
        grant = self._grant(conn, request)
        with self._write(conn):
            row = conn.execute(
                "SELECT connections FROM sandbox_grants WHERE org_id = ?", [grant["org_id"]]
            ).fetchone()
            live = json.loads(row["connections"])
            kept = [c for c in live if c.get("id") != connection_id]
            if len(kept) == len(live):
                return _problem(404, "Not Found", "Connection not found")
            conn.execute(
                "UPDATE sandbox_grants SET connections = ? WHERE org_id = ?",
                [json.dumps(kept), grant["org_id"]],
            )
        return httpx.Response(204)

    def consent(self, org_id: int, redirect_uri: str = SANDBOX_REDIRECT) -> str:
        """The Xero user behind org_id approves the app for all their tenants; returns the code.

        What the consent screen and its redirect do for real: every tenant the user may connect
        gets a live connection (an existing one keeps its id and creation date), all sharing a
        new authEventId. Raises XeroConsentRequired when the sandbox has no such user.
        """
        now = self.clock()
        with self._connect() as conn, self._write(conn):
            grant = conn.execute(
                "SELECT tenant_ids, connections FROM sandbox_grants WHERE org_id = ?", [org_id]
            ).fetchone()
            if grant is None:
                raise XeroConsentRequired(
                    "The Xero sandbox has no user who can authorise this organisation."
                )
            existing = {c["tenantId"]: c for c in json.loads(grant["connections"])}
            event = str(uuid.uuid4())
            live = []
            for tenant_id in json.loads(grant["tenant_ids"]):
                tenant = conn.execute(
                    "SELECT name FROM sandbox_tenants WHERE tenant_id = ?", [tenant_id]
                ).fetchone()
                if tenant is None:
                    continue
                old = existing.get(tenant_id, {})
                live.append(
                    {
                        "id": old.get("id") or str(uuid.uuid4()),
                        "tenantId": tenant_id,
                        "tenantType": "ORGANISATION",
                        "tenantName": tenant["name"],
                        "authEventId": event,
                        "createdDateUtc": old.get("createdDateUtc") or _iso(now),
                        "updatedDateUtc": _iso(now),
                    }
                )
            conn.execute(
                "UPDATE sandbox_grants SET connections = ? WHERE org_id = ?",
                [json.dumps(live), org_id],
            )
        code = secrets.token_urlsafe(24)
        with _CODES_LOCK:
            _CODES[code] = (self.path or "", org_id, redirect_uri, now + CODE_LIFETIME)
        return code

    # --- accounting --------------------------------------------------------------------------

    def _accounting(
        self, conn: sqlite3.Connection, request: httpx.Request, resource: str
    ) -> httpx.Response:
        grant = self._grant(conn, request)
        tenant_id = request.headers.get("xero-tenant-id", "")
        live = {c["tenantId"] for c in json.loads(grant["connections"])}
        tenant = (
            conn.execute(
                "SELECT * FROM sandbox_tenants WHERE tenant_id = ?", [tenant_id]
            ).fetchone()
            if tenant_id in live
            else None
        )
        if tenant is None:
            raise _forbidden()
        behaviour = json.loads(tenant["behaviour"] or "{}")
        outage = behaviour.get("outage")
        if outage:
            status = int(outage.get("status", 503))
            raise _Answer(
                _problem(
                    status,
                    "Organisation offline",
                    "The organisation temporarily cannot be connected to.",
                )
            )
        limits = self._limits(conn, tenant_id, behaviour)
        name = resource.strip("/").lower()
        method = request.method
        if method == "GET":
            handler = {
                "organisation": self._organisation,
                "accounts": self._accounts,
                "taxrates": self._tax_rates,
                "trackingcategories": self._tracking,
                "contacts": self._contacts,
            }.get(name)
            if handler is not None:
                response = handler(tenant, request)
                response.headers.update(limits)
                return response
        if method in ("PUT", "POST"):
            canonical = {
                "invoices": "Invoices",
                "creditnotes": "CreditNotes",
                "manualjournals": "ManualJournals",
            }.get(name)
            if canonical is not None:
                response = self._create(conn, tenant, request, canonical)
                response.headers.update(limits)
                return response
        return _text_response(404, "The resource you're looking for cannot be found")

    def _limits(
        self, conn: sqlite3.Connection, tenant_id: str, behaviour: dict[str, Any]
    ) -> dict[str, str]:
        now = self.clock()
        busy = behaviour.get("rate_limit")
        if busy:
            wait = float(busy.get("retry_after", 60))
            open_for = float(busy.get("open_seconds", 60))
            started = busy.get("cycle_started")
            if started is None or now >= float(started) + wait + open_for:
                started = now
                with self._write(conn):
                    row = conn.execute(
                        "SELECT behaviour FROM sandbox_tenants WHERE tenant_id = ?", [tenant_id]
                    ).fetchone()
                    current = json.loads(row["behaviour"] or "{}")
                    current.setdefault("rate_limit", {})["cycle_started"] = now
                    conn.execute(
                        "UPDATE sandbox_tenants SET behaviour = ? WHERE tenant_id = ?",
                        [json.dumps(current), tenant_id],
                    )
            if now < float(started) + wait:
                raise self._too_many(math.ceil(float(started) + wait - now), busy.get("problem"))
        with self._lock:
            calls = self._minute.setdefault(tenant_id, deque())
            while calls and calls[0] <= now - 60:
                calls.popleft()
            while self._app and self._app[0] <= now - 60:
                self._app.popleft()
            if len(calls) >= MINUTE_LIMIT:
                raise self._too_many(math.ceil(calls[0] + 60 - now), "minute")
            calls.append(now)
            self._app.append(now)
            self._day[tenant_id] = self._day.get(tenant_id, 0) + 1
            return {
                "X-MinLimit-Remaining": str(MINUTE_LIMIT - len(calls)),
                "X-DayLimit-Remaining": str(max(0, DAY_LIMIT - self._day[tenant_id])),
                "X-AppMinLimit-Remaining": str(APP_MINUTE_LIMIT - len(self._app)),
            }

    @staticmethod
    def _too_many(retry_after: int, problem: str | None) -> _Answer:
        return _Answer(
            _text_response(
                429,
                "Rate Limit Exceeded",
                {
                    "Retry-After": str(max(1, retry_after)),
                    "X-Rate-Limit-Problem": str(problem or "minute"),
                },
            )
        )

    def _envelope(self, key: str, items: list[Any]) -> httpx.Response:
        return _json_response(
            200,
            {
                "Id": str(uuid.uuid4()),
                "Status": "OK",
                "ProviderName": "syncdesk",
                "DateTimeUTC": f"/Date({int(self.clock() * 1000)})/",
                key: items,
            },
        )

    def _organisation(self, tenant: sqlite3.Row, request: httpx.Request) -> httpx.Response:
        version, country = _VERSION.get(tenant["region"], ("GLOBAL", tenant["region"]))
        return self._envelope(
            "Organisations",
            [
                {
                    "OrganisationID": tenant["tenant_id"],
                    "APIKey": uuid.uuid5(_NS, tenant["tenant_id"]).hex[:30].upper(),
                    "Name": tenant["name"],
                    "LegalName": tenant["name"],
                    "PaysTax": True,
                    "Version": version,
                    "OrganisationType": "COMPANY",
                    "BaseCurrency": tenant["currency"],
                    "CountryCode": country,
                    "IsDemoCompany": tenant["name"].startswith("Demo Company"),
                    "OrganisationStatus": "ACTIVE",
                    "FinancialYearEndDay": 31,
                    "FinancialYearEndMonth": 3,
                    "OrganisationEntityType": "COMPANY",
                    "Edition": "BUSINESS",
                    "Class": "PREMIUM",
                    "ShortCode": "!" + tenant["tenant_id"][:5],
                    "Addresses": [],
                    "Phones": [],
                    "ExternalLinks": [],
                    "PaymentTerms": {},
                }
            ],
        )

    @staticmethod
    def _account_json(tenant: sqlite3.Row, a: dict[str, Any]) -> dict[str, Any]:
        system = ""
        if a.get("system"):
            name = a.get("name", "").lower()
            system = (
                "DEBTORS" if "receivable" in name else "CREDITORS" if "payable" in name else "GST"
            )
        bank = a.get("type") == "BANK"
        out = {
            "AccountID": str(uuid.uuid5(_NS, f"{tenant['tenant_id']}:{a['code']}")),
            "Code": a["code"],
            "Name": a.get("name", ""),
            "Status": a.get("status", "ACTIVE"),
            "Type": a.get("type", ""),
            "TaxType": a.get("tax_type", "NONE"),
            "Class": _CLASS.get(a.get("type", ""), "ASSET"),
            "EnablePaymentsToAccount": bank,
            "ShowInExpenseClaims": a.get("type") == "EXPENSE",
            "BankAccountType": "BANK" if bank else "",
            "ReportingCode": "",
            "HasAttachments": False,
            "UpdatedDateUTC": "/Date(1700000000000+0000)/",
            "AddToWatchlist": False,
        }
        if bank:
            out["CurrencyCode"] = tenant["currency"]
        if system:
            out["SystemAccount"] = system
        return out

    def _accounts(self, tenant: sqlite3.Row, request: httpx.Request) -> httpx.Response:
        accounts = json.loads(tenant["accounts"])
        return self._envelope("Accounts", [self._account_json(tenant, a) for a in accounts])

    def _tax_rates(self, tenant: sqlite3.Row, request: httpx.Request) -> httpx.Response:
        rates = []
        for t in json.loads(tenant["tax_rates"]):
            rate = float(t.get("rate", 0.0))
            rates.append(
                {
                    "Name": t.get("name", t["tax_type"]),
                    "TaxType": t["tax_type"],
                    "ReportTaxType": "OUTPUT" if t.get("revenue") else "INPUT",
                    "CanApplyToAssets": True,
                    "CanApplyToEquity": True,
                    "CanApplyToExpenses": bool(t.get("expenses", True)),
                    "CanApplyToLiabilities": True,
                    "CanApplyToRevenue": bool(t.get("revenue", True)),
                    "DisplayTaxRate": rate,
                    "EffectiveRate": rate,
                    "Status": t.get("status", "ACTIVE"),
                    "TaxComponents": [
                        {
                            "Name": "Tax",
                            "Rate": rate,
                            "IsCompound": False,
                            "IsNonRecoverable": False,
                        }
                    ],
                }
            )
        return self._envelope("TaxRates", rates)

    def _tracking(self, tenant: sqlite3.Row, request: httpx.Request) -> httpx.Response:
        behaviour = json.loads(tenant["behaviour"] or "{}")
        return self._envelope("TrackingCategories", behaviour.get("tracking_categories", []))

    def _contacts(self, tenant: sqlite3.Row, request: httpx.Request) -> httpx.Response:
        where = request.url.params.get("where") or ""
        match = _WHERE_EMAIL.search(where)
        wanted = match.group(1).replace('\\"', '"').lower() if match else None
        found = []
        for c in json.loads(tenant["contacts"]):
            if wanted is not None and (c.get("email") or "").lower() != wanted:
                continue
            number = c.get("contact_number") or ""
            found.append(
                {
                    "ContactID": str(uuid.uuid5(_NS, f"{tenant['tenant_id']}:{c['name']}")),
                    "ContactNumber": number,
                    "ContactStatus": "ACTIVE",
                    "Name": c["name"],
                    "EmailAddress": c.get("email", ""),
                    "IsSupplier": number.startswith("SUP"),
                    "IsCustomer": not number.startswith("SUP"),
                    "UpdatedDateUTC": "/Date(1700000000000+0000)/",
                }
            )
        return self._envelope("Contacts", found)

    # --- creating documents ------------------------------------------------------------------

    def _create(
        self, conn: sqlite3.Connection, tenant: sqlite3.Row, request: httpx.Request, resource: str
    ) -> httpx.Response:
        tenant_id = tenant["tenant_id"]
        key = request.headers.get("Idempotency-Key")
        if key:
            done = conn.execute(
                "SELECT body FROM sandbox_documents WHERE tenant_id = ? AND idempotency_key = ?",
                [tenant_id, key],
            ).fetchone()
            if done is not None:
                return self._envelope(resource, [json.loads(done["body"])])
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return _validation(
                [{"ValidationErrors": [{"Message": "The request is not valid JSON."}]}]
            )
        documents = body.get(resource) if isinstance(body, dict) else None
        if documents is None and isinstance(body, dict) and body:
            documents = [body]  # Xero also takes a single document without the wrapper
        if not isinstance(documents, list) or not documents:
            return _validation(
                [{"ValidationErrors": [{"Message": f"No {resource} were found in the request."}]}]
            )
        accounts = {a["code"]: a for a in json.loads(tenant["accounts"])}
        rates = {t["tax_type"]: t for t in json.loads(tenant["tax_rates"])}
        with self._write(conn):
            failed, created = [], []
            for doc in documents:
                if not isinstance(doc, dict):
                    failed.append(
                        {"ValidationErrors": [{"Message": "A document must be an object."}]}
                    )
                    continue
                check = (
                    self._check_journal if resource == "ManualJournals" else self._check_document
                )
                errors = check(conn, tenant, resource, doc, accounts, rates)
                if errors:
                    failed.append({**doc, "ValidationErrors": [{"Message": m} for m in errors]})
                else:
                    created.append(self._created(tenant, resource, doc, rates))
            if failed:
                return _validation(failed)
            now = self.clock()
            for i, doc in enumerate(created):
                conn.execute(
                    "INSERT INTO sandbox_documents(tenant_id, resource, type, number, document_id, "
                    "idempotency_key, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        tenant_id,
                        resource,
                        doc.get("Type"),
                        doc.get("InvoiceNumber") or doc.get("CreditNoteNumber"),
                        doc.get(_ID_FIELD[resource]),
                        key if i == 0 else None,
                        json.dumps(doc),
                        _iso(now),
                    ],
                )
        return self._envelope(resource, created)

    def _check_document(
        self,
        conn: sqlite3.Connection,
        tenant: sqlite3.Row,
        resource: str,
        doc: dict[str, Any],
        accounts: dict[str, dict[str, Any]],
        rates: dict[str, dict[str, Any]],
    ) -> list[str]:
        errors: list[str] = []
        kind = doc.get("Type")
        allowed = (
            ("ACCREC", "ACCPAY") if resource == "Invoices" else ("ACCRECCREDIT", "ACCPAYCREDIT")
        )
        if kind not in allowed:
            errors.append(f"The document Type must be one of {', '.join(allowed)}.")
        sales = str(kind).startswith("ACCREC")
        contact = doc.get("Contact") or {}
        if not any(contact.get(k) for k in ("Name", "ContactID", "ContactNumber")):
            errors.append(
                "The Contact must contain at least 1 of the following elements to identify the "
                "contact: Name, ContactID, ContactNumber"
            )
        currency = doc.get("CurrencyCode")
        if currency and currency != tenant["currency"]:
            errors.append(f"Organisation is not subscribed to currency {currency}")
        if (
            kind == "ACCREC"
            and doc.get("Status") in ("SUBMITTED", "AUTHORISED")
            and not doc.get("DueDate")
        ):
            errors.append("The document DueDate field must be specified")
        number = doc.get("InvoiceNumber")
        if kind == "ACCREC" and number:
            taken = conn.execute(
                "SELECT 1 FROM sandbox_documents WHERE tenant_id = ? AND resource = 'Invoices' "
                "AND type = 'ACCREC' AND number = ?",
                [tenant["tenant_id"], number],
            ).fetchone()
            if taken:
                errors.append("Invoice # must be unique.")
        lines = doc.get("LineItems") or []
        if not lines:
            errors.append("At least one line item must be specified.")
        for line in lines:
            errors.extend(
                e for e in self._check_line(line, accounts, rates, sales) if e not in errors
            )
        return errors

    @staticmethod
    def _check_line(
        line: dict[str, Any],
        accounts: dict[str, dict[str, Any]],
        rates: dict[str, dict[str, Any]],
        sales: bool,
    ) -> list[str]:
        errors = []
        quantity = line.get("Quantity")
        if isinstance(quantity, int | float) and quantity < 0:
            errors.append(
                f"The quantity value '{quantity:.4f}' is invalid. Quantity must not be less "
                "than zero."
            )
        code = line.get("AccountCode")
        account = accounts.get(code) if code else None
        if not code:
            errors.append("Account code or ID must be specified")
        elif (
            account is None
            or account.get("status", "ACTIVE") != "ACTIVE"
            or account.get("system")
            or account.get("type") == "BANK"
        ):
            errors.append(f"Account code '{code}' is not a valid code for this document.")
        tax = line.get("TaxType") or (account or {}).get("tax_type")
        if tax:
            rate = rates.get(tax)
            usable = rate is not None and rate.get("status", "ACTIVE") == "ACTIVE"
            if usable and not rate.get("revenue" if sales else "expenses", True):
                usable = False
            if not usable:
                errors.append(
                    f"The TaxType code {tax} does not exist or cannot be used for this type of "
                    "transaction."
                )
        return errors

    def _check_journal(
        self,
        conn: sqlite3.Connection,
        tenant: sqlite3.Row,
        resource: str,
        doc: dict[str, Any],
        accounts: dict[str, dict[str, Any]],
        rates: dict[str, dict[str, Any]],
    ) -> list[str]:
        errors: list[str] = []
        if not doc.get("Narration"):
            errors.append("Narration must be specified")
        lines = doc.get("JournalLines") or []
        if len(lines) < 2:
            errors.append("At least two journal lines must be specified.")
        debits = credits = 0.0
        for line in lines:
            code = line.get("AccountCode")
            account = accounts.get(code) if code else None
            if not code:
                message = "Account code or ID must be specified"
            elif (
                account is None
                or account.get("status", "ACTIVE") != "ACTIVE"
                or account.get("system")
                or account.get("type") == "INVENTORY"
            ):
                message = f"Account code '{code}' is not a valid code for this document."
            else:
                message = None
            if message and message not in errors:
                errors.append(message)
            amount = float(line.get("LineAmount") or 0)
            debits, credits = (
                (debits + amount, credits) if amount > 0 else (debits, credits + amount)
            )
        if lines and round(debits + credits, 2) != 0:
            errors.append(
                f"The total debits ({debits:.2f}) must equal total credits ({credits:.2f})"
            )
        return errors

    def _created(
        self,
        tenant: sqlite3.Row,
        resource: str,
        doc: dict[str, Any],
        rates: dict[str, dict[str, Any]],
    ) -> dict[str, Any]:
        now = self.clock()
        out = dict(doc)
        out[_ID_FIELD[resource]] = str(uuid.uuid4())
        out["UpdatedDateUTC"] = _msdate(now)
        if resource == "ManualJournals":
            out.setdefault("Status", "POSTED")
            return out
        exclusive = doc.get("LineAmountTypes", "Exclusive") == "Exclusive"
        subtotal = tax_total = 0.0
        lines = []
        for line in doc.get("LineItems") or []:
            amount = float(
                line.get("LineAmount")
                if line.get("LineAmount") is not None
                else float(line.get("Quantity") or 1) * float(line.get("UnitAmount") or 0)
            )
            rate = float((rates.get(line.get("TaxType") or "") or {}).get("rate", 0.0))
            tax = round(amount * rate / 100 if exclusive else amount - amount / (1 + rate / 100), 2)
            subtotal += amount if exclusive else amount - tax
            tax_total += tax
            lines.append(
                {**line, "LineItemID": str(uuid.uuid4()), "LineAmount": amount, "TaxAmount": tax}
            )
        total = round(subtotal + tax_total, 2)
        out.update(
            {
                "LineItems": lines,
                "LineAmountTypes": doc.get("LineAmountTypes", "Exclusive"),
                "SubTotal": round(subtotal, 2),
                "TotalTax": round(tax_total, 2),
                "Total": total,
                "CurrencyCode": doc.get("CurrencyCode") or tenant["currency"],
                "CurrencyRate": 1.0,
                "Status": doc.get("Status", "DRAFT"),
                "HasErrors": False,
            }
        )
        out["Contact"] = {
            "ContactID": str(
                uuid.uuid5(_NS, f"{tenant['tenant_id']}:{(doc.get('Contact') or {}).get('Name')}")
            ),
            **(doc.get("Contact") or {}),
        }
        if resource == "Invoices":
            out.update({"AmountDue": total, "AmountPaid": 0.0, "AmountCredited": 0.0})
        else:
            out.update({"RemainingCredit": total})
        return out


_ID_FIELD = {
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "ManualJournals": "ManualJournalID",
}


def _validation(elements: list[dict[str, Any]]) -> httpx.Response:
    return _json_response(
        400,
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
    )


def consent(db: Any, org_id: int, redirect_uri: str = SANDBOX_REDIRECT) -> str:
    """Simulate the consent screen for org_id's Xero user; returns the authorisation code.

    Raises XeroConsentRequired when the sandbox has no user for that organisation.
    """
    return SandboxTransport(db).consent(org_id, redirect_uri)
