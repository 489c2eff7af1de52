"""Which Xero a session talks to: the real API when client credentials are configured, else
the embedded sandbox; timeouts and retries from the environment."""

from __future__ import annotations

import os
from typing import Any

from store.errors import XeroUnreachable
from store.xero.client import DEFAULT_API, DEFAULT_IDENTITY, XeroClient
from store.xero.sandbox import SandboxTransport


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
    transport = options.pop("transport", None) or SandboxTransport(db)
    return XeroClient(
        client_id="syncdesk-sandbox",
        client_secret="sandbox-secret",
        transport=transport,
        **options,
    )
