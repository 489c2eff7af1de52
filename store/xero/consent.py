"""Consent for a person in a browser, over SSH if need be: OAuth 2.0 authorisation code + PKCE.

`consent_link` makes Xero's consent URL for an organisation (a fresh `state` that expires after
10 minutes by store.clock, and a PKCE S256 challenge whose verifier stays in the store);
`redeem` takes the address the browser ended on (pasted, or caught by the loopback listener in
callback.py), checks its state, exchanges the code with the verifier, stores the tokens and the
scopes Xero granted, and returns the organisations the consent connected. Each way it can go
wrong (a state that is wrong, expired or for another organisation; `error=access_denied`; no
code) is one ConsentRefused sentence.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from store import clock
from store.db import transaction
from store.enums import Level
from store.errors import ConsentRefused, XeroError, XeroInvalidGrant
from store.logs import record
from store.orgs import org_id
from store.timeparse import iso
from store.words import plural
from store.xero.client import XeroClient
from store.xero.common import log_error, parse_time, session
from store.xero.models import Connection
from store.xero.tokens import store_tokens

if TYPE_CHECKING:
    import sqlite_utils

STATE_LIFETIME = timedelta(minutes=10)
KEEP_EXPIRED = timedelta(days=1)  # so that a late paste is told "expired", not "unknown"


@dataclass(frozen=True)
class ConsentLink:
    """What `syncdesk reconnect ORG --auth-url --json` prints."""

    code: str
    url: str
    state: str
    expires_at: str
    redirect_uri: str


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier (43+ URL-safe characters) and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def consent_link(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str,
    client: XeroClient | None = None,
) -> ConsentLink:
    """A new consent URL for org (older links stay valid until they expire)."""
    oid = org_id(db, org)
    code = db.execute("SELECT code FROM orgs WHERE id = ?", [oid]).fetchone()[0]
    state = secrets.token_urlsafe(24)
    verifier, challenge = pkce_pair()
    now = clock.now()
    expires = now + STATE_LIFETIME
    with session(db, client) as xero:
        redirect_uri = xero.redirect_uri or ""
        url = xero.authorize_url(state, redirect_uri, code_challenge=challenge)
        scopes = xero.scopes
    with transaction(db) as conn:
        conn.execute("DELETE FROM consent_requests WHERE expires_at < ?", [iso(now - KEEP_EXPIRED)])
        conn.execute(
            "INSERT INTO consent_requests(state, org_id, code_verifier, redirect_uri, scopes, "
            "created_at, expires_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [state, oid, verifier, redirect_uri, scopes, iso(now), iso(expires), actor],
        )
    record(
        db,
        code,
        Level.INFO,
        f"Xero consent link made by {actor} (valid until {iso(expires)}, redirect {redirect_uri})",
    )
    return ConsentLink(code, url, state, iso(expires), redirect_uri)


def _one(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name) or []
    return values[0] if values else None


def redeem(
    db: sqlite_utils.Database,
    org: str,
    redirect_url: str,
    *,
    client: XeroClient | None = None,
) -> list[Connection]:
    """Complete a consent from the address the browser ended on; returns the organisations it
    connected (the caller chooses one). Raises ConsentRefused, UnknownOrganisation, XeroError.
    """
    oid = org_id(db, org)
    code_name = db.execute("SELECT code FROM orgs WHERE id = ?", [oid]).fetchone()[0]
    again = f"make a new link with `syncdesk reconnect {code_name} --auth-url`"
    try:
        query = parse_qs(urlsplit(redirect_url.strip()).query)
    except ValueError:
        query = {}
    state = _one(query, "state")
    error = _one(query, "error")
    if not state:
        if error:
            raise ConsentRefused(_error_line(error, _one(query, "error_description"), again))
        raise ConsentRefused(
            "That address has no state parameter: paste the whole address the browser ended "
            f"on after Xero's consent page (it starts with the redirect URI), or {again}."
        )
    row = db.execute("SELECT * FROM consent_requests WHERE state = ?", [state]).fetchone()
    if row is None:
        raise ConsentRefused(f"The address's state matches no consent link syncdesk made; {again}.")
    row = dict(row)
    if row["redeemed_at"]:
        raise ConsentRefused(
            f"That consent link was already used at {row['redeemed_at']}; a reconnect within "
            f"10 minutes of it needs no new consent (drop --redirect-url), else {again}."
        )
    if row["org_id"] != oid:
        other = db.execute("SELECT code FROM orgs WHERE id = ?", [row["org_id"]]).fetchone()
        raise ConsentRefused(
            f"That consent link was made for {other[0] if other else 'another organisation'}, "
            f"not {code_name}; complete it with `syncdesk reconnect "
            f"{other[0] if other else 'ORG'} --redirect-url ...`, or {again}."
        )
    expires = parse_time(row["expires_at"])
    if expires is None or expires <= clock.now():
        raise ConsentRefused(
            f"That consent link expired at {row['expires_at']} (links last 10 minutes); {again}."
        )
    if error:
        _forget(db, state)
        raise ConsentRefused(_error_line(error, _one(query, "error_description"), again))
    auth_code = _one(query, "code")
    if not auth_code:
        raise ConsentRefused(
            f"That address has no authorisation code (no code= parameter); {again}."
        )
    with session(db, client) as xero:
        try:
            tokens = xero.exchange_code(auth_code, row["redirect_uri"], row["code_verifier"])
        except XeroInvalidGrant as exc:
            log_error(db, code_name, exc)
            _forget(db, state)
            raise ConsentRefused(
                "Xero refused the consent's authorisation code (invalid_grant): codes last 5 "
                f"minutes and work once, so it expired or was already used; {again}."
            ) from exc
        except XeroError as exc:
            log_error(db, code_name, exc)
            raise
        with transaction(db) as conn:  # used once, and its tokens kept, together
            conn.execute(
                "UPDATE consent_requests SET redeemed_at = ? WHERE state = ?",
                [iso(clock.now()), state],
            )
            store_tokens(db, oid, tokens, conn=conn)
        try:
            connections = xero.connections(tokens.access_token)
        except XeroError as exc:
            log_error(db, code_name, exc)
            raise
    record_granted(db, code_name, connections, "consent")
    return connections


def _forget(db: sqlite_utils.Database, state: str) -> None:
    with transaction(db) as conn:
        conn.execute("DELETE FROM consent_requests WHERE state = ?", [state])


def _error_line(error: str, description: str | None, again: str) -> str:
    if error == "access_denied":
        return (
            "The Xero user declined the consent (error=access_denied); nothing changed. Ask "
            f"them to allow access, then {again}."
        )
    detail = f" ({description[:200]})" if description else ""
    return f"Xero's consent page answered error={error[:60]}{detail}; nothing changed; {again}."


def fresh_consent(db: sqlite_utils.Database, oid: int) -> bool:
    """Whether org's last consent was redeemed within the last 10 minutes (its tokens are the
    ones a reconnect may use without asking the person again)."""
    since = iso(clock.now() - STATE_LIFETIME)
    return (
        db.execute(
            "SELECT 1 FROM consent_requests WHERE org_id = ? AND redeemed_at >= ?", [oid, since]
        ).fetchone()
        is not None
    )


def record_granted(
    db: sqlite_utils.Database, org: str, connections: list[Connection], how: str
) -> None:
    """Log which Xero organisations a consent (or the sandbox's authorisation) granted."""
    names = ", ".join(f'"{c.tenant_name}"' for c in connections) or "none"
    granted = plural(len(connections), "organisation")
    record(db, org, Level.INFO, f"Xero {how} granted for {granted}: {names}")
