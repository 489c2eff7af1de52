"""The embedded Xero: an httpx transport that answers like api.xero.com and identity.xero.com.

It serves the store's sandbox_* tables (built from sample_data/xero.yaml and orgs.yaml) with the
real API's URLs, headers, status codes and JSON shapes, so the client cannot tell it from Xero.
This module routes requests; the endpoints live beside it:

- sandbox_identity.py: POST /connect/token, GET and DELETE /connections, the consent screen.
- /api.xro/2.0/...: an unknown or expired bearer token -> 401; missing xero-tenant-id, or a
  tenant without a live connection for that grant -> 403 AuthenticationUnsuccessful; a tenant
  with behaviour.outage -> 503 "Organisation offline" (plain text, as Xero); then the rate limits
  (sandbox_limits.py); then the reads (sandbox_accounting.py) and the document writes
  (sandbox_documents.py).
- Every response carries a fresh Xero-Correlation-Id.

Each request opens its own SQLite connection to the store file (writes in BEGIN IMMEDIATE), so
the transport can be used from a worker thread while the caller holds its own connection.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from store.clock import epoch as clock_epoch
from store.xero import sandbox_consent, sandbox_documents, sandbox_identity
from store.xero.sandbox_accounting import READS
from store.xero.sandbox_common import Answer, problem, text_response
from store.xero.sandbox_limits import CallLimits

# Port 8766: `sandbox serve` takes 8765, and `reconnect --listen` may wait here meanwhile.
SANDBOX_REDIRECT = "http://localhost:8766/syncdesk/callback"
# Where `syncdesk sandbox serve` (default port) serves login.xero.com's consent page.
SANDBOX_LOGIN = "http://127.0.0.1:8765/login/identity/connect/authorize"
ACCOUNTING = "/api.xro/2.0/"
_WRITES = {"invoices": "Invoices", "creditnotes": "CreditNotes", "manualjournals": "ManualJournals"}

_READY: set[str] = set()


def _forbidden() -> Answer:
    return Answer(problem(403, "Forbidden", "AuthenticationUnsuccessful"))


def _store_path(db: Any) -> str | None:
    """The file behind a sqlite_utils.Database or sqlite3.Connection ('' for :memory:)."""
    conn = getattr(db, "conn", db)
    for _, name, file in conn.execute("PRAGMA database_list").fetchall():
        if name == "main":
            return os.path.realpath(file) if file else None  # one spelling per store
    return None


class SandboxTransport(httpx.BaseTransport):
    """Xero, served from the store's sandbox_* tables. `clock` gives epoch seconds."""

    def __init__(self, db: Any, *, clock: Callable[[], float] = clock_epoch) -> None:
        if isinstance(db, str | os.PathLike):
            self.path: str | None = os.path.realpath(os.fspath(db))
            self._shared = None
        else:
            self.path = _store_path(db)
            self._shared = None if self.path else getattr(db, "conn", db)
        self.clock = clock
        self._lock = threading.RLock()
        self._limits = CallLimits()
        with self._connect() as conn:
            key = self.path or f"memory:{id(conn)}"
            if key not in _READY:
                sandbox_documents.create_table(conn)
                sandbox_consent.create_tables(conn)
                _READY.add(key)

    def __repr__(self) -> str:
        return f"SandboxTransport({self.path or ':memory:'!r})"

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

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.read()
        try:
            with self._connect() as conn:
                response = self._dispatch(conn, request)
        except Answer as answer:
            response = answer.response
        except Exception:  # what a real server does with its own bugs and a locked store
            response = problem(500, "Internal Error", "An error occurred in Xero.")
        response.headers["Xero-Correlation-Id"] = str(uuid.uuid4())
        response.headers["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
        return response

    def _dispatch(self, conn: sqlite3.Connection, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        lower = path.lower()
        if lower == "/connect/token":
            if request.method != "POST":
                return text_response(405, "Method Not Allowed")
            return sandbox_identity.token(conn, request, clock=self.clock, path=self.path or "")
        if lower == "/connections":
            if request.method != "GET":
                return text_response(405, "Method Not Allowed")
            return sandbox_identity.connections(conn, request, self.clock)
        if lower.startswith("/connections/"):
            if request.method != "DELETE":
                return text_response(405, "Method Not Allowed")
            connection_id = path.split("/", 2)[2]
            return sandbox_identity.delete_connection(conn, request, connection_id, self.clock)
        if lower in ("/identity/connect/authorize", "/login/identity/connect/authorize"):
            # login.xero.com's consent page (under /login when `sandbox serve` serves it)
            if request.method != "GET":
                return sandbox_consent.not_allowed()
            return sandbox_consent.authorize_page(
                conn,
                request,
                path=self.path or "",
                now=self.clock(),
                connect=lambda org_id: sandbox_identity.consent(
                    conn, org_id, None, now=self.clock(), path=self.path or ""
                ),
            )
        if lower.startswith(ACCOUNTING.lower()):
            return self._accounting(conn, request, path[len(ACCOUNTING) :])
        return text_response(404, "The resource you're looking for cannot be found")

    def consent(
        self, org_id: int, redirect_uri: str = SANDBOX_REDIRECT, scope: str | None = None
    ) -> str:
        """The Xero user behind org_id approves the app for all their tenants; returns the code.

        Raises XeroConsentRequired when the sandbox has no such user.
        """
        now = self.clock()
        with self._connect() as conn:
            return sandbox_identity.consent(
                conn, org_id, redirect_uri, now=now, path=self.path or "", scope=scope
            )

    def _accounting(
        self, conn: sqlite3.Connection, request: httpx.Request, resource: str
    ) -> httpx.Response:
        grant = sandbox_identity.grant(conn, request, self.clock)
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
            if status == 503:  # as Xero sends it: plain text, not problem+json
                raise Answer(
                    text_response(503, "The organisation temporarily cannot be connected to.")
                )
            raise Answer(
                problem(
                    status,
                    "Organisation offline",
                    "The organisation temporarily cannot be connected to.",
                )
            )
        limits = self._limits.count(conn, tenant_id, behaviour, self.clock())
        with self._limits.at_once(tenant_id):
            response = self._answer(conn, tenant, request, resource)
        if response is None:
            return text_response(404, "The resource you're looking for cannot be found")
        response.headers.update(limits)
        return response

    def _answer(
        self, conn: sqlite3.Connection, tenant: Any, request: httpx.Request, resource: str
    ) -> httpx.Response | None:
        name = resource.strip("/").lower()
        method = request.method
        response = None
        if method == "GET" and name in READS:
            response = READS[name](tenant, request, self.clock)
        elif method == "GET" and name in ("invoices", "creditnotes"):
            response = sandbox_documents.read(conn, tenant, request, _WRITES[name], self.clock)
        elif method in ("PUT", "POST") and name in _WRITES:
            response = sandbox_documents.create(conn, tenant, request, _WRITES[name], self.clock)
        return response


def consent(db: Any, org_id: int, redirect_uri: str = SANDBOX_REDIRECT) -> str:
    """Simulate the consent screen for org_id's Xero user; returns the authorisation code.

    Raises XeroConsentRequired when the sandbox has no user for that organisation.
    """
    return SandboxTransport(db).consent(org_id, redirect_uri)
