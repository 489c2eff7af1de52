"""The embedded Xero's consent screen and what it remembers: codes, granted scopes, the grace.

- GET /identity/connect/authorize (login.xero.com's path): the consent page. It accepts any
  client id (a developer's own app id works unchanged) and lists the sandbox's Xero users;
  choosing one (`user=ORG_ID`, a link on the page) connects every tenant that user may connect
  and redirects to `redirect_uri?code=...&state=...&scope=...`; `deny=1` redirects with
  `error=access_denied`, as Xero does when the user declines.
- Authorisation codes live in the store (`sandbox_codes`), five minutes, one use, with the
  redirect URI, client id, scopes and PKCE challenge they were issued for, so that a code from
  `syncdesk sandbox serve` can be redeemed by another process on the same store.
- `sandbox_grant_extra` keeps per grant the scopes it was granted and the previous refresh token
  with the moment it was rotated: as at Xero, the previous token is still accepted for 30
  minutes after a rotation (a process killed before it stored the new one is not locked out).

The tables are created on first use (sandbox tables are not part of the store's migrations).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import sqlite3
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from store.xero.sandbox_common import text_response

CODE_LIFETIME = 300  # authorisation codes: 5 minutes
REFRESH_GRACE = 1800  # Xero accepts the previous refresh token for 30 minutes
BROAD_SCOPES = (  # what the demo store's grants were consented with, before granular scopes
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)

_TABLES = (
    "CREATE TABLE IF NOT EXISTS sandbox_codes (code TEXT PRIMARY KEY, store TEXT NOT NULL, "
    "org_id INTEGER NOT NULL, redirect_uri TEXT NOT NULL, client_id TEXT, scope TEXT, "
    "challenge TEXT, expires REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS sandbox_grant_extra (org_id INTEGER PRIMARY KEY, scope TEXT, "
    "previous_refresh TEXT, rotated_at REAL)",
)


def create_tables(conn: sqlite3.Connection) -> None:
    for sql in _TABLES:
        conn.execute(sql)


def issue_code(
    conn: sqlite3.Connection,
    *,
    path: str,
    org_id: int,
    redirect_uri: str,
    now: float,
    scope: str | None,
    challenge: str | None = None,
    client_id: str | None = None,
) -> str:
    code = secrets.token_urlsafe(24)
    conn.execute(
        "INSERT INTO sandbox_codes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [code, path, org_id, redirect_uri, client_id, scope, challenge, now + CODE_LIFETIME],
    )
    return code


def take_code(
    conn: sqlite3.Connection,
    code: str,
    *,
    path: str,
    now: float,
    redirect_uri: str | None,
    verifier: str | None,
) -> sqlite3.Row | None:
    """The code's row if it may be redeemed now (one use: it is deleted either way)."""
    row = conn.execute("SELECT * FROM sandbox_codes WHERE code = ?", [code]).fetchone()
    conn.execute("DELETE FROM sandbox_codes WHERE code = ? OR expires < ?", [code, now])
    if row is None or row["store"] != path or row["expires"] < now:
        return None
    if row["redirect_uri"] != redirect_uri:
        return None
    if row["challenge"]:
        if not verifier:
            return None
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != row["challenge"]:
            return None
    return row


def granted_scope(conn: sqlite3.Connection, org_id: int) -> str:
    """The scopes the grant's last consent gave; for a grant made when the store was built,
    what the store says it was consented with."""
    row = conn.execute(
        "SELECT scope FROM sandbox_grant_extra WHERE org_id = ?", [org_id]
    ).fetchone()
    if row and row["scope"]:
        return str(row["scope"])
    built = conn.execute("SELECT scopes FROM integrations WHERE org_id = ?", [org_id]).fetchone()
    return str(built[0]) if built and built[0] else BROAD_SCOPES


def remember_rotation(
    conn: sqlite3.Connection, org_id: int, previous: str | None, now: float, scope: str | None
) -> None:
    conn.execute(
        "INSERT INTO sandbox_grant_extra(org_id, scope, previous_refresh, rotated_at) "
        "VALUES (?, ?, ?, ?) ON CONFLICT(org_id) DO UPDATE SET "
        "scope = coalesce(excluded.scope, scope), previous_refresh = excluded.previous_refresh, "
        "rotated_at = excluded.rotated_at",
        [org_id, scope, previous, now],
    )


def grace_owner(conn: sqlite3.Connection, refresh_token: str, now: float) -> int | None:
    """The grant whose previous refresh token this is, within the 30-minute grace."""
    row = conn.execute(
        "SELECT org_id, rotated_at FROM sandbox_grant_extra WHERE previous_refresh = ?",
        [refresh_token],
    ).fetchone()
    if row is None or row["rotated_at"] is None or now - row["rotated_at"] > REFRESH_GRACE:
        return None
    return int(row["org_id"])


def _redirect(redirect_uri: str, fields: dict[str, str]) -> httpx.Response:
    parts = urlsplit(redirect_uri)
    query = urlencode([*parse_qsl(parts.query), *fields.items()])
    return httpx.Response(302, headers={"Location": urlunsplit(parts._replace(query=query))})


def _page(title: str, body: str, status: int = 200) -> httpx.Response:
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return httpx.Response(
        status, content=text.encode(), headers={"Content-Type": "text/html; charset=utf-8"}
    )


def authorize_page(
    conn: sqlite3.Connection,
    request: httpx.Request,
    *,
    path: str,
    now: float,
    connect: object,
) -> httpx.Response:
    """GET /identity/connect/authorize. `connect(org_id)` connects that user's tenants."""
    params = dict(request.url.params)
    redirect_uri = params.get("redirect_uri", "")
    if not params.get("client_id") or not redirect_uri.startswith(("http://", "https://")):
        return _page(
            "Xero: invalid request", "<p>client_id and redirect_uri are required.</p>", 400
        )
    if params.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", **_state(params)})
    if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
        return _redirect(redirect_uri, {"error": "invalid_request", **_state(params)})
    if params.get("deny"):
        return _redirect(redirect_uri, {"error": "access_denied", **_state(params)})
    user = params.get("user", "")
    if user.isdigit():
        org_id = int(user)
        connect(org_id)  # type: ignore[operator]
        scope = " ".join(params.get("scope", "").split()) or None
        code = issue_code(
            conn,
            path=path,
            org_id=org_id,
            redirect_uri=redirect_uri,
            now=now,
            scope=scope,
            challenge=params.get("code_challenge") or None,
            client_id=params.get("client_id"),
        )
        return _redirect(redirect_uri, {"code": code, "scope": scope or "", **_state(params)})
    return _page("Xero sandbox: allow access", _choices(conn, params))


def _state(params: dict[str, str]) -> dict[str, str]:
    return {"state": params["state"]} if "state" in params else {}


def _choices(conn: sqlite3.Connection, params: dict[str, str]) -> str:
    """The consent page's body: one 'Allow access' link per sandbox user, and 'Cancel'."""
    rows = conn.execute(
        "SELECT g.org_id, o.code, g.tenant_ids FROM sandbox_grants g "
        "LEFT JOIN orgs o ON o.id = g.org_id ORDER BY o.code"
    ).fetchall()
    base = {k: v for k, v in params.items() if k not in ("user", "deny")}
    items = []
    for row in rows:
        href = "?" + urlencode({**base, "user": str(row["org_id"])})
        who = html.escape(f"{row['code'] or row['org_id']}'s Xero user")
        items.append(
            f"<li><a class='allow' data-org='{html.escape(str(row['code']))}' "
            f"href='{html.escape(href)}'>Allow access as {who}</a></li>"
        )
    client = html.escape(params.get("client_id", ""))
    scopes = html.escape(params.get("scope", ""))
    cancel = html.escape("?" + urlencode({**base, "deny": "1"}))
    return (
        f"<p>App <code>{client}</code> asks for: <code>{scopes}</code></p><ul>"
        + "".join(items)
        + f"</ul><p><a class='deny' href='{cancel}'>Cancel</a></p>"
    )


def not_allowed() -> httpx.Response:
    return text_response(405, "Method Not Allowed")
