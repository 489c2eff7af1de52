"""The client over real HTTP: a Xero stub on 127.0.0.1, reached through the SYNCDESK_XERO_* env."""

from __future__ import annotations

import json
import socket
import time

import pytest
from xero_stub import problem

from store.checks import check  # noqa: E402
from store.errors import (  # noqa: E402
    InvalidConfig,
    XeroAuthExpired,
    XeroBadResponse,
    XeroConnectionRemoved,
    XeroInvalidGrant,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTimeout,
    XeroUnreachable,
)
from store.orgs import org_id  # noqa: E402
from store.xero.config import client_from_env  # noqa: E402
from store.xero.sandbox import SandboxTransport  # noqa: E402
from store.xero.tokens import ensure_token  # noqa: E402

TENANT = "0b6c7f0e-3c1a-4d52-9a57-6f3f2a4e8d11"  # HARBOUR's tenant in the demo store
ACCOUNTS_PATH = "/api/api.xro/2.0/Accounts"


@pytest.fixture
def xero(stub_env, db, clock):
    """A client_from_env client on the stub, with a live token for HARBOUR's tenant."""
    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    token = client.refresh("any-refresh-token").access_token
    yield client, token
    client.close()


def test_env_selects_real_api_or_sandbox(db, stub_env, monkeypatch) -> None:
    client = client_from_env(db)
    assert client.transport is None and client.sandbox is None
    assert client.api_url == stub_env.api_url and client.identity_url == stub_env.identity_url
    monkeypatch.delenv("SYNCDESK_XERO_CLIENT_SECRET")  # a PKCE public client: still real Xero
    client = client_from_env(db)
    assert client.transport is None and client.api_url == stub_env.api_url
    for name in ("CLIENT_ID", "API_URL", "IDENTITY_URL", "LOGIN_URL", "REDIRECT_URI"):
        monkeypatch.delenv(f"SYNCDESK_XERO_{name}")
    client = client_from_env(db)
    assert isinstance(client.transport, SandboxTransport) and client.sandbox is client.transport
    assert client.api_url == "https://api.xero.com"


def test_env_timeout_and_retries(db, stub_env, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_TIMEOUT", "0.3")
    monkeypatch.setenv("SYNCDESK_XERO_RETRIES", "0")
    client = client_from_env(db)
    assert (client.timeout, client.retries) == (0.3, 0)
    monkeypatch.setenv("SYNCDESK_XERO_TIMEOUT", "soon")
    with pytest.raises(InvalidConfig, match="SYNCDESK_XERO_TIMEOUT"):
        client_from_env(db)


def test_calls_over_http(xero, stub) -> None:
    client, token = xero
    [connection] = client.connections(token)
    assert connection.tenant_id == TENANT
    accounts = client.accounts(token, TENANT)
    assert [a.code for a in accounts] == ["091", "200"]
    assert client.organisation(token, TENANT).base_currency == "NZD"
    method, path, headers = stub.seen[-1]
    assert (method, path) == ("GET", "/api/api.xro/2.0/Organisation")
    assert headers["xero-tenant-id"] == TENANT and headers["Authorization"].startswith("Bearer ")
    assert stub.seen[0][2]["Authorization"].startswith("Basic ")


def test_401(xero, stub) -> None:
    client, token = xero
    stub.answer(
        "GET",
        ACCOUNTS_PATH,
        (
            401,
            {"WWW-Authenticate": "Bearer error=invalid_token", "Xero-Correlation-Id": "c-401"},
            problem(401, "Unauthorized", "AuthenticationUnsuccessful"),
        ),
    )
    with pytest.raises(XeroAuthExpired) as info:
        client.accounts(token, TENANT)
    assert info.value.correlation_id == "c-401"


def test_403(xero, stub) -> None:
    client, token = xero
    stub.tenants.clear()  # the connection is gone
    with pytest.raises(XeroConnectionRemoved) as info:
        client.accounts(token, TENANT)
    assert TENANT in info.value.log_message


def test_404_plain_text(xero) -> None:
    client, token = xero
    with pytest.raises(XeroNotFound):
        client._get(token, TENANT, "Widgets", "Widgets")


def test_429_retry_after_then_200(xero, stub, clock) -> None:
    client, token = xero
    stub.answer(
        "GET",
        ACCOUNTS_PATH,
        (
            429,
            {"Retry-After": "3", "X-Rate-Limit-Problem": "minute", "Content-Type": "text/plain"},
            b"Rate Limit Exceeded",
        ),
        (
            200,
            {},
            json.dumps(
                {"Accounts": [{"Code": "200", "Name": "Sales", "Type": "REVENUE"}]}
            ).encode(),
        ),
    )
    assert [a.code for a in client.accounts(token, TENANT)] == ["200"]
    assert clock.slept == [3.0]


def test_429_long_retry_after(xero, stub, clock) -> None:
    client, token = xero
    stub.answer(
        "GET", ACCOUNTS_PATH, (429, {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}, b"")
    )
    with pytest.raises(XeroRateLimited) as info:
        client.accounts(token, TENANT)
    assert info.value.retry_after == 3600 and clock.slept == []


def test_500_then_200(xero, stub, clock) -> None:
    client, token = xero
    stub.answer(
        "GET",
        ACCOUNTS_PATH,
        (500, {"Xero-Correlation-Id": "c-500"}, b'{"Message": "An error occurred"}'),
        (200, {}, json.dumps({"Accounts": []}).encode()),
    )
    assert client.accounts(token, TENANT) == []
    assert clock.slept == [0.5]


def test_500_persisting(xero, stub) -> None:
    client, token = xero
    stub.answer("GET", ACCOUNTS_PATH, (500, {"Xero-Correlation-Id": "c-500"}, b""))
    with pytest.raises(XeroServerError) as info:
        client.accounts(token, TENANT)
    assert info.value.correlation_id == "c-500"
    assert info.value.log_message == "Xero API 500 Internal Error (Xero-Correlation-Id c-500)"


def test_slow_response_times_out(stub_env, db, clock, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_TIMEOUT", "0.3")
    monkeypatch.setenv("SYNCDESK_XERO_RETRIES", "0")
    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    stub_env.answer("GET", ACCOUNTS_PATH, (200, {}, b'{"Accounts": []}', 2.0))
    client = client_from_env(db, sleep=clock.sleep)
    token = client.refresh("rt").access_token
    started = time.perf_counter()
    with pytest.raises(XeroTimeout) as info:
        client.accounts(token, TENANT)
    assert time.perf_counter() - started < 1.0
    assert "0.3 s" in str(info.value)


def test_malformed_json(xero, stub) -> None:
    client, token = xero
    stub.answer("GET", ACCOUNTS_PATH, (200, {"Xero-Correlation-Id": "c-bad"}, b'{"Accounts": ['))
    with pytest.raises(XeroBadResponse) as info:
        client.accounts(token, TENANT)
    assert info.value.correlation_id == "c-bad"


def test_invalid_grant_and_invalid_client(xero, db, stub_env, monkeypatch) -> None:
    client, _ = xero
    with pytest.raises(XeroInvalidGrant):
        client.refresh("revoked-token")
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_SECRET", "wrong")
    with pytest.raises(Exception) as info:
        client_from_env(db).refresh("rt")
    assert "invalid_client" in str(info.value)


def test_nothing_listening(db, monkeypatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("SYNCDESK_XERO_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SYNCDESK_XERO_IDENTITY_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "id")
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_SECRET", "secret")
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", "http://localhost:8765/callback")
    client = client_from_env(db, retries=0)
    with pytest.raises(XeroUnreachable, match=f"127.0.0.1:{port}"):
        client.refresh("rt")


# --- the session over HTTP ------------------------------------------------------------------


def test_check_over_http(stub_env, db, clock) -> None:
    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    report = check(db, "HARBOUR", client=client)
    ok = {f.check: f.ok for f in report.findings}
    assert ok["token"] and ok["connection"] and ok["tenant"]
    # the stub's chart (the OpenAPI example) has only 091 and 200
    mapping = [f.detail for f in report.findings if f.check == "mapping"]
    assert any("310" in d and "does not exist" in d for d in mapping)
    creds = db.execute(
        "SELECT refresh_token FROM credentials WHERE org_id = ?", [org_id(db, "HARBOUR")]
    ).fetchone()[0]
    assert creds.startswith("stub-rt-")  # the rotated token was stored


def test_check_over_http_403_with_the_tenant_listed_is_not_a_disconnection(
    stub_env, db, clock
) -> None:
    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    stub_env.answer(
        "GET",
        "/api/api.xro/2.0/Organisation",
        (403, {}, problem(403, "Forbidden", "AuthenticationUnsuccessful")),
    )
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    report = check(db, "HARBOUR", client=client)
    assert report.state == "active"
    assert any(f.check == "access" and not f.ok for f in report.findings)


def test_check_over_http_tenant_gone_from_connections_disconnects(stub_env, db, clock) -> None:
    stub_env.tenants = {"someone-else": "Another Org"}
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    report = check(db, "HARBOUR", client=client)
    assert report.state == "disconnected"


def test_retry_403_disconnects_only_when_connections_drop_the_tenant(stub_env, db, clock) -> None:
    from store.checks import retry
    from store.transitions import integration

    stub_env.tenants = {TENANT: "Harbourside Coffee Roasters"}
    forbidden = (403, {}, problem(403, "Forbidden", "AuthenticationUnsuccessful"))
    stub_env.answer("PUT", "/api/api.xro/2.0/Invoices", forbidden)
    stub_env.answer("PUT", "/api/api.xro/2.0/CreditNotes", forbidden)
    stub_env.answer("PUT", "/api/api.xro/2.0/ManualJournals", forbidden)
    db.execute(
        "UPDATE queue SET status = 'failed' WHERE org_id = ? AND status = 'exported' "
        "AND id IN (SELECT id FROM queue WHERE org_id = ? LIMIT 2)",
        [org_id(db, "HARBOUR"), org_id(db, "HARBOUR")],
    )
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    report = retry(db, "HARBOUR", client=client)
    assert report.stopped_reason and "syncdesk check" in report.stopped_reason
    assert integration(db, "HARBOUR").state == "active"  # still listed: not disconnected
    stub_env.tenants = {}
    retry(db, "HARBOUR", client=client)
    assert integration(db, "HARBOUR").state == "disconnected"


def test_revoked_refresh_token_over_http(stub_env, db, clock) -> None:
    clock.sleep(2 * 3600)  # hours after the store was built: its access tokens have expired
    db.execute(
        "UPDATE credentials SET refresh_token = 'revoked-1' WHERE org_id = ?",
        [org_id(db, "HARBOUR")],
    )
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    with pytest.raises(XeroInvalidGrant):
        ensure_token(db, "HARBOUR", client)


@pytest.mark.parametrize(
    "body",
    [b"The organisation temporarily cannot be connected to.", b"Organisation is offline"],
)
def test_plain_text_503_is_organisation_offline(xero, stub, db, body: bytes) -> None:
    from store.kb import Classifier, knowledge

    client, token = xero
    stub.answer("GET", "/api/api.xro/2.0/Accounts", (503, {"Content-Type": "text/plain"}, body))
    with pytest.raises(XeroServerError) as caught:
        with client.patience(max_wait=0, retries=0):
            client.accounts(token, TENANT)
    error = caught.value
    assert error.kind == "org_offline" and "organisation is offline" in str(error)
    assert error.log_message.startswith("Xero API 503 Organisation offline: ")
    classify = Classifier(knowledge(db)).classify
    assert classify(error.log_message, "error") == "org_offline"
    assert classify(f"Xero API 503 {body.decode()}", "error") == "org_offline"


def test_plain_text_503_that_is_not_offline_is_xero_unavailable(xero, stub) -> None:
    client, token = xero
    stub.answer(
        "GET",
        "/api/api.xro/2.0/Accounts",
        (503, {"Content-Type": "text/plain"}, b"Service Unavailable"),
    )
    with pytest.raises(XeroServerError) as caught:
        with client.patience(max_wait=0, retries=0):
            client.accounts(token, TENANT)
    assert caught.value.kind == "xero_unavailable"
