"""`syncdesk sandbox serve`: the store's Xero over real HTTP, tested with a plain HTTP client
(urllib, as any SDK would call it) and with syncdesk itself pointed at it unchanged."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from support import plant, run_cli

from store.xero.sandbox_serve import SandboxServer, start_in_thread

MERIDIAN_TENANT = "d4f3b5c2-26e4-4d9f-a123-c16ead8f405b"  # behaviour: outage 503
HARBOUR_TENANT = "0b6c7f0e-3c1a-4d52-9a57-6f3f2a4e8d11"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # a browser's next hop is the test's business
        return None


OPENER = urllib.request.build_opener(_NoRedirect)


def call(method: str, url: str, *, data: dict | None = None, headers: dict | None = None):
    """(status, headers, body) of one plain HTTP request."""
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with OPENER.open(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def served(store_path: Path) -> Iterator[tuple[SandboxServer, list[str]]]:
    lines: list[str] = []
    server = SandboxServer(store_path, "127.0.0.1", 0, log=lines.append)
    thread = start_in_thread(server)
    yield server, lines
    server.shutdown()
    server.server_close()
    thread.join(2)


def _root(server: SandboxServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def _consent(server: SandboxServer, code: str, *, client_id: str = "dev-app") -> tuple:
    """Walk the consent page as a browser: returns (code, verifier, redirect)."""
    verifier = "v" * 50
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    redirect = "http://localhost:5555/callback"
    login = f"{_root(server)}/login/identity/connect/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect,
            "scope": "openid offline_access accounting.invoices",
            "state": "st-1",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    status, _, page = call("GET", login)
    assert status == 200
    links = dict(re.findall(r"data-org='([^']*)' href='([^']*)'", page.decode()))
    status, headers, _ = call("GET", login.split("?")[0] + unescape(links[code]))
    assert status == 302
    query = parse_qs(urlsplit(headers["Location"]).query)
    assert headers["Location"].startswith(redirect) and query["state"] == ["st-1"]
    return query["code"][0], verifier, redirect


def test_openid_configuration_and_index(served) -> None:
    server, _ = served
    for path in ("/.well-known/openid-configuration", "/identity/.well-known/openid-configuration"):
        status, headers, body = call("GET", _root(server) + path)
        config = json.loads(body)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        assert config["token_endpoint"] == f"{_root(server)}/identity/connect/token"
        assert config["authorization_endpoint"].endswith("/login/identity/connect/authorize")
        assert "S256" in config["code_challenge_methods_supported"]
        assert "client_secret_post" in config["token_endpoint_auth_methods_supported"]
    status, _, body = call("GET", _root(server) + "/")
    assert status == 200 and b"SYNCDESK_XERO_API_URL=" in body and b"/Date(ms+0000)/" in body


def test_whole_flow_over_http_any_client_id_credentials_in_the_form(served) -> None:
    server, lines = served
    code, verifier, redirect = _consent(server, "HARBOUR")
    status, _, body = call(
        "POST",
        f"{_root(server)}/identity/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": "dev-app",
            "client_secret": "whatever",
        },
    )
    tokens = json.loads(body)
    assert status == 200 and tokens["scope"] == "openid offline_access accounting.invoices"
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    status, _, body = call("GET", f"{_root(server)}/api/connections", headers=bearer)
    assert status == 200 and json.loads(body)[0]["tenantId"] == HARBOUR_TENANT
    status, headers, body = call(
        "GET",
        f"{_root(server)}/api/api.xro/2.0/Organisation",
        headers={**bearer, "xero-tenant-id": HARBOUR_TENANT},
    )
    assert status == 200 and json.loads(body)["Organisations"][0]["Name"]
    assert int(headers["X-DayLimit-Remaining"]) < 5000
    assert any("client id 'dev-app'" in line for line in lines)
    # the code was used once
    status, _, body = call(
        "POST",
        f"{_root(server)}/identity/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": "dev-app",
        },
    )
    assert status == 400 and json.loads(body) == {"error": "invalid_grant"}


def _bearer_for(server: SandboxServer, org: str) -> dict[str, str]:
    code, verifier, redirect = _consent(server, org)
    _, _, body = call(
        "POST",
        f"{_root(server)}/identity/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect,
            "code_verifier": verifier,
            "client_id": "x",
        },
    )
    return {"Authorization": f"Bearer {json.loads(body)['access_token']}"}


def test_offline_503_is_plain_text_and_day_limit_429(served) -> None:
    server, _ = served
    bearer = _bearer_for(server, "MERIDIAN")
    status, headers, body = call(
        "GET",
        f"{_root(server)}/api/api.xro/2.0/Accounts",
        headers={**bearer, "xero-tenant-id": MERIDIAN_TENANT},
    )
    assert status == 503 and headers["Content-Type"].startswith("text/plain")
    assert body == b"The organisation temporarily cannot be connected to."
    bearer = _bearer_for(server, "HARBOUR")
    server.transport._limits._day[HARBOUR_TENANT] = 5000
    status, headers, _ = call(
        "GET",
        f"{_root(server)}/api/api.xro/2.0/Accounts",
        headers={**bearer, "xero-tenant-id": HARBOUR_TENANT},
    )
    assert status == 429 and headers["X-Rate-Limit-Problem"] == "day"
    assert 0 < int(headers["Retry-After"]) <= 86400


def test_practice_manager_tenant_is_listed_and_never_chosen(served, store_path, capsys) -> None:
    server, _ = served
    plant(
        store_path,
        "INSERT INTO sandbox_tenants SELECT 'ffff0000-0000-4000-8000-000000000001', "
        "'Harbour Accountants (XPM)', region, currency, accounts, tax_rates, contacts, "
        '\'{"tenant_type": "PRACTICEMANAGER"}\' FROM sandbox_tenants '
        f"WHERE tenant_id = '{HARBOUR_TENANT}'",
        "UPDATE sandbox_grants SET tenant_ids = json_insert(tenant_ids, '$[#]', "
        "'ffff0000-0000-4000-8000-000000000001') WHERE org_id = "
        "(SELECT id FROM orgs WHERE code = 'HARBOUR')",
    )
    bearer = _bearer_for(server, "HARBOUR")
    _, _, body = call("GET", f"{_root(server)}/api/connections", headers=bearer)
    kinds = {c["tenantType"] for c in json.loads(body)}
    assert kinds == {"ORGANISATION", "PRACTICEMANAGER"}
    from store.db import open_store
    from store.reconnect import reconnect_options
    from store.transitions import uninstall

    db = open_store(store_path)
    try:
        uninstall(db, "HARBOUR", confirm="HARBOUR", actor="t")
        offered = reconnect_options(db, "HARBOUR").tenants
    finally:
        db.conn.close()
    assert [t.tenant_id for t in offered] == [HARBOUR_TENANT]


def test_syncdesk_pointed_at_the_served_sandbox(served, store_path, capsys, monkeypatch) -> None:
    """syncdesk's own client, configured as for the real Xero, works against it unchanged."""
    server, _ = served
    root = _root(server)
    monkeypatch.setenv("SYNCDESK_XERO_API_URL", f"{root}/api")
    monkeypatch.setenv("SYNCDESK_XERO_IDENTITY_URL", f"{root}/identity")
    monkeypatch.setenv("SYNCDESK_XERO_LOGIN_URL", f"{root}/login/identity/connect/authorize")
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "dev-app")
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", "http://localhost:5555/callback")
    db = ("--db", str(store_path))
    code, out, err = run_cli(capsys, *db, "check", "HARBOUR")
    assert code == 0, out + err
    code, out, _ = run_cli(capsys, *db, "reconnect", "SXBREW", "--auth-url", "--json")
    url = json.loads(out)["url"]
    status, _, page = call("GET", url)
    links = dict(re.findall(r"data-org='([^']*)' href='([^']*)'", page.decode()))
    status, headers, _ = call("GET", url.split("?")[0] + unescape(links["SXBREW"]))
    code, out, err = run_cli(
        capsys, *db, "reconnect", "SXBREW", "--redirect-url", headers["Location"]
    )
    assert code == 0 and "SXBREW: disconnected -> active" in out, err


def test_cli_prints_the_base_urls_and_serves(store_path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "--db", str(store_path), "sandbox", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    try:
        urls = {}
        while len(urls) < 3:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            if "=" in line and line.strip().startswith("SYNCDESK_XERO_") and "URL=" in line:
                name, _, value = line.strip().partition("=")
                urls[name] = value
        assert set(urls) == {
            "SYNCDESK_XERO_API_URL",
            "SYNCDESK_XERO_IDENTITY_URL",
            "SYNCDESK_XERO_LOGIN_URL",
        }
        status, _, body = call(
            "GET", urls["SYNCDESK_XERO_IDENTITY_URL"] + "/.well-known/openid-configuration"
        )
        assert status == 200 and json.loads(body)["issuer"] == urls["SYNCDESK_XERO_IDENTITY_URL"]
        status, _, _ = call("GET", urls["SYNCDESK_XERO_API_URL"] + "/connections")
        assert status == 401
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_cli_refuses_a_non_loopback_address(capsys, store_path) -> None:
    code, _, err = run_cli(capsys, "--db", str(store_path), "sandbox", "serve", "--host", "0.0.0.0")
    assert code == 1 and "not a loopback address" in err and "--allow-remote" in err
