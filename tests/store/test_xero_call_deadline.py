"""A deadline on every Xero call: connect + send + the whole answer, whatever the server does.

A server on 127.0.0.1 that drips one byte per interval never trips a per-read timeout; the
client's deadline (SYNCDESK_XERO_TIMEOUT) still ends the call, and the command says so.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from support import run_cli

from store.errors import XeroTimeout
from store.xero.client import XeroClient
from store.xero.config import client_from_env

INTERVAL = 0.05  # the drip: one byte this often, far below any read timeout used here
HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"


class Drip:
    """A server that answers every request one byte at a time, `INTERVAL` apart; in the
    headers (`headers=True`) or in the body after whole headers."""

    def __init__(self, *, headers: bool) -> None:
        self.headers = headers
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        self.requests += 1
        with conn:
            conn.recv(65536)
            payload = HEADERS + b"{" + b" " * 3998 + b"}"
            if not self.headers:
                conn.sendall(HEADERS)
                payload = payload[len(HEADERS) :]
            for byte in payload:
                if self.stop.wait(INTERVAL):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def client(self, **settings: Any) -> XeroClient:
        """A client whose API and identity calls both go to this server."""
        return XeroClient(
            api_url=self.url, identity_url=self.url, client_id="id", client_secret="s", **settings
        )

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture(params=[False, True], ids=["body", "headers"])
def drip(request) -> Iterator[Drip]:
    server = Drip(headers=request.param)
    yield server
    server.close()


def test_a_dripping_server_cannot_hold_a_call(drip: Drip) -> None:
    client = drip.client(timeout=0.4, retries=0)
    started = time.monotonic()
    with pytest.raises(XeroTimeout, match="within 0.4 s"):
        client.refresh("any-refresh-token")
    elapsed = time.monotonic() - started
    assert 0.35 < elapsed < 0.4 + 4 * INTERVAL
    client.close()


def test_the_deadline_is_per_call_and_retries_stay_bounded(drip: Drip) -> None:
    client = drip.client(timeout=0.3, retries=2, backoff=0.01)
    started = time.monotonic()
    with pytest.raises(XeroTimeout):
        client.connections("at")
    assert drip.requests == 3 and time.monotonic() - started < 3 * 0.3 + 1.0
    client.close()


def test_check_over_a_dripping_token_endpoint_ends_with_one_line(
    capsys, store_path, monkeypatch, drip: Drip
) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "id")
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", "http://localhost:8765/callback")
    monkeypatch.setenv("SYNCDESK_XERO_API_URL", drip.url)
    monkeypatch.setenv("SYNCDESK_XERO_IDENTITY_URL", drip.url)
    monkeypatch.setenv("SYNCDESK_XERO_TIMEOUT", "0.5")
    monkeypatch.setenv("SYNCDESK_XERO_RETRIES", "0")
    started = time.monotonic()
    code, out, err = run_cli(capsys, "--db", str(store_path), "check", "HARBOUR")
    assert code == 1 and "within 0.5 s" in out + err
    assert time.monotonic() - started < 5


def test_the_default_deadline_is_30_seconds(db) -> None:
    assert client_from_env(db).timeout == 30.0
