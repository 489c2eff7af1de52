"""Which Xero a session talks to: the real API when client credentials are configured, else
the embedded sandbox; timeouts and retries from the environment."""

from __future__ import annotations

import math
import os
from typing import Any

from store.errors import InvalidConfig
from store.xero.client import DEFAULT_API, DEFAULT_IDENTITY, XeroClient
from store.xero.sandbox import SandboxTransport

MAX_TIMEOUT = 600.0  # seconds: a longer wait is a hang, not patience
MAX_RETRIES = 10


def _env_number(name: str, kind: type[float] | type[int], most: float) -> float | int:
    """The environment variable as a number above 0 (a timeout) or from 0 (retries), at most
    `most`. Raises InvalidConfig naming the variable: -1, nan, inf, 'abc' are refused."""
    value = os.environ[name]
    wanted = (
        f"a number of seconds above 0 and at most {most:g}"
        if kind is float
        else f"a whole number from 0 to {most:g}"
    )
    try:
        number = kind(value)
    except ValueError:
        number = None
    low_ok = number is not None and (number > 0 if kind is float else number >= 0)
    if number is None or not math.isfinite(number) or not low_ok or number > most:
        raise InvalidConfig(f"{name} must be {wanted} (got {value!r}); correct or unset it.")
    return number


def client_from_env(db: Any, **options: Any) -> XeroClient:
    """The real API when SYNCDESK_XERO_CLIENT_ID and _SECRET are set, else the embedded sandbox.

    Base URLs come from SYNCDESK_XERO_API_URL and SYNCDESK_XERO_IDENTITY_URL, the timeout in
    seconds from SYNCDESK_XERO_TIMEOUT and the number of retries from SYNCDESK_XERO_RETRIES;
    `options` go to XeroClient (tests pass sleep and clock).
    """
    client_id = os.environ.get("SYNCDESK_XERO_CLIENT_ID")
    secret = os.environ.get("SYNCDESK_XERO_CLIENT_SECRET")
    if "timeout" not in options and os.environ.get("SYNCDESK_XERO_TIMEOUT"):
        options["timeout"] = _env_number("SYNCDESK_XERO_TIMEOUT", float, MAX_TIMEOUT)
    if "retries" not in options and os.environ.get("SYNCDESK_XERO_RETRIES"):
        options["retries"] = _env_number("SYNCDESK_XERO_RETRIES", int, MAX_RETRIES)
    if client_id and secret:
        return XeroClient(
            api_url=os.environ.get("SYNCDESK_XERO_API_URL") or DEFAULT_API,
            identity_url=os.environ.get("SYNCDESK_XERO_IDENTITY_URL") or DEFAULT_IDENTITY,
            client_id=client_id,
            client_secret=secret,
            **options,
        )
    transport = options.pop("transport", None) or SandboxTransport(db)
    return XeroClient(
        client_id="syncdesk-sandbox",
        client_secret="sandbox-secret",
        transport=transport,
        **options,
    )
