"""store/xero/client.py against httpx.MockTransport: shapes, errors, retries, limits, secrets."""

from __future__ import annotations

import base64
import inspect
import json
import threading
import time

import httpx
import pytest
from support import FakeClock
from xero_stub import ACCOUNTS, ORGANISATION, TAX_RATES

from store.errors import (  # noqa: E402
    XeroAuthExpired,
    XeroBadResponse,
    XeroConnectionRemoved,
    XeroError,
    XeroForbidden,
    XeroInvalidGrant,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTimeout,
    XeroTokenRefused,
    XeroUnreachable,
    XeroValidation,
)
from store.xero.client import XeroClient  # noqa: E402
from store.xero.http_errors import HTTPX_ERRORS, map_httpx_error  # noqa: E402
from store.xero.limits import Limiter  # noqa: E402

TENANT = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
SECRET = "very-secret-client-secret"
TOKEN = "access-token-that-must-not-leak"


def make(handler, clock: FakeClock | None = None, **options) -> tuple[XeroClient, FakeClock]:
    clock = clock or FakeClock()
    client = XeroClient(
        client_id="cid",
        client_secret=SECRET,
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock.monotonic,
        **options,
    )
    return client, clock


def reply(status: int, body=None, headers=None, text: str | None = None) -> httpx.Response:
    headers = {"Xero-Correlation-Id": "corr-1", **(headers or {})}
    if text is not None:
        return httpx.Response(status, text=text, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


def problem(status: int, title: str, detail: str) -> dict:
    return {"Type": None, "Title": title, "Status": status, "Detail": detail, "Instance": "x"}


# --- requests and shapes --------------------------------------------------------------------


def test_connections_parsed_and_sent_with_bearer() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(
            200,
            [
                {
                    "id": "7cb59f93-2964-421d-bb5e-a0f7a4572a44",
                    "tenantId": TENANT,
                    "tenantName": "Demo Company (NZ)",
                    "tenantType": "ORGANISATION",
                    "createdDateUtc": "2019-12-07T18:46:19.5165400",
                    "updatedDateUtc": "2019-12-07T18:46:19.5187840",
                }
            ],
        )

    client, _ = make(handler)
    [conn] = client.connections(TOKEN)
    assert (conn.id, conn.tenant_id, conn.tenant_name) == (
        "7cb59f93-2964-421d-bb5e-a0f7a4572a44",
        TENANT,
        "Demo Company (NZ)",
    )
    assert str(seen[0].url) == "https://api.xero.com/connections"
    assert seen[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert "xero-tenant-id" not in seen[0].headers


def test_accounting_calls_send_tenant_header_and_parse_pascal_case() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["xero-tenant-id"] == TENANT
        body = {
            "/api.xro/2.0/Organisation": ORGANISATION,
            "/api.xro/2.0/Accounts": ACCOUNTS,
            "/api.xro/2.0/TaxRates": TAX_RATES,
            "/api.xro/2.0/TrackingCategories": {
                "TrackingCategories": [
                    {
                        "TrackingCategoryID": "t1",
                        "Name": "Region",
                        "Status": "ACTIVE",
                        "Options": [{"Name": "North", "Status": "ACTIVE"}],
                    }
                ]
            },
        }[request.url.path]
        return reply(200, body)

    client, _ = make(handler)
    org = client.organisation(TOKEN, TENANT)
    assert (org.name, org.base_currency, org.is_demo_company) == (
        "Harbourside Coffee Roasters",
        "NZD",
        False,
    )
    accounts = client.accounts(TOKEN, TENANT)
    assert [(a.code, a.type, a.status) for a in accounts] == [
        ("091", "BANK", "ACTIVE"),
        ("200", "REVENUE", "ACTIVE"),
    ]
    rates = client.tax_rates(TOKEN, TENANT)
    assert rates[0].tax_type == "INPUT2" and rates[0].can_apply_to_revenue is False
    assert rates[0].rate == 15.0
    [category] = client.tracking_categories(TOKEN, TENANT)
    assert category.options == ("North",)


def test_contacts_by_email_uses_where_filter() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["where"] == 'EmailAddress=="kat.warren@clampett.com"'
        return reply(
            200,
            {
                "Contacts": [
                    {
                        "ContactID": "5cc8cf28-567e-4d43-b287-687cfcaec47c",
                        "ContactStatus": "ACTIVE",
                        "Name": "Katherine Warren",
                        "EmailAddress": "kat.warren@clampett.com",
                    }
                ]
            },
        )

    client, _ = make(handler)
    [contact] = client.contacts_by_email(TOKEN, TENANT, "kat.warren@clampett.com")
    assert contact.name == "Katherine Warren"


def test_refresh_posts_form_with_basic_auth() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == "https://identity.xero.com/connect/token"
        assert (
            request.headers["Authorization"]
            == "Basic " + base64.b64encode(f"cid:{SECRET}".encode()).decode()
        )
        form = dict(x.split("=") for x in request.content.decode().split("&"))
        assert form == {"grant_type": "refresh_token", "refresh_token": "rt-1"}
        return reply(
            200,
            {
                "access_token": "at-2",
                "expires_in": 1800,
                "token_type": "Bearer",
                "refresh_token": "rt-2",
            },
        )

    client, _ = make(handler)
    tokens = client.refresh("rt-1")
    assert (tokens.access_token, tokens.refresh_token, tokens.expires_in) == ("at-2", "rt-2", 1800)
    assert "at-2" not in repr(tokens) and "rt-2" not in repr(tokens)


def test_exchange_code_and_authorize_url() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert b"grant_type=authorization_code" in request.content
        assert b"code=abc" in request.content
        return reply(200, {"access_token": "a", "refresh_token": "r", "expires_in": 1800})

    client, _ = make(handler)
    assert client.exchange_code("abc", "http://localhost/cb").refresh_token == "r"
    url = client.authorize_url("st4te", "http://localhost/cb", "openid offline_access")
    assert url.startswith("https://login.xero.com/identity/connect/authorize?")
    assert "state=st4te" in url and "client_id=cid" in url and "response_type=code" in url


def test_delete_connection_204() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.method == "DELETE"
        assert request.url.path == "/connections/c-1"
        return httpx.Response(204)

    client, _ = make(handler)
    assert client.delete_connection(TOKEN, "c-1") is None


def test_create_invoice_wraps_body_and_sends_idempotency_key() -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        sent = json.loads(request.content)["Invoices"][0]
        return reply(200, {"Invoices": [{**sent, "InvoiceID": "inv-1"}]})

    client, _ = make(handler)
    created = client.create_invoice(TOKEN, TENANT, {"Type": "ACCREC", "InvoiceNumber": "SI-1"})
    assert created["InvoiceID"] == "inv-1"
    assert seen[0].method == "PUT" and seen[0].url.path == "/api.xro/2.0/Invoices"
    key = seen[0].headers["Idempotency-Key"]
    client.create_invoice(TOKEN, TENANT, {"Type": "ACCREC", "InvoiceNumber": "SI-1"})
    assert seen[1].headers["Idempotency-Key"] == key  # same document, same key
    client.create_invoice(TOKEN, TENANT, {"Type": "ACCREC", "InvoiceNumber": "SI-2"})
    assert seen[2].headers["Idempotency-Key"] != key


# --- errors by status -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "error", "kind", "log"),
    [
        (
            401,
            problem(401, "Unauthorized", "AuthenticationUnsuccessful"),
            {"WWW-Authenticate": "Bearer error=invalid_token"},
            XeroAuthExpired,
            "auth_expired",
            "Xero API 401 Unauthorized: AuthenticationUnsuccessful",
        ),
        (
            403,
            problem(403, "Forbidden", "AuthenticationUnsuccessful"),
            {},
            XeroConnectionRemoved,
            "connection_removed",
            f"Xero API 403 Forbidden: AuthenticationUnsuccessful (tenant {TENANT})",
        ),
        (
            403,
            {"title": "Forbidden", "status": 403, "detail": "AuthorizationUnsuccessful"},
            {},
            XeroForbidden,
            "authorization_failed",
            "Xero API 403 Forbidden: AuthorizationUnsuccessful",
        ),
        (404, None, {}, XeroNotFound, "document_not_found", "Xero API 404 Not Found"),
        (
            503,
            problem(
                503, "Organisation offline", "The organisation temporarily cannot be connected to."
            ),
            {},
            XeroServerError,
            "org_offline",
            "Xero API 503 Organisation offline: The organisation temporarily cannot be "
            "connected to.",
        ),
        (500, None, {}, XeroServerError, "xero_server_error", "Xero API 500 Internal Error"),
        (
            429,
            None,
            {"Retry-After": "51840", "X-Rate-Limit-Problem": "day"},
            XeroRateLimited,
            "rate_limited_day",
            "Xero API 429 Too Many Requests (X-Rate-Limit-Problem: day, Retry-After: 51840)",
        ),
    ],
)
def test_status_becomes_error(db, status, body, headers, error, kind, log) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if body is None:
            return reply(status, headers=headers, text="The resource you're looking for...")
        return reply(status, body, headers)

    client, clock = make(handler, retries=0)
    with pytest.raises(error) as info:
        client.accounts(TOKEN, TENANT)
    exc = info.value
    assert exc.kind == kind and exc.status == status
    assert exc.correlation_id == "corr-1"
    assert exc.log_message.startswith(log)
    assert str(exc).endswith(".") and "\n" not in str(exc)
    if status not in (404, 500):  # a bare 404 has no entry; 500's pattern needs the id form
        # the log wording is what the knowledge base recognises
        from store.kb import classifier

        assert classifier(db).classify(exc.log_message, "error") == kind


def test_validation_body_messages() -> None:
    body = {
        "ErrorNumber": 10,
        "Type": "ValidationException",
        "Message": "A validation exception occurred",
        "Elements": [
            {
                "InvoiceNumber": "SI-1",
                "ValidationErrors": [
                    {"Message": "Account code '220' is not a valid code for this document."},
                    {"Message": "Invoice # must be unique."},
                ],
            }
        ],
    }
    client, _ = make(lambda r: reply(400, body))
    with pytest.raises(XeroValidation) as info:
        client.create_invoice(TOKEN, TENANT, {"Type": "ACCREC"})
    assert info.value.messages == (
        "Account code '220' is not a valid code for this document.",
        "Invoice # must be unique.",
    )
    assert "Invoice # must be unique." in str(info.value)


def test_token_endpoint_errors() -> None:
    client, _ = make(lambda r: reply(400, {"error": "invalid_grant"}))
    with pytest.raises(XeroInvalidGrant) as info:
        client.refresh("rt-old")
    assert info.value.kind == "refresh_token_invalid"
    assert info.value.log_message == "Token refresh failed: invalid_grant"
    client, _ = make(lambda r: reply(400, {"error": "invalid_client"}))
    with pytest.raises(XeroTokenRefused) as info:
        client.refresh("rt-old")
    assert not isinstance(info.value, XeroInvalidGrant)
    assert info.value.kind == "token_refresh_failed"


def test_malformed_json_is_bad_response() -> None:
    client, _ = make(lambda r: reply(200, text='{"Accounts": [ {"Code": '))
    with pytest.raises(XeroBadResponse) as info:
        client.accounts(TOKEN, TENANT)
    assert info.value.correlation_id == "corr-1"
    assert isinstance(info.value.__cause__, ValueError)


def test_wrong_shape_is_bad_response() -> None:
    client, _ = make(lambda r: reply(200, {"Accounts": "not a list"}))
    with pytest.raises(XeroBadResponse):
        client.accounts(TOKEN, TENANT)
    client, _ = make(lambda r: reply(200, [{"tenantName": "no ids"}]))
    with pytest.raises(XeroBadResponse):
        client.connections(TOKEN)


# --- retries, backoff, rate limits ----------------------------------------------------------


def test_5xx_retried_with_backoff_then_succeeds() -> None:
    answers = [reply(500, text="oops"), reply(502, text="bad gateway"), reply(200, ACCOUNTS)]
    client, clock = make(lambda r: answers.pop(0), retries=3, backoff=0.5)
    assert len(client.accounts(TOKEN, TENANT)) == 2
    assert clock.slept == [0.5, 1.0]


def test_5xx_gives_up_after_retries() -> None:
    calls = []
    client, clock = make(lambda r: calls.append(r) or reply(500, text="oops"), retries=2)
    with pytest.raises(XeroServerError):
        client.accounts(TOKEN, TENANT)
    assert len(calls) == 3 and clock.slept == [0.5, 1.0]


def test_429_short_retry_after_is_slept_through() -> None:
    answers = [
        reply(
            429,
            text="Rate Limit Exceeded",
            headers={"Retry-After": "7", "X-Rate-Limit-Problem": "minute"},
        ),
        reply(200, ACCOUNTS),
    ]
    waits = []
    client, clock = make(lambda r: answers.pop(0), on_wait=lambda s, why: waits.append((s, why)))
    assert len(client.accounts(TOKEN, TENANT)) == 2
    assert clock.slept == [7.0]
    assert waits and "429" in waits[0][1]


def test_429_long_retry_after_raises_without_sleeping() -> None:
    client, clock = make(
        lambda r: reply(
            429, headers={"Retry-After": "120", "X-Rate-Limit-Problem": "minute"}, text=""
        )
    )
    with pytest.raises(XeroRateLimited) as info:
        client.accounts(TOKEN, TENANT)
    assert (info.value.retry_after, info.value.problem) == (120.0, "minute")
    assert clock.slept == []


def test_429_forever_is_bounded() -> None:
    client, clock = make(lambda r: reply(429, headers={"Retry-After": "2"}, text=""), retries=2)
    with pytest.raises(XeroRateLimited):
        client.accounts(TOKEN, TENANT)
    assert clock.slept == [2.0, 2.0]


def test_patience_lowers_the_wait_temporarily() -> None:
    client, clock = make(lambda r: reply(429, headers={"Retry-After": "37"}, text=""))
    with client.patience(max_wait=5, retries=0), pytest.raises(XeroRateLimited):
        client.accounts(TOKEN, TENANT)
    assert clock.slept == [] and client.max_wait == 60 and client.retries == 3


def test_timeouts_retried_then_raised() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("timed out", request=request)

    client, clock = make(handler, retries=2, timeout=0.3)
    with pytest.raises(XeroTimeout) as info:
        client.connections(TOKEN)
    assert len(calls) == 3 and clock.slept == [0.5, 1.0]
    assert "0.3 s" in str(info.value)
    assert info.value.log_message.startswith("Xero API request timed out after 0.3 s")
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)


def test_connect_error_is_unreachable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    client, _ = make(handler, retries=0)
    with pytest.raises(XeroUnreachable) as info:
        client.connections(TOKEN)
    assert "api.xero.com" in str(info.value)


def _all_httpx_exceptions() -> list[type[Exception]]:
    return [
        obj
        for name in httpx.__all__
        if inspect.isclass(obj := getattr(httpx, name)) and issubclass(obj, Exception)
    ]


def _instance(cls: type[Exception], request: httpx.Request) -> Exception:
    if issubclass(cls, httpx.HTTPStatusError):
        return cls("boom", request=request, response=httpx.Response(500, request=request))
    if issubclass(cls, httpx.RequestError):
        return cls("boom", request=request)
    try:
        return cls("boom")
    except TypeError:  # StreamConsumed() and friends take no message
        return cls()


@pytest.mark.parametrize("cls", _all_httpx_exceptions(), ids=lambda c: c.__name__)
def test_every_httpx_exception_is_mapped(cls: type[Exception]) -> None:
    assert issubclass(cls, HTTPX_ERRORS), f"{cls.__name__} would escape the client"
    request = httpx.Request("GET", "https://api.xero.com/connections")
    exc = _instance(cls, request)
    mapped = map_httpx_error(exc, method="GET", url=str(request.url), timeout=30)
    assert isinstance(mapped, XeroError) and mapped.kind and str(mapped)

    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, _ = make(handler, retries=0)
    with pytest.raises(XeroError) as info:
        client.connections(TOKEN)
    assert info.value.__cause__ is exc


# --- limits ---------------------------------------------------------------------------------


def test_limiter_allows_60_a_minute_then_waits() -> None:
    clock = FakeClock(start=1000.0)
    limiter = Limiter(clock=clock.monotonic, sleep=clock.sleep)
    for _ in range(60):
        with limiter.slot():
            pass
    assert clock.slept == []
    with limiter.slot():
        pass
    assert clock.slept == [60.0]


def test_client_spreads_61_calls_over_a_minute() -> None:
    client, clock = make(lambda r: reply(200, ACCOUNTS))
    start = clock.now
    for _ in range(61):
        client.accounts(TOKEN, TENANT)
    assert clock.now - start == pytest.approx(60.0)
    # another tenant has its own budget
    client.accounts(TOKEN, "another-tenant")
    assert clock.now - start == pytest.approx(60.0)


def test_limiter_caps_concurrency_at_5() -> None:
    limiter = Limiter()
    inside, peak, lock = [0], [0], threading.Lock()
    five_inside = threading.Event()  # a slot is held until five are in at once

    def work() -> None:
        with limiter.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
                if inside[0] == 5:
                    five_inside.set()
            five_inside.wait(10)
            time.sleep(0.02)  # a sixth would get in now if the limiter let it
            with lock:
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 5


def test_pause_delays_every_caller() -> None:
    clock = FakeClock(start=0.0)
    limiter = Limiter(clock=clock.monotonic, sleep=clock.sleep)
    limiter.pause(12)
    assert limiter.wait_needed() == 12
    with limiter.slot():
        pass
    assert clock.slept == [12]


# --- secrets --------------------------------------------------------------------------------


def test_secrets_never_in_repr_or_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(401, problem(401, "Unauthorized", "AuthenticationUnsuccessful"))

    client, _ = make(handler, retries=0)
    assert SECRET not in repr(client)
    with pytest.raises(XeroError) as info:
        client.accounts(TOKEN, TENANT)
    exc = info.value
    for text in (str(exc), repr(exc), exc.log_message, repr(vars(exc))):
        assert TOKEN not in text and SECRET not in text
