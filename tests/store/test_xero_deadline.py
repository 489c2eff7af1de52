"""Every call to Xero has a whole-call deadline: a server that sends its answer a byte at a
time, each byte well within the read timeout, is cut off when the call's time is up."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from store.errors import XeroTimeout
from store.xero.client import XeroClient

BODY = b'{"padding": "' + b"x" * 200 + b'"}'


@pytest.fixture
def trickle() -> Iterator[str]:
    """A server on 127.0.0.1 that answers 200 at once, then its body a byte every 0.05 s."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n"
                )
                try:
                    conn.sendall(head.encode())
                    for byte in BODY:
                        if stop.wait(0.05):
                            return
                        conn.sendall(bytes([byte]))
                except OSError:
                    continue  # the client gave up: that is the point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(2)
    server.close()


def test_a_trickling_answer_is_cut_off_at_the_deadline(trickle: str) -> None:
    client = XeroClient(
        client_id="id",
        client_secret="secret",
        api_url=trickle,
        identity_url=trickle,
        timeout=0.5,  # each byte comes within it; the whole answer takes 10 s
        retries=0,
    )
    started = time.monotonic()
    with client, pytest.raises(XeroTimeout, match="did not answer"):
        client.connections("token")
    took = time.monotonic() - started
    assert took < 2.0, f"the call went on for {took:.1f} s"
