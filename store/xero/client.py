"""The Xero client: one httpx.Client per organisation session, typed results, our errors.

Everything goes through `XeroClient._send`, which is the one place where httpx exceptions and
error statuses become XeroError subclasses (`raise ... from exc`, worded by http_errors.py;
client_from_env in config.py picks the real API or the sandbox), and which applies the
policy: a per-tenant Limiter (60 calls a minute, 5 at once), 429 honoured by sleeping for
Retry-After when it is short (at most `max_wait` seconds, otherwise XeroRateLimited at once),
5xx, timeouts and dropped connections retried `retries` times with exponential backoff, and
malformed JSON turned into XeroBadResponse. Sleep and clock are injected for tests.

Neither tokens nor the client secret ever reach an exception message, a log row or a repr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

import httpx

from store.errors import XeroBadResponse, XeroError, XeroRateLimited, XeroValidation
from store.redact import remember
from store.xero.deadline import deadline, deadline_hooks, default_transport
from store.xero.http_errors import (
    HTTPX_ERRORS,
    RETRYABLE_TRANSPORT,
    call_site,
    error_for_response,
    json_field,
    map_httpx_error,
    retry_after_seconds,
    validation_messages,
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
    checked_tokens,
)

DEFAULT_API = "https://api.xero.com"
DEFAULT_IDENTITY = "https://identity.xero.com"
DEFAULT_LOGIN = "https://login.xero.com/identity/connect/authorize"
ACCOUNTING = "/api.xro/2.0"
# Granular scopes (Xero apps created from 2 March 2026 cannot ask for the broad
# accounting.transactions, and older apps must move off it by September 2027).
SCOPES = (
    "openid profile email offline_access accounting.settings accounting.contacts "
    "accounting.invoices accounting.payments accounting.manualjournals"
)
MAX_WAIT = 60.0  # the longest Retry-After slept through; longer ones are reported instead
BACKOFF_CAP = 30.0
APP_PER_MINUTE = 10_000  # tenantless calls (/connections, tokens) only count against the app


class XeroClient:
    """httpx.Client wrapper; one instance per org session."""

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API,
        identity_url: str = DEFAULT_IDENTITY,
        client_id: str,
        client_secret: str | None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        max_wait: float = MAX_WAIT,
        backoff: float = 0.5,
        login_url: str = DEFAULT_LOGIN,
        on_wait: Callable[[float, str], None] | None = None,
        scopes: str = SCOPES,
        redirect_uri: str | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.identity_url = identity_url.rstrip("/")
        self.login_url = login_url
        self.scopes = scopes
        self.redirect_uri = redirect_uri
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
            transport=transport or default_transport(),
            timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json", "User-Agent": "syncdesk/0.1"},
            event_hooks=deadline_hooks(timeout),  # each call in all, not only each read
        )
        self._limiters: dict[str, Limiter] = {}
        # X-DayLimit-Remaining as Xero last said it, per tenant (a retry stops before the
        # tenant's last 10 % of its 5,000 daily calls).
        self.day_remaining: dict[str, int] = {}
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
            remember(token)  # whatever Xero echoes of it is redacted
            headers["Authorization"] = f"Bearer {token}"
        if basic:
            sent = form or {}
            remember(sent.get("refresh_token"), sent.get("code"), sent.get("code_verifier"))
            if self._secret:
                pair = f"{self.client_id}:{self._secret}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
                remember(self._secret, headers["Authorization"][6:])
            else:  # a PKCE public client names itself in the form
                form = {**sent, "client_id": self.client_id}
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
                    with deadline(self.timeout):  # connect + send + the whole answer
                        response = self._http.request(
                            method, url, headers=headers, params=params, json=json_body, data=form
                        )
                except HTTPX_ERRORS as exc:
                    error = map_httpx_error(exc, method=method, url=url, timeout=self.timeout)
                    if not isinstance(exc, RETRYABLE_TRANSPORT) or failures >= self.retries:
                        raise error from exc
            if error is not None:
                failures += 1
                self._backoff(failures, None, error.log_message)
                continue
            status = response.status_code
            self._note_day_limit(tenant_id, response)
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
                self._backoff(failures, retry_after_seconds(response), error.log_message)
                continue
            raise error

    def _note_day_limit(self, tenant_id: str | None, response: httpx.Response) -> None:
        left = response.headers.get("X-DayLimit-Remaining")
        if tenant_id and left is not None and left.strip().isdigit():
            self.day_remaining[tenant_id] = int(left)

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
            where = call_site(method, url)
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
        items = data if key is None else json_field(data, key)
        if key is not None and items is None and isinstance(data, dict):
            items = []  # Xero leaves out an empty collection now and then
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            cid = response.headers.get("Xero-Correlation-Id")
            raise XeroBadResponse(
                f"Xero's answer to {call_site(method, url)} does not have the expected "
                f"{key or 'list'}; escalate quoting correlation id {cid or 'none'}.",
                correlation_id=cid,
                status=response.status_code,
                log_message=f"Xero API {response.status_code} unexpected response shape from "
                f"{call_site(method, url)}",
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
        remember(str(data["access_token"]), data.get("refresh_token"))
        return checked_tokens(data, form.get("grant_type", ""))

    def refresh(self, refresh_token: str) -> TokenSet:
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def exchange_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> TokenSet:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return self._token(form)

    def authorize_url(
        self,
        state: str,
        redirect_uri: str,
        scopes: str | None = None,
        code_challenge: str | None = None,
    ) -> str:
        """Xero's consent page for this app (PKCE S256 when a code_challenge is given)."""
        fields = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": scopes or self.scopes,
            "state": state,
        }
        if code_challenge:
            fields |= {"code_challenge": code_challenge, "code_challenge_method": "S256"}
        return f"{self.login_url}?{urlencode(fields)}"

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
        # create the document twice; the key follows the tenant and the content, so a
        # corrected document (after a mapping fix) or another organisation is a new request.
        sent = json.dumps([tenant_id, resource, document], sort_keys=True).encode()
        key = idempotency_key or "syncdesk-" + hashlib.sha256(sent).hexdigest()[:40]
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
            if json_field(created, "ValidationErrors")
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

    def find_documents(
        self, access_token: str, tenant_id: str, resource: str, number: str
    ) -> list[dict[str, Any]]:
        """The Invoices or CreditNotes with this number (a lookup after a lost answer)."""
        quoted = number.replace("\\", "\\\\").replace('"', '\\"')
        params = (
            {"InvoiceNumbers": number}
            if resource == "Invoices"
            else {"where": f'CreditNoteNumber=="{quoted}"'}
        )
        return self._get(access_token, tenant_id, resource, resource, params)

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
