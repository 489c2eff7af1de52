"""Where httpx exceptions and Xero's error answers become XeroErrors, in the wording the
knowledge base recognises; `XeroClient._send` applies these to everything it sends.

Neither tokens nor the client secret ever reach an exception message or a log row.
"""

from __future__ import annotations

import email.utils
import json
from datetime import UTC
from typing import Any
from urllib.parse import urlsplit

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
from store.redact import redact

# Everything httpx can raise at us; InvalidURL, StreamError and CookieConflict are not HTTPError.
HTTPX_ERRORS: tuple[type[Exception], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    httpx.CookieConflict,
)
RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
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
    """host[:port] of the URL, without any user:password@ it carries."""
    netloc = urlsplit(url).netloc
    return netloc.rpartition("@")[2] or redact(url)


def call_site(method: str, url: str) -> str:
    """'GET /path': the call as an error message names it."""
    return f"{method} {urlsplit(url).path or '/'}"


def json_field(body: Any, *names: str) -> Any:
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


def _plain_text(response: httpx.Response) -> str | None:
    """A short text/plain body (Xero's offline 503), on one line; None for anything else."""
    kind = response.headers.get("Content-Type", "")
    if not kind.startswith("text/plain") or not response.content:
        return None
    text = " ".join(response.content[:300].decode("utf-8", "replace").split())
    return text or None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Retry-After in seconds (a number or an HTTP date); None when absent or unreadable."""
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
    for element in json_field(body, "Elements") or ():
        for error in json_field(element, "ValidationErrors") or ():
            message = json_field(error, "Message")
            if message and message not in found:
                found.append(str(message))
    if not found:
        message = json_field(body, "Detail", "Message")
        if message:
            found.append(str(message))
    return tuple(found)


def map_httpx_error(exc: Exception, *, method: str, url: str, timeout: float) -> XeroError:
    """The XeroError for anything httpx raised while calling `method url`."""
    where = call_site(method, url)
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
            f"The Xero address {redact(url.split('?')[0])} cannot be used ({reason}); check "
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
    where = call_site(method, url)
    common: dict[str, Any] = {"correlation_id": cid, "status": status}
    title = json_field(body, "Title") or _REASONS.get(status, response.reason_phrase or "Error")
    detail = json_field(body, "Detail")
    token_error = json_field(body, "error")
    if token_error is not None and urlsplit(url).path.endswith("/connect/token"):
        description = json_field(body, "error_description")
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
            "removed from Xero's connected apps, or the connecting user lost access to the "
            "organisation; `syncdesk check` tells which.",
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
        retry_after = retry_after_seconds(response)
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
            said = detail or _plain_text(response)  # Xero's real "offline" 503 is plain text
            lowered = f"{title} {said}".lower()
            offline = "offline" in lowered or "temporarily cannot be connected" in lowered
            text = f"{title}: {said}" if said else str(title)
            if offline and json_field(body, "Title") is None:
                text = f"Organisation offline: {said}"  # the knowledge base's wording
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
