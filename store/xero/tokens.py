"""Live Xero tokens for an organisation: stored, rotated, refreshed one caller at a time.

A Xero refresh token rotates on every use, so two refreshes racing each other would leave one
caller with a dead token: each organisation has a refresh lock, and a refusal is retried once
with the token another process may have stored meanwhile.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from store import clock
from store.db import transaction
from store.errors import XeroAuthExpired, XeroError, XeroInvalidGrant
from store.orgs import org_id
from store.timeparse import iso
from store.xero.client import XeroClient
from store.xero.common import integration_row, log_error, parse_time

if TYPE_CHECKING:
    import sqlite_utils

T = TypeVar("T")

REFRESH_LIFETIME = timedelta(days=60)  # an unused Xero refresh token dies after 60 days
EARLY_REFRESH = timedelta(seconds=60)  # refresh a little before the access token runs out

_refresh_locks: dict[int, threading.Lock] = {}
_refresh_locks_guard = threading.Lock()


def _refresh_lock(oid: int) -> threading.Lock:
    with _refresh_locks_guard:
        return _refresh_locks.setdefault(oid, threading.Lock())


def granted_scopes(tokens: Any) -> str | None:
    """The scopes Xero granted: the token response's `scope`, else the access token's `scope`
    claim (Xero's access tokens are JWTs); None when neither says."""
    if tokens.scope:
        return " ".join(str(tokens.scope).split())
    parts = str(tokens.access_token).split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    scope = claims.get("scope") if isinstance(claims, dict) else None
    if isinstance(scope, list) and all(isinstance(x, str) for x in scope):
        return " ".join(scope)
    return " ".join(scope.split()) if isinstance(scope, str) else None


def store_tokens(
    db: sqlite_utils.Database, oid: int, tokens: Any, *, conn: sqlite3.Connection | None = None
) -> None:
    """Keep the rotated refresh token and the new access token, both or neither (in the
    caller's transaction `conn` when given)."""
    if conn is None:
        with transaction(db) as own:
            store_tokens(db, oid, tokens, conn=own)
        return
    now = clock.now()
    conn.execute(
        "INSERT INTO credentials(org_id, access_token, refresh_token) VALUES (?, ?, ?) "
        "ON CONFLICT(org_id) DO UPDATE SET access_token = excluded.access_token, "
        "refresh_token = excluded.refresh_token",
        [oid, tokens.access_token, tokens.refresh_token],
    )
    conn.execute(
        "UPDATE integrations SET token_expires_at = ?, refresh_expires_at = ?, "
        "scopes = coalesce(?, scopes) WHERE org_id = ?",
        [
            iso(now + timedelta(seconds=tokens.expires_in)),
            iso(now + REFRESH_LIFETIME),
            granted_scopes(tokens),
            oid,
        ],
    )


def ensure_token(
    db: sqlite_utils.Database, org: str, client: XeroClient, *, force: bool = False
) -> str:
    """A live access token for org, refreshing (and storing the rotated tokens) when needed.

    `force` refreshes even a live token (a check proves the refresh token still works).
    Raises UnknownOrganisation, XeroInvalidGrant (nothing stored, or Xero refused: reconnect),
    and the client's other XeroErrors.
    """
    oid = org_id(db, org)
    with _refresh_lock(oid):
        stored = integration_row(db, oid)
        refresh_token = stored.get("refresh_token")
        if not refresh_token:
            raise XeroInvalidGrant(
                f"{stored.get('code', org)} has no stored Xero authorisation; reconnect the "
                "integration.",
                log_message="Token refresh failed: invalid_grant (no refresh token stored)",
            )
        expires = parse_time(stored.get("token_expires_at"))
        access = stored.get("access_token")
        if not force and access and expires and expires - EARLY_REFRESH > clock.now():
            return access
        try:
            tokens = client.refresh(refresh_token)
        except XeroInvalidGrant as exc:
            # Another process may have rotated the token while we asked with the old one.
            latest = integration_row(db, oid).get("refresh_token")
            if not latest or latest == refresh_token:
                log_error(db, org, exc)
                raise
            try:
                tokens = client.refresh(latest)
            except XeroError as again:
                log_error(db, org, again)
                raise again from exc
        except XeroError as exc:
            log_error(db, org, exc)
            raise
        store_tokens(db, oid, tokens)
        return tokens.access_token


def with_token(
    db: sqlite_utils.Database,
    org: str,
    client: XeroClient,
    call: Callable[[str], T],
    *,
    log: bool = True,
) -> T:
    """Run call(access_token); one forced refresh and retry if Xero says 401 anyway."""
    token = ensure_token(db, org, client)
    try:
        try:
            return call(token)
        except XeroAuthExpired:
            return call(ensure_token(db, org, client, force=True))
    except XeroError as exc:
        if log:
            log_error(db, org, exc)
        raise
