"""Waiting for Xero's redirect on this machine: a one-shot HTTP listener on the redirect URI's
port (127.0.0.1 only), for a consent given in a browser elsewhere and forwarded with
`ssh -L PORT:localhost:PORT`.

`wait_for_redirect` returns the full address the browser was sent to (the same text a person
would paste), after answering the browser with a short page; any other path gets 404. It gives
up at its deadline (real seconds: it waits for a person) or when `cancelled()` says so.
"""

from __future__ import annotations

import html
import socket
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit, urlunsplit

from store.errors import ConsentRefused, InvalidConfig
from store.xero.config import is_loopback

POLL = 0.1  # how often the listener looks at its deadline and `cancelled`


class _Server(HTTPServer):
    allow_reuse_address = True
    address_family = socket.AF_INET

    def __init__(self, port: int, path: str) -> None:
        self.expected_path = path
        self.received: str | None = None
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: object) -> None:  # nothing on the terminal
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if parts.path != self.server.expected_path or not parts.query:
            self._answer(404, "Not the Xero redirect syncdesk is waiting for.")
            return
        self.server.received = self.path
        self._answer(200, "syncdesk has Xero's answer; you can close this tab.")

    def _answer(self, status: int, text: str) -> None:
        body = (
            f"<!doctype html><meta charset='utf-8'><title>syncdesk</title>"
            f"<p>{html.escape(text)}</p>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def listen_address(redirect_uri: str) -> tuple[int, str]:
    """The port and path to listen on for redirect_uri; InvalidConfig when it is not on this
    machine (a listener cannot catch a redirect to another host)."""
    parts = urlsplit(redirect_uri)
    if parts.scheme != "http" or not is_loopback(parts.hostname or ""):
        raise InvalidConfig(
            f"The redirect URI {redirect_uri} is not http on this machine (localhost or "
            "127.0.0.1), so syncdesk cannot listen for it; paste the address instead "
            "(--redirect-url)."
        )
    return parts.port or 80, parts.path or "/"


def wait_for_redirect(
    redirect_uri: str,
    *,
    timeout: float,
    ready: Callable[[], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> str:
    """Listen until the browser arrives at redirect_uri; return that full address.

    Raises InvalidConfig (not a loopback redirect URI), ConsentRefused (the port is taken, the
    deadline passed, cancelled).
    """
    port, path = listen_address(redirect_uri)
    try:
        server = _Server(port, path)
    except OSError as exc:
        raise ConsentRefused(
            f"Cannot listen on 127.0.0.1:{port} for Xero's redirect ({exc.strerror or exc}); "
            "paste the address the browser ends on instead (--redirect-url)."
        ) from exc
    server.timeout = POLL
    end = time.monotonic() + timeout
    try:
        if ready is not None:
            ready()
        while server.received is None:
            if cancelled is not None and cancelled():
                raise ConsentRefused("Stopped waiting for Xero's redirect; nothing changed.")
            if time.monotonic() > end:
                raise ConsentRefused(
                    f"No browser arrived at {redirect_uri} within {timeout:g} s; nothing "
                    "changed. Paste the address instead (--redirect-url), or try again."
                )
            server.handle_request()
    finally:
        server.server_close()
    base = urlsplit(redirect_uri)
    got = urlsplit(server.received)
    return urlunsplit((base.scheme, base.netloc, got.path, got.query, ""))
