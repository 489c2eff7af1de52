"""The Xero client: one httpx.Client per organisation session, typed results, our errors.

Everything goes through `XeroClient._send`, which is the one place where httpx exceptions and
error statuses become XeroError subclasses (`raise ... from exc`), and which applies the
policy: a per-tenant Limiter (60 calls a minute, 5 at once), 429 honoured by sleeping for
Retry-After when it is short (at most `max_wait` seconds, otherwise XeroRateLimited at once),
5xx, timeouts and dropped connections retried `retries` times with exponential backoff, and
malformed JSON turned into XeroBadResponse. Sleep and clock are injected for tests.

Neither tokens nor the client secret ever reach an exception message, a log row or a repr.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from store import clock
from store.errors import (
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
from store.xero.limits import Limiter
from store.xero.models import (
    Account,
    Connection,
    Contact,
    Organisation,
    TaxRate,
    TokenSet,
    TrackingCategory,
)

DEFAULT_API = "https://api.xero.com"
DEFAULT_IDENTITY = "https://identity.xero.com"
DEFAULT_LOGIN = "https://login.xero.com/identity/connect/authorize"
ACCOUNTING = "/api.xro/2.0"
SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)
MAX_WAIT = 60.0  # the longest Retry-After slept through; longer ones are reported instead
BACKOFF_CAP = 30.0
APP_PER_MINUTE = 10_000  # tenantless calls (/connections, tokens) only count against the app

# Everything httpx can raise at us; InvalidURL, StreamError and CookieConflict are not HTTPError.
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
)
_RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    412: "Precondition Failed",
    429: "Too Many Requests",
    500: "Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _where(method: str, url: str) -> str:
    return f"{method} {urlsplit(url).path or '/'}"


def _field(body: Any, *names: str) -> Any:
    """A key of a JSON object, matched case-insensitively (Xero mixes Title and title)."""
    if not isinstance(body, dict):
        return None
    lowered = {str(k).lower(): v for k, v in body.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return value
    return None


def _parse_body(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content) if response.content else None
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - clock.now()).total_seconds())


def _seconds(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:g}"


def validation_messages(body: Any) -> tuple[str, ...]:
    """Xero's own texts from a ValidationException body (Elements[].ValidationErrors[])."""
    found: list[str] = []
    for element in _field(body, "Elements") or ():
        for error in _field(element, "ValidationErrors") or ():
            message = _field(error, "Message")
            if message and message not in found:
                found.append(str(message))
    if not found:
        message = _field(body, "Detail", "Message")
        if message:
            found.append(str(message))
    return tuple(found)


def map_httpx_error(exc: Exception, *, method: str, url: str, timeout: float) -> XeroError:
    """The XeroError for anything httpx raised while calling `method url`."""
    where = _where(method, url)
    host = _host(url)
    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.HTTPStatusError):
        return error_for_response(exc.response, method=method, url=url)
    if isinstance(exc, httpx.TimeoutException):
        return XeroTimeout(
            f"Xero did not answer {where} within {_seconds(timeout)} s; check the network and "
            "Xero's status page, then try again.",
            log_message=f"Xero API request timed out after {_seconds(timeout)} s ({where})",
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return XeroUnreachable(
            f"The Xero address {url.split('?')[0]} cannot be used ({reason}); check "
            "SYNCDESK_XERO_API_URL and SYNCDESK_XERO_IDENTITY_URL.",
            log_message=f"Xero API unreachable: invalid address {host}",
        )
    if isinstance(exc, httpx.NetworkError | httpx.ProxyError):
        return XeroUnreachable(
            f"Cannot reach Xero at {host} ({reason}); check the network connection and try again.",
            log_message=f"Xero API unreachable: {host} ({reason})",
        )
    if isinstance(exc, httpx.ProtocolError | httpx.DecodingError | httpx.TooManyRedirects):
        return XeroBadResponse(
            f"Xero's answer to {where} could not be read ({reason}); try again, and escalate "
            "if it keeps happening.",
            log_message=f"Xero API unreadable response to {where} ({reason})",
        )
    return XeroBadResponse(
        f"The call {where} to Xero failed inside the HTTP client ({type(exc).__name__}); try "
        "again, and escalate if it keeps happening.",
        log_message=f"Xero API call failed: {where} ({type(exc).__name__})",
    )


def error_for_response(
    response: httpx.Response, *, method: str, url: str, tenant_id: str | None = None
) -> XeroError:
    """The XeroError for an error status (4xx, 5xx) from Xero."""
    status = response.status_code
    body = _parse_body(response)
    cid = response.headers.get("Xero-Correlation-Id")
    where = _where(method, url)
    common: dict[str, Any] = {"correlation_id": cid, "status": status}
    title = _field(body, "Title") or _REASONS.get(status, response.reason_phrase or "Error")
    detail = _field(body, "Detail")
    token_error = _field(body, "error")
    if token_error is not None and urlsplit(url).path.endswith("/connect/token"):
        description = _field(body, "error_description")
        said = f"{token_error} ({description})" if description else str(token_error)
        if token_error == "invalid_grant":
            return XeroInvalidGrant(
                f"Xero refused the stored authorisation ({said}); reconnect the integration so "
                "a Xero admin authorises it again.",
                log_message=f"Token refresh failed: {said}",
                **common,
            )
        return XeroTokenRefused(
            f"Xero's token service refused the request ({said}); check the client id and "
            "secret, then reconnect if it persists.",
            log_message=f"Token refresh failed: {said}",
            **common,
        )
    if status == 400:
        messages = validation_messages(body)
        text = " ".join(messages) or "no detail given"
        return XeroValidation(
            f"Xero rejected {where}: {text}",
            messages=messages,
            log_message=f"Xero API 400 ValidationException: {text}",
            **common,
        )
    if status == 401:
        detail = detail or "AuthenticationUnsuccessful"
        return XeroAuthExpired(
            f"Xero did not accept the access token (401 {detail}); it is refreshed "
            "automatically, so if this persists reconnect the integration.",
            log_message=f"Xero API 401 Unauthorized: {detail}",
            **common,
        )
    if status == 403:
        detail = detail or "AuthenticationUnsuccessful"
        if "authorization" in str(detail).lower():
            return XeroForbidden(
                f"Xero refused {where} (403 {detail}): the connecting user lacks the role or "
                "the app the scope; reconnect as a Xero user with Standard or Adviser access.",
                log_message=f"Xero API 403 Forbidden: {detail}",
                **common,
            )
        suffix = f" (tenant {tenant_id})" if tenant_id else ""
        return XeroConnectionRemoved(
            f"Xero refused access to the organisation{suffix} (403 {detail}): the app was "
            "probably removed from Xero's connected apps; reconnect the integration.",
            tenant_id=tenant_id,
            log_message=f"Xero API 403 Forbidden: {detail}{suffix}",
            **common,
        )
    if status == 404:
        return XeroNotFound(
            f"Xero has nothing at {where} (404); check the id, or SYNCDESK_XERO_API_URL.",
            log_message=f"Xero API 404 Not Found: {where}",
            **common,
        )
    if status == 429:
        retry_after = _retry_after(response)
        problem = response.headers.get("X-Rate-Limit-Problem")
        kind = {
            "minute": "rate_limited_minute",
            "day": "rate_limited_day",
            "appminute": "rate_limited_app",
        }.get(str(problem).lower(), "rate_limited")
        parts = [f"X-Rate-Limit-Problem: {problem}"] if problem else []
        if retry_after is not None:
            parts.append(f"Retry-After: {_seconds(retry_after)}")
        when = f"try again in {_seconds(retry_after)} s" if retry_after is not None else "wait"
        return XeroRateLimited(
            f"Xero's {problem or 'call'} limit for this organisation is used up (429); {when}.",
            kind=kind,
            retry_after=retry_after,
            problem=problem,
            log_message="Xero API 429 Too Many Requests"
            + (f" ({', '.join(parts)})" if parts else ""),
            **common,
        )
    if status >= 500:
        if status == 503:
            offline = "offline" in f"{title} {detail}".lower()
            text = f"{title}: {detail}" if detail else str(title)
            return XeroServerError(
                (
                    f"Xero says the organisation is offline (503 {text}); wait and try again later."
                    if offline
                    else f"Xero is unavailable (503 {text}); wait and try again later."
                ),
                kind="org_offline" if offline else "xero_unavailable",
                log_message=f"Xero API 503 {text}",
                **common,
            )
        ref = f" (Xero-Correlation-Id {cid})" if cid else ""
        return XeroServerError(
            f"Xero failed with {status} {title} on {where}; try again later, and escalate to "
            f"Xero quoting correlation id {cid or 'none'} if it persists.",
            log_message=f"Xero API {status} {title}{ref}",
            **common,
        )
    return XeroError(
        f"Xero answered {status} {title} to {where}; escalate with correlation id {cid or 'none'}.",
        log_message=f"Xero API {status} {title} ({where})",
        **common,
    )


class XeroClient:
    """httpx.Client wrapper; one instance per org session."""

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API,
        identity_url: str = DEFAULT_IDENTITY,
        client_id: str,
        client_secret: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_wait: float = MAX_WAIT,
        backoff: float = 0.5,
        login_url: str = DEFAULT_LOGIN,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.login_url = login_url
        self.client_id = client_id
        self._secret = client_secret
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep
        self.clock = clock
        self.max_wait = max_wait
        self.backoff = backoff
        self.on_wait = on_wait
        self.transport = transport
        self._http = httpx.Client(
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "syncdesk/0.1"},
        )
        self._limiters: dict[str, Limiter] = {}
        self._limiters_lock = threading.Lock()

    def __repr__(self) -> str:  # never the secret
        return f"XeroClient(api_url={self.api_url!r}, identity_url={self.identity_url!r})"

    def __enter__(self) -> XeroClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def sandbox(self) -> Any:
        """The embedded sandbox behind this client, or None when it talks to a real server."""
        from store.xero.sandbox import SandboxTransport

        return self.transport if isinstance(self.transport, SandboxTransport) else None

    @contextmanager
    def patience(self, *, max_wait: float, retries: int | None = None) -> Iterator[None]:
        """Temporarily wait and retry at most this much (a health check reports a long 429
        rather than sleeping through it). Only ever lowers the client's own settings."""
        saved = self.max_wait, self.retries
        self.max_wait = min(self.max_wait, max_wait)
        self.retries = self.retries if retries is None else min(self.retries, retries)
        try:
            yield
        finally:
            self.max_wait, self.retries = saved

    def limiter(self, tenant_id: str | None) -> Limiter:
        """The call budget of one tenant (tenantless calls share the app's budget)."""
        key = tenant_id or ""
        with self._limiters_lock:
            if key not in self._limiters:
                self._limiters[key] = Limiter(
                    per_minute=APP_PER_MINUTE if not key else 60,
                    clock=self.clock,
                    sleep=self.sleep,
                    on_wait=self._waiting,
                )
            return self._limiters[key]

    def _waiting(self, seconds: float, reason: str) -> None:
        if self.on_wait is not None:
            self.on_wait(seconds, reason)

    # --- the one place requests are sent ----------------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        tenant_id: str | None = None,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        form: dict[str, str] | None = None,
        basic: bool = False,
        idempotency_key: str | None = None,
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if basic:
            pair = f"{self.client_id}:{self._secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        if tenant_id is not None:
            headers["xero-tenant-id"] = tenant_id
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        limiter = self.limiter(tenant_id)
        failures = waits = 0
        while True:
            error: XeroError | None = None
            with limiter.slot():
                try:
                    response = self._http.request(
                        method, url, headers=headers, params=params, json=json_body, data=form
                    )
                except HTTPX_ERRORS as exc:
                    error = map_httpx_error(exc, method=method, url=url, timeout=self.timeout)
                    if not isinstance(exc, _RETRYABLE_TRANSPORT) or failures >= self.retries:
                        raise error from exc
            if error is not None:
                failures += 1
                self._backoff(failures, None, error.log_message)
                continue
            status = response.status_code
            if status < 400:
                return response
            error = error_for_response(response, method=method, url=url, tenant_id=tenant_id)
            if isinstance(error, XeroRateLimited):
                wait = error.retry_after if error.retry_after is not None else self._delay(1)
                if wait > self.max_wait or waits >= self.retries:
                    raise error
                waits += 1
                limiter.pause(wait, error.log_message)
                continue
            if status >= 500 and failures < self.retries:
                failures += 1
                self._backoff(failures, _retry_after(response), error.log_message)
                continue
            raise error

    def _delay(self, attempt: int) -> float:
        return min(BACKOFF_CAP, self.backoff * 2 ** (attempt - 1))

    def _backoff(self, attempt: int, retry_after: float | None, reason: str) -> None:
        delay = self._delay(attempt)
        if retry_after is not None and retry_after <= self.max_wait:
            delay = max(delay, retry_after)
        self._waiting(delay, reason)
        self.sleep(delay)

    def _json(self, response: httpx.Response, method: str, url: str) -> Any:
        try:
            return json.loads(response.content)
        except ValueError as exc:
            cid = response.headers.get("Xero-Correlation-Id")
            where = _where(method, url)
            raise XeroBadResponse(
                f"Xero answered {where} with something that is not JSON; try again, and "
                f"escalate quoting correlation id {cid or 'none'} if it persists.",
                correlation_id=cid,
                status=response.status_code,
                log_message=f"Xero API {response.status_code} malformed JSON from {where}"
                + (f" (Xero-Correlation-Id {cid})" if cid else ""),
            ) from exc

    def _items(
        self, response: httpx.Response, method: str, url: str, key: str | None
    ) -> list[dict[str, Any]]:
        data = self._json(response, method, url)
        items = data if key is None else _field(data, key)
        if key is not None and items is None and isinstance(data, dict):
            items = []  # Xero leaves out an empty collection now and then
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            cid = response.headers.get("Xero-Correlation-Id")
            raise XeroBadResponse(
                f"Xero's answer to {_where(method, url)} does not have the expected "
                f"{key or 'list'}; escalate quoting correlation id {cid or 'none'}.",
                correlation_id=cid,
                status=response.status_code,
                log_message=f"Xero API {response.status_code} unexpected response shape from "
                f"{_where(method, url)}",
            )
        return items

    def _read(self, items: list[dict[str, Any]], parse: Callable[[dict], Any], where: str) -> list:
        try:
            return [parse(item) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise XeroBadResponse(
                f"Xero's answer to {where} is missing fields syncdesk needs ({exc}); escalate.",
                log_message=f"Xero API unexpected response shape from {where}",
            ) from exc

    # --- identity ----------------------------------------------------------------------------

    def connections(self, access_token: str) -> list[Connection]:
        url = f"{self.api_url}/connections"
        response = self._send("GET", url, token=access_token)
        return self._read(
            self._items(response, "GET", url, None), Connection.from_json, "GET /connections"
        )

    def delete_connection(self, access_token: str, connection_id: str) -> None:
        self._send("DELETE", f"{self.api_url}/connections/{connection_id}", token=access_token)

    def _token(self, form: dict[str, str]) -> TokenSet:
        url = f"{self.identity_url}/connect/token"
        response = self._send("POST", url, form=form, basic=True)
        data = self._json(response, "POST", url)
        if not isinstance(data, dict) or not data.get("access_token"):
            raise XeroBadResponse(
                "Xero's token service answered without an access token; try again, and "
                "escalate if it persists.",
                log_message="Token refresh failed: no access_token in the response",
            )
        return TokenSet.from_json(data)

    def refresh(self, refresh_token: str) -> TokenSet:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def exchange_code(self, code: str, redirect_uri: str) -> TokenSet:
        return self._token(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    def authorize_url(self, state: str, redirect_uri: str, scopes: str = SCOPES) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": scopes,
                "state": state,
            }
        )
        return f"{self.login_url}?{query}"

    # --- accounting --------------------------------------------------------------------------

    def _get(
        self,
        access_token: str,
        tenant_id: str,
        resource: str,
        key: str,
        params: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        url = f"{self.api_url}{ACCOUNTING}/{resource}"
        response = self._send("GET", url, token=access_token, tenant_id=tenant_id, params=params)
        return self._items(response, "GET", url, key)

    def organisation(self, access_token: str, tenant_id: str) -> Organisation:
        items = self._get(access_token, tenant_id, "Organisation", "Organisations")
        if not items:
            raise XeroBadResponse(
                "Xero returned no organisation for this tenant; escalate.",
                log_message="Xero API unexpected response shape from GET /Organisation",
            )
        return Organisation.from_json(items[0])

    def accounts(self, access_token: str, tenant_id: str) -> list[Account]:
        items = self._get(access_token, tenant_id, "Accounts", "Accounts")
        return self._read(items, Account.from_json, "GET /Accounts")

    def tax_rates(self, access_token: str, tenant_id: str) -> list[TaxRate]:
        items = self._get(access_token, tenant_id, "TaxRates", "TaxRates")
        return self._read(items, TaxRate.from_json, "GET /TaxRates")

    def tracking_categories(self, access_token: str, tenant_id: str) -> list[TrackingCategory]:
        items = self._get(access_token, tenant_id, "TrackingCategories", "TrackingCategories")
        return self._read(items, TrackingCategory.from_json, "GET /TrackingCategories")

    def contacts_by_email(self, access_token: str, tenant_id: str, email: str) -> list[Contact]:
        quoted = email.replace("\\", "\\\\").replace('"', '\\"')
        items = self._get(
            access_token, tenant_id, "Contacts", "Contacts", {"where": f'EmailAddress=="{quoted}"'}
        )
        return self._read(items, Contact.from_json, "GET /Contacts")

    def _create(
        self,
        access_token: str,
        tenant_id: str,
        resource: str,
        document: dict[str, Any],
        idempotency_key: str | None,
    ) -> dict[str, Any]:
        url = f"{self.api_url}{ACCOUNTING}/{resource}"
        # Xero keeps the answer to an Idempotency-Key, so re-sending after a timeout cannot
        # create the document twice; the key follows the content, so a corrected document
        # (after a mapping fix) is a new request.
        key = (
            idempotency_key
            or "syncdesk-"
            + hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:40]
        )
        response = self._send(
            "PUT",
            url,
            token=access_token,
            tenant_id=tenant_id,
            json_body={resource: [document]},
            idempotency_key=key,
        )
        items = self._items(response, "PUT", url, resource)
        if not items:
            raise XeroBadResponse(
                f"Xero accepted PUT /{resource} but returned nothing; check Xero before "
                "sending it again.",
                log_message=f"Xero API unexpected response shape from PUT /{resource}",
            )
        created = items[0]
        messages = (
            validation_messages({"Elements": [created]})
            if _field(created, "ValidationErrors")
            else ()
        )
        if messages:
            raise XeroValidation(
                f"Xero rejected PUT /{resource}: {' '.join(messages)}",
                messages=messages,
                status=response.status_code,
                correlation_id=response.headers.get("Xero-Correlation-Id"),
                log_message=f"Xero API 400 ValidationException: {' '.join(messages)}",
            )
        return created

    def create_invoice(
        self,
        access_token: str,
        tenant_id: str,
        invoice: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """PUT /Invoices with one invoice (a bill is Type ACCPAY); returns Xero's invoice."""
        return self._create(access_token, tenant_id, "Invoices", invoice, idempotency_key)

    def create_credit_note(
        self,
        access_token: str,
        tenant_id: str,
        credit_note: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        return self._create(access_token, tenant_id, "CreditNotes", credit_note, idempotency_key)

    def create_manual_journal(
        self,
        access_token: str,
        tenant_id: str,
        journal: dict[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """PUT /ManualJournals (sales journals: COGS against Stock on Hand)."""
        return self._create(access_token, tenant_id, "ManualJournals", journal, idempotency_key)


def client_from_env(db: Any, **options: Any) -> XeroClient:
    """The real API when SYNCDESK_XERO_CLIENT_ID and _SECRET are set, else the embedded sandbox.

    Base URLs come from SYNCDESK_XERO_API_URL and SYNCDESK_XERO_IDENTITY_URL, the timeout in
    seconds from SYNCDESK_XERO_TIMEOUT and the number of retries from SYNCDESK_XERO_RETRIES;
    `options` go to XeroClient (tests pass sleep and clock).
    """
    client_id = os.environ.get("SYNCDESK_XERO_CLIENT_ID")
    secret = os.environ.get("SYNCDESK_XERO_CLIENT_SECRET")
    for name, key, kind in (
        ("SYNCDESK_XERO_TIMEOUT", "timeout", float),
        ("SYNCDESK_XERO_RETRIES", "retries", int),
    ):
        value = os.environ.get(name)
        if value and key not in options:
            try:
                options[key] = kind(value)
            except ValueError:
                raise XeroUnreachable(
                    f"{name} must be a {'number of seconds' if kind is float else 'whole number'}"
                    f" (got {value!r})."
                ) from None
    if client_id and secret:
        return XeroClient(
            api_url=os.environ.get("SYNCDESK_XERO_API_URL") or DEFAULT_API,
            identity_url=os.environ.get("SYNCDESK_XERO_IDENTITY_URL") or DEFAULT_IDENTITY,
            client_id=client_id,
            client_secret=secret,
            **options,
        )
    from store.xero.sandbox import SandboxTransport

    transport = options.pop("transport", None) or SandboxTransport(db)
    return XeroClient(
        client_id="syncdesk-sandbox",
        client_secret="sandbox-secret",
        transport=transport,
        **options,
    )
