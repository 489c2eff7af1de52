"""The embedded Xero's identity side: the token endpoint, /connections and the consent screen.

- POST /connect/token (client id in the Basic header or the form body, as xero-python sends
  it; any client id): refresh_token and authorization_code (PKCE S256 checked) grants. Refresh
  tokens rotate on every use; the previous one is still accepted for 30 minutes, as at Xero;
  an unknown, older or NULL refresh token answers 400 {"error": "invalid_grant"}.
- GET /connections, DELETE /connections/{id} (204, or 404 when unknown), for the grant (one Xero
  user's authorisation) that owns the bearer token.
- An unknown or expired bearer token answers 401 with Xero's body and
  `WWW-Authenticate: Bearer error=invalid_token`, here and on the Accounting API.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx

from store.db import transaction
from store.errors import XeroConsentRequired
from store.xero import sandbox_consent
from store.xero.sandbox_common import Answer, epoch_of, iso_time, json_response, problem

ACCESS_LIFETIME = 1800  # 30 minutes, as Xero


def _unauthorised() -> Answer:
    return Answer(
        problem(
            401,
            "Unauthorized",
            "AuthenticationUnsuccessful",
            {"WWW-Authenticate": "Bearer error=invalid_token"},
        )
    )


def _token_error(error: str, description: str | None = None) -> Answer:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return Answer(json_response(400, body))


def _issue(
    conn: sqlite3.Connection,
    org_id: int,
    clock: Callable[[], float],
    *,
    previous: str | None,
    scope: str | None = None,
) -> httpx.Response:
    access = "sbx-at-" + secrets.token_urlsafe(24)
    refresh = "sbx-rt-" + secrets.token_urlsafe(24)
    conn.execute(
        "UPDATE sandbox_grants SET access_token = ?, refresh_token = ?, access_expires_at = ? "
        "WHERE org_id = ?",
        [access, refresh, iso_time(clock() + ACCESS_LIFETIME), org_id],
    )
    sandbox_consent.remember_rotation(conn, org_id, previous, clock(), scope)
    return json_response(
        200,
        {
            "id_token": "sbx-id-" + secrets.token_urlsafe(16),
            "access_token": access,
            "expires_in": ACCESS_LIFETIME,
            "token_type": "Bearer",
            "refresh_token": refresh,
            "scope": sandbox_consent.granted_scope(conn, org_id),
        },
    )


def _client_id(request: httpx.Request, form: dict[str, str]) -> str:
    """The client id from the Basic header or, as xero-python sends it, the form body; a
    confidential client's secret may come either way, and a PKCE public client has none."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            client_id, _, _secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return ""
        return client_id
    return form.get("client_id", "")


def token(
    conn: sqlite3.Connection, request: httpx.Request, *, clock: Callable[[], float], path: str
) -> httpx.Response:
    """POST /connect/token for the store at `path` ('' in memory)."""
    form = {k: v[0] for k, v in parse_qs(request.content.decode("utf-8", "replace")).items()}
    if not _client_id(request, form):
        raise _token_error("invalid_client")
    grant_type = form.get("grant_type")
    with transaction(conn):
        if grant_type == "refresh_token":
            refresh_token = form.get("refresh_token")
            row = conn.execute(
                "SELECT org_id, refresh_token FROM sandbox_grants WHERE refresh_token = ?",
                [refresh_token],
            ).fetchone()
            if row is not None and refresh_token:
                return _issue(conn, row["org_id"], clock, previous=refresh_token)
            owner = sandbox_consent.grace_owner(conn, refresh_token or "", clock())
            if owner is None:
                raise _token_error("invalid_grant")
            # Xero's grace period: the previous token still works (once here); the token it
            # replaces becomes the previous one.
            current = conn.execute(
                "SELECT refresh_token FROM sandbox_grants WHERE org_id = ?", [owner]
            ).fetchone()
            return _issue(conn, owner, clock, previous=current["refresh_token"])
        if grant_type == "authorization_code":
            entry = sandbox_consent.take_code(
                conn,
                form.get("code") or "",
                path=path,
                now=clock(),
                redirect_uri=form.get("redirect_uri"),
                verifier=form.get("code_verifier"),
            )
            if entry is None:
                raise _token_error("invalid_grant")
            return _issue(conn, entry["org_id"], clock, previous=None, scope=entry["scope"])
    raise _token_error("unsupported_grant_type")


def grant(
    conn: sqlite3.Connection, request: httpx.Request, clock: Callable[[], float]
) -> sqlite3.Row:
    """The grant that owns the request's bearer token; a 401 Answer when there is none."""
    auth = request.headers.get("Authorization", "")
    bearer = auth[7:].strip() if auth.startswith("Bearer ") else ""
    row = (
        conn.execute("SELECT * FROM sandbox_grants WHERE access_token = ?", [bearer]).fetchone()
        if bearer
        else None
    )
    if row is None or epoch_of(row["access_expires_at"]) <= clock():
        raise _unauthorised()
    return row


def connections(
    conn: sqlite3.Connection, request: httpx.Request, clock: Callable[[], float]
) -> httpx.Response:
    """GET /connections (optionally ?authEventId=)."""
    live = json.loads(grant(conn, request, clock)["connections"])
    event = request.url.params.get("authEventId")
    if event:
        live = [c for c in live if c.get("authEventId") == event]
    return json_response(200, live)


def delete_connection(
    conn: sqlite3.Connection,
    request: httpx.Request,
    connection_id: str,
    clock: Callable[[], float],
) -> httpx.Response:
    """DELETE /connections/{id}."""
    owner = grant(conn, request, clock)
    with transaction(conn):
        row = conn.execute(
            "SELECT connections FROM sandbox_grants WHERE org_id = ?", [owner["org_id"]]
        ).fetchone()
        live = json.loads(row["connections"])
        kept = [c for c in live if c.get("id") != connection_id]
        if len(kept) == len(live):
            return problem(404, "Not Found", "Connection not found")
        conn.execute(
            "UPDATE sandbox_grants SET connections = ? WHERE org_id = ?",
            [json.dumps(kept), owner["org_id"]],
        )
    return httpx.Response(204)


def consent(
    conn: sqlite3.Connection,
    org_id: int,
    redirect_uri: str | None,
    *,
    now: float,
    path: str,
    scope: str | None = None,
) -> str:
    """The Xero user behind org_id approves the app for all their tenants; returns the code.

    What the consent screen and its redirect do for real: every tenant the user may connect
    gets a live connection (an existing one keeps its id and creation date), all sharing a
    new authEventId. Raises XeroConsentRequired when the sandbox has no such user.
    """
    with transaction(conn):
        row = conn.execute(
            "SELECT tenant_ids, connections FROM sandbox_grants WHERE org_id = ?", [org_id]
        ).fetchone()
        if row is None:
            raise XeroConsentRequired(
                "The Xero sandbox has no user who can authorise this organisation."
            )
        existing = {c["tenantId"]: c for c in json.loads(row["connections"])}
        event = str(uuid.uuid4())
        live = []
        for tenant_id in json.loads(row["tenant_ids"]):
            tenant = conn.execute(
                "SELECT name, behaviour FROM sandbox_tenants WHERE tenant_id = ?", [tenant_id]
            ).fetchone()
            if tenant is None:
                continue
            old = existing.get(tenant_id, {})
            live.append(
                {
                    "id": old.get("id") or str(uuid.uuid4()),
                    "tenantId": tenant_id,
                    # behaviour.tenant_type: PRACTICEMANAGER for an XPM practice
                    "tenantType": json.loads(tenant["behaviour"] or "{}").get(
                        "tenant_type", "ORGANISATION"
                    ),
                    "tenantName": tenant["name"],
                    "authEventId": event,
                    "createdDateUtc": old.get("createdDateUtc") or iso_time(now),
                    "updatedDateUtc": iso_time(now),
                }
            )
        conn.execute(
            "UPDATE sandbox_grants SET connections = ? WHERE org_id = ?",
            [json.dumps(live), org_id],
        )
        if redirect_uri is None:
            return ""
        return sandbox_consent.issue_code(
            conn, path=path, org_id=org_id, redirect_uri=redirect_uri, now=now, scope=scope
        )
