"""The embedded sandbox over the demo store: Xero's URLs, shapes and failures per sample org."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest
from support import FakeClock, sandbox_client

from store.errors import (  # noqa: E402
    XeroConnectionRemoved,
    XeroConsentRequired,
    XeroInvalidGrant,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroValidation,
)
from store.orgs import org_id  # noqa: E402
from store.xero.sandbox import SANDBOX_REDIRECT, SandboxTransport, consent  # noqa: E402

API = "https://api.xero.com"
UNUSABLE = "does not exist or cannot be used for this type of transaction."


def grant(db, code: str) -> dict:
    return dict(
        db.execute("SELECT * FROM sandbox_grants WHERE org_id = ?", [org_id(db, code)]).fetchone()
    )


def tenant_of(db, code: str) -> str:
    return db.execute(
        "SELECT tenant_id FROM integrations WHERE org_id = ?", [org_id(db, code)]
    ).fetchone()[0]


def live_token(db, client, code: str) -> str:
    """Refresh with the org's stored refresh token (the stored access tokens have expired)."""
    return client.refresh(grant(db, code)["refresh_token"]).access_token


def raw(db, clock: FakeClock) -> httpx.Client:
    return httpx.Client(transport=SandboxTransport(db, clock=clock.time))


def test_every_response_has_a_correlation_id(db, clock) -> None:
    http = raw(db, clock)
    for response in (
        http.get(f"{API}/connections"),
        http.post("https://identity.xero.com/connect/token"),
        http.get(f"{API}/nowhere"),
    ):
        uuid.UUID(response.headers["Xero-Correlation-Id"])


def test_unknown_or_expired_token_is_401_with_xero_body(db, clock) -> None:
    clock.sleep(2 * 3600)  # hours after the store was built: its access tokens have expired
    http = raw(db, clock)
    expired = grant(db, "HARBOUR")["access_token"]
    for token in ("nonsense", expired):
        response = http.get(f"{API}/connections", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer error=invalid_token"
        body = response.json()
        assert (body["Title"], body["Status"], body["Detail"]) == (
            "Unauthorized",
            401,
            "AuthenticationUnsuccessful",
        )


def test_refresh_rotates_and_old_token_stops_working(db, clock) -> None:
    client = sandbox_client(db, clock)
    old = grant(db, "HARBOUR")["refresh_token"]
    tokens = client.refresh(old)
    assert tokens.refresh_token != old and tokens.expires_in == 1800
    assert grant(db, "HARBOUR")["refresh_token"] == tokens.refresh_token
    [connection] = client.connections(tokens.access_token)
    assert connection.tenant_name == "Harbourside Coffee Roasters"
    clock.sleep(30 * 60 + 1)  # Xero's grace for the previous refresh token is 30 minutes
    with pytest.raises(XeroInvalidGrant):
        client.refresh(old)


def test_previous_refresh_token_works_within_the_grace(db, clock) -> None:
    """A process killed between Xero's token response and storing it is not locked out."""
    client = sandbox_client(db, clock)
    old = grant(db, "HARBOUR")["refresh_token"]
    lost = client.refresh(old)  # the answer that never reached the store
    clock.sleep(29 * 60)
    rescued = client.refresh(old)
    assert rescued.refresh_token not in (old, lost.refresh_token)
    assert grant(db, "HARBOUR")["refresh_token"] == rescued.refresh_token
    with pytest.raises(XeroInvalidGrant):  # the lost one was replaced by the rescue
        client.refresh("sbx-rt-never-issued")
    assert client.refresh(rescued.refresh_token).access_token


def test_expired_refresh_token_is_invalid_grant(db, clock) -> None:
    stored = db.execute(
        "SELECT refresh_token FROM credentials WHERE org_id = ?", [org_id(db, "WATTLE")]
    ).fetchone()[0]
    response = raw(db, clock).post(
        "https://identity.xero.com/connect/token",
        data={"grant_type": "refresh_token", "refresh_token": stored},
        auth=("id", "secret"),
    )
    assert response.status_code == 400 and response.json() == {"error": "invalid_grant"}


def test_token_endpoint_needs_basic_auth(db, clock) -> None:
    response = raw(db, clock).post(
        "https://identity.xero.com/connect/token", data={"grant_type": "refresh_token"}
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"


def test_tenant_header_required_and_checked(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "HARBOUR")
    http = raw(db, clock)
    auth = {"Authorization": f"Bearer {token}"}
    missing = http.get(f"{API}/api.xro/2.0/Accounts", headers=auth)
    other = http.get(
        f"{API}/api.xro/2.0/Accounts", headers={**auth, "xero-tenant-id": tenant_of(db, "KAURI")}
    )
    for response in (missing, other):
        assert response.status_code == 403
        assert response.json()["Detail"] == "AuthenticationUnsuccessful"


def test_removed_connection_answers_403_and_empty_connections(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "SXBREW")
    assert client.connections(token) == []
    with pytest.raises(XeroConnectionRemoved) as info:
        client.organisation(token, tenant_of(db, "SXBREW"))
    assert tenant_of(db, "SXBREW") in info.value.log_message


def test_charts_in_xero_shapes(db, clock) -> None:
    client = sandbox_client(db, clock)
    kauri = live_token(db, client, "KAURI")
    codes = {a.code: a for a in client.accounts(kauri, tenant_of(db, "KAURI"))}
    assert "220" not in codes and codes["200"].type == "REVENUE"
    assert codes["610"].system_account == "DEBTORS" and codes["800"].system_account == "CREDITORS"
    tasman = live_token(db, client, "TASMAN")
    codes = {a.code: a for a in client.accounts(tasman, tenant_of(db, "TASMAN"))}
    assert codes["630"].status == "ARCHIVED"
    bright = live_token(db, client, "BRIGHT")
    rates = {t.tax_type: t for t in client.tax_rates(bright, tenant_of(db, "BRIGHT"))}
    assert rates["TAX001"].status == "ARCHIVED" and rates["OUTPUT2"].rate == 20.0
    org = client.organisation(bright, tenant_of(db, "BRIGHT"))
    assert (org.name, org.base_currency, org.country_code) == (
        "Brightwater Pet Foods Ltd",
        "GBP",
        "GB",
    )
    http = raw(db, clock)
    body = http.get(
        f"{API}/api.xro/2.0/Accounts",
        headers={"Authorization": f"Bearer {bright}", "xero-tenant-id": tenant_of(db, "BRIGHT")},
    ).json()
    assert body["Status"] == "OK" and {"AccountID", "Code", "Name", "Type", "Status"} <= set(
        body["Accounts"][0]
    )


def test_contacts_by_email(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "IRONBARK")
    found = client.contacts_by_email(
        token, tenant_of(db, "IRONBARK"), "ACCOUNTS@ironbark.example.com"
    )
    assert sorted(c.name for c in found) == ["Bolt & Nut Wholesale", "Ironbark Site Services"]


def test_busy_tenant_cycle_429_then_served(db, clock) -> None:
    http = raw(db, clock)
    client = sandbox_client(db, clock)
    token = live_token(db, client, "THISTLE")
    tenant = tenant_of(db, "THISTLE")
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant}
    first = http.get(f"{API}/api.xro/2.0/Organisation", headers=headers)
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "37"
    assert first.headers["X-Rate-Limit-Problem"] == "minute"
    clock.sleep(30)
    assert (
        http.get(f"{API}/api.xro/2.0/Organisation", headers=headers).headers["Retry-After"] == "7"
    )
    clock.sleep(7)
    served = http.get(f"{API}/api.xro/2.0/Organisation", headers=headers)
    assert served.status_code == 200 and int(served.headers["X-MinLimit-Remaining"]) == 59
    clock.sleep(61)  # the open minute is over: busy again
    assert http.get(f"{API}/api.xro/2.0/Organisation", headers=headers).status_code == 429


def test_client_waits_out_the_busy_tenant(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "THISTLE")
    assert client.organisation(token, tenant_of(db, "THISTLE")).name.startswith("Thistle")
    assert clock.slept == [37]
    with client.patience(max_wait=5):  # served now: the open minute has begun
        client.accounts(token, tenant_of(db, "THISTLE"))


def test_long_busy_period_is_reported(db, clock) -> None:
    behaviour = {"rate_limit": {"problem": "day", "retry_after": 51840}}
    db.execute(
        "UPDATE sandbox_tenants SET behaviour = ? WHERE tenant_id = ?",
        [json.dumps(behaviour), tenant_of(db, "HARBOUR")],
    )
    client = sandbox_client(db, clock)
    token = live_token(db, client, "HARBOUR")
    with pytest.raises(XeroRateLimited) as info:
        client.accounts(token, tenant_of(db, "HARBOUR"))
    assert (info.value.problem, info.value.retry_after, info.value.kind) == (
        "day",
        51840,
        "rate_limited_day",
    )


def test_minute_limit_enforced_without_client_limiter(db, clock) -> None:
    http = raw(db, clock)
    token = live_token(db, sandbox_client(db, clock), "HARBOUR")
    headers = {"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_of(db, "HARBOUR")}
    statuses = [
        http.get(f"{API}/api.xro/2.0/TaxRates", headers=headers).status_code for _ in range(61)
    ]
    assert statuses[:60] == [200] * 60 and statuses[60] == 429


def test_outage_is_503_organisation_offline(db, clock) -> None:
    client = sandbox_client(db, clock, retries=2)
    token = live_token(db, client, "MERIDIAN")
    with pytest.raises(XeroServerError) as info:
        client.organisation(token, tenant_of(db, "MERIDIAN"))
    assert info.value.kind == "org_offline" and info.value.status == 503
    assert clock.slept == [0.5, 1.0]


def _invoice(number: str, account: str = "200", tax: str | None = "OUTPUT2") -> dict:
    line = {"Description": "x", "Quantity": 1, "UnitAmount": 100.0, "AccountCode": account}
    if tax:
        line["TaxType"] = tax
    return {
        "Type": "ACCREC",
        "Contact": {"Name": "Harbour Cafe"},
        "Date": "2026-11-20",
        "DueDate": "2026-12-10",
        "InvoiceNumber": number,
        "Status": "AUTHORISED",
        "LineItems": [line],
    }


def test_invoice_created_with_totals(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "HARBOUR")
    created = client.create_invoice(token, tenant_of(db, "HARBOUR"), _invoice("SI-1"))
    uuid.UUID(created["InvoiceID"])
    assert (created["SubTotal"], created["TotalTax"], created["Total"]) == (100.0, 15.0, 115.0)


@pytest.mark.parametrize(
    ("code", "document", "message"),
    [
        (
            "KAURI",
            _invoice("SI-2", account="220"),
            "Account code '220' is not a valid code for this document.",
        ),
        (
            "HARBOUR",
            _invoice("SI-3", account="610"),
            "Account code '610' is not a valid code for this document.",
        ),
        (
            "BRIGHT",
            _invoice("SI-4", tax="TAX001"),
            f"The TaxType code TAX001 {UNUSABLE}",
        ),
        (
            "HARBOUR",
            _invoice("SI-5", tax="INPUT2"),
            f"The TaxType code INPUT2 {UNUSABLE}",
        ),
        (
            "HARBOUR",
            {**_invoice("SI-6"), "Contact": {}},
            "The Contact must contain at least 1 of the following elements to identify the "
            "contact: Name, ContactID, ContactNumber",
        ),
        (
            "HARBOUR",
            {**_invoice("SI-7"), "CurrencyCode": "USD"},
            "Organisation is not subscribed to currency USD",
        ),
    ],
)
def test_invoice_validation_in_xero_wording(db, clock, code, document, message) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, code)
    with pytest.raises(XeroValidation) as info:
        client.create_invoice(token, tenant_of(db, code), document)
    assert message in info.value.messages
    assert info.value.status == 400


def test_validation_body_shape(db, clock) -> None:
    token = live_token(db, sandbox_client(db, clock), "KAURI")
    response = raw(db, clock).put(
        f"{API}/api.xro/2.0/Invoices",
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_of(db, "KAURI")},
        json={"Invoices": [_invoice("SI-9", account="220")]},
    )
    body = response.json()
    assert response.status_code == 400
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (
        10,
        "ValidationException",
        "A validation exception occurred",
    )
    assert body["Elements"][0]["ValidationErrors"] == [
        {"Message": "Account code '220' is not a valid code for this document."}
    ]


def test_duplicate_number_and_idempotent_replay(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "HARBOUR")
    tenant = tenant_of(db, "HARBOUR")
    first = client.create_invoice(token, tenant, _invoice("SI-10"), idempotency_key="k1")
    again = client.create_invoice(token, tenant, _invoice("SI-10"), idempotency_key="k1")
    assert again["InvoiceID"] == first["InvoiceID"]
    with pytest.raises(XeroValidation) as info:
        client.create_invoice(token, tenant, _invoice("SI-10"), idempotency_key="k2")
    assert info.value.messages == ("Invoice # must be unique.",)


def test_manual_journal_rules(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "TASMAN")
    journal = {
        "Narration": "Sales Journal SO-1",
        "JournalLines": [
            {"LineAmount": 50.0, "AccountCode": "310"},
            {"LineAmount": -50.0, "AccountCode": "630"},
        ],
    }
    with pytest.raises(XeroValidation) as info:
        client.create_manual_journal(token, tenant_of(db, "TASMAN"), journal)
    assert info.value.messages == ("Account code '630' is not a valid code for this document.",)
    journal["JournalLines"][1] = {"LineAmount": -40.0, "AccountCode": "640"}
    with pytest.raises(XeroValidation) as info:
        client.create_manual_journal(token, tenant_of(db, "TASMAN"), journal)
    assert info.value.messages == ("The total debits (50.00) must equal total credits (-40.00)",)


def test_delete_connection_then_404(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "HARBOUR")
    [connection] = client.connections(token)
    client.delete_connection(token, connection.id)
    assert client.connections(token) == []
    with pytest.raises(XeroNotFound):
        client.delete_connection(token, connection.id)
    with pytest.raises(XeroConnectionRemoved):
        client.accounts(token, tenant_of(db, "HARBOUR"))


def test_consent_connects_every_tenant_of_the_user(db, clock) -> None:
    client = sandbox_client(db, clock)
    code = client.sandbox.consent(org_id(db, "GREEN"), SANDBOX_REDIRECT)
    tokens = client.exchange_code(code, SANDBOX_REDIRECT)
    names = sorted(c.tenant_name for c in client.connections(tokens.access_token))
    assert names == ["Demo Company (AU)", "Greenfield Garden Centre Pty Ltd"]
    assert len({c.auth_event_id for c in client.connections(tokens.access_token)}) == 1
    with pytest.raises(XeroInvalidGrant):  # a code works once
        client.exchange_code(code, SANDBOX_REDIRECT)


def test_consent_revives_an_expired_authorisation(db, clock) -> None:
    client = sandbox_client(db, clock)
    code = consent(db, org_id(db, "WATTLE"))
    tokens = client.exchange_code(code, SANDBOX_REDIRECT)
    assert client.refresh(tokens.refresh_token).access_token


def test_consent_without_user(db, clock) -> None:
    with pytest.raises(XeroConsentRequired):
        SandboxTransport(db, clock=clock.time).consent(9999)


def test_unknown_route_is_plain_404(db, clock) -> None:
    token = live_token(db, sandbox_client(db, clock), "HARBOUR")
    response = raw(db, clock).get(
        f"{API}/api.xro/2.0/Widgets",
        headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant_of(db, "HARBOUR")},
    )
    assert response.status_code == 404 and response.headers["Content-Type"].startswith("text/")


def test_usable_from_several_threads(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = live_token(db, client, "HARBOUR")
    tenant = tenant_of(db, "HARBOUR")
    results, errors = [], []

    def work(i: int) -> None:
        try:
            results.append(client.create_invoice(token, tenant, _invoice(f"SI-T{i}")))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len({r["InvoiceID"] for r in results}) == 8


def test_sandbox_concurrency_and_app_minute_limits() -> None:
    from contextlib import ExitStack

    from store.xero.sandbox_common import Answer
    from store.xero.sandbox_limits import CallLimits

    limits = CallLimits()
    with ExitStack() as stack:
        for _ in range(5):
            stack.enter_context(limits.at_once("t"))
        with pytest.raises(Answer) as caught, limits.at_once("t"):
            pass
        answer = caught.value.response
        assert answer.status_code == 429
        assert answer.headers["X-Rate-Limit-Problem"] == "concurrent"
        with limits.at_once("other-tenant"):
            pass
    with limits.at_once("t"):  # released again
        pass
    limits._app.extend([100.0] * 10_000)
    with pytest.raises(Answer) as caught:
        limits.count(None, "t2", {}, 101.0)
    assert caught.value.response.headers["X-Rate-Limit-Problem"] == "appminute"
