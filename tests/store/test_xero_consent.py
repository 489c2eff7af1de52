"""Consent with PKCE against the embedded sandbox's own consent page, in process: the link,
the page (any client id, one "allow" per sandbox user, cancel), the code redeemed once with
its verifier, the granted scopes recorded."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from store.errors import ConsentRefused, XeroInvalidGrant
from store.reconnect import reconnect, start_consent
from store.xero.client import SCOPES
from store.xero.sandbox import SANDBOX_LOGIN, SandboxTransport


def _browser(db) -> httpx.Client:
    return httpx.Client(transport=SandboxTransport(db), follow_redirects=False)


def _allow(db, url: str, code: str) -> str:
    """The consent page, the link for `code`'s Xero user, and where Xero redirects."""
    browser = _browser(db)
    page = browser.get(url)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]
    links = dict(re.findall(r"data-org='([^']*)' href='([^']*)'", page.text))
    href = unescape(links[code])
    answer = browser.get(url.split("?")[0] + href)
    assert answer.status_code == 302
    return answer.headers["Location"]


def test_sandbox_consent_end_to_end(db) -> None:
    link = start_consent(db, "SXBREW", actor="alice")
    assert link.url.startswith(SANDBOX_LOGIN + "?")
    ended_on = _allow(db, link.url, "SXBREW")
    query = parse_qs(urlsplit(ended_on).query)
    assert query["state"] == [link.state] and query["scope"] == [SCOPES]
    result = reconnect(db, "SXBREW", redirect_url=ended_on, actor="alice")
    assert result.transition.after == "active"
    scopes = db.execute(
        "SELECT scopes FROM integrations i JOIN orgs o ON o.id = i.org_id WHERE code = 'SXBREW'"
    ).fetchone()[0]
    assert scopes == SCOPES and "accounting.transactions" not in scopes
    with pytest.raises(ConsentRefused, match="already used|matches no consent link"):
        start_consent(db, "COPPER", actor="alice")  # a link for another org works...
        reconnect(db, "COPPER", redirect_url=ended_on, actor="alice")  # ...this one does not


def test_cancel_on_the_consent_page(db) -> None:
    link = start_consent(db, "SXBREW", actor="alice")
    page = _browser(db).get(link.url)
    cancel = unescape(re.search(r"class='deny' href='([^']*)'", page.text).group(1))
    ended_on = _browser(db).get(link.url.split("?")[0] + cancel).headers["Location"]
    assert "error=access_denied" in ended_on
    with pytest.raises(ConsentRefused, match="declined"):
        reconnect(db, "SXBREW", redirect_url=ended_on, actor="alice")


def test_a_code_needs_its_pkce_verifier(db, xero) -> None:
    link = start_consent(db, "SXBREW", actor="alice")
    ended_on = _allow(db, link.url, "SXBREW")
    code = parse_qs(urlsplit(ended_on).query)["code"][0]
    with pytest.raises(XeroInvalidGrant):
        xero.exchange_code(code, xero.redirect_uri or link.redirect_uri, "not-the-verifier")


def test_sandbox_token_endpoint_takes_credentials_in_the_form(db) -> None:
    """As xero-python sends them: client_id and client_secret in the body, no Basic header."""
    rt = db.execute(
        "SELECT refresh_token FROM sandbox_grants g JOIN orgs o ON o.id = g.org_id "
        "WHERE o.code = 'HARBOUR'"
    ).fetchone()[0]
    answer = _browser(db).post(
        "https://identity.xero.com/connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": rt,
            "client_id": "any-app",
            "client_secret": "its-secret",
        },
    )
    assert answer.status_code == 200 and answer.json()["access_token"].startswith("sbx-at-")


def test_a_store_of_the_previous_version_gets_the_consent_table(tmp_path) -> None:
    import sqlite3

    from store import schema
    from store.db import SCHEMA_VERSION, create_store, open_store

    path = tmp_path / "old.db"
    create_store(path).conn.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE consent_requests")
    before = schema.MIGRATIONS.index(schema._migrate_consent_requests)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()
    db = open_store(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "consent_requests" in db.table_names()
    db.conn.close()
