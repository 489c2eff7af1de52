"""The embedded Xero over real HTTP, for `syncdesk sandbox serve`: the same SandboxTransport the
client uses in process, behind a small threading HTTP server, so the integration team and
Xero's own SDKs (xero-python, xero-node) can be pointed at it unchanged.

One host and port serve Xero's three hosts under prefixes:

- `/api/...`      api.xero.com (`/api/connections`, `/api/api.xro/2.0/...`)
- `/identity/...` identity.xero.com (`/identity/connect/token`,
  `/identity/.well-known/openid-configuration`)
- `/login/identity/connect/authorize` login.xero.com's consent page

`/.well-known/openid-configuration` is served at the root too, and `/` lists the base URLs and
the quirks the sandbox reproduces.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from store.xero.client import SCOPES
from store.xero.sandbox import SandboxTransport

QUIRKS = (
    "created Invoices, CreditNotes and ManualJournals answer with Xero's date forms "
    "(/Date(ms+0000)/ and DateString), not the date as sent",
    "client credentials work in the Basic header or in the form body (as xero-python sends "
    "them); any client id is accepted, and a PKCE public client needs none",
    "refresh tokens rotate on every use; the previous one still works for 30 minutes",
    "an offline organisation answers 503 with a plain-text body, not JSON",
    "429s with Retry-After and X-Rate-Limit-Problem: minute (60 a tenant), day (5,000 a "
    "tenant), appminute (10,000 an app) and concurrent (5 calls at once a tenant)",
    "/connections lists a PRACTICEMANAGER tenant beside the organisations where the user has "
    "one (syncdesk never connects it)",
    "401 with WWW-Authenticate: Bearer error=invalid_token; 403 AuthenticationUnsuccessful for "
    "a tenant the grant does not reach",
)


def base_urls(host: str, port: int) -> dict[str, str]:
    shown = f"[{host}]" if ":" in host else host
    root = f"http://{shown}:{port}"
    return {
        "SYNCDESK_XERO_API_URL": f"{root}/api",
        "SYNCDESK_XERO_IDENTITY_URL": f"{root}/identity",
        "SYNCDESK_XERO_LOGIN_URL": f"{root}/login/identity/connect/authorize",
    }


def openid_configuration(host: str, port: int) -> dict[str, Any]:
    """What identity.xero.com/.well-known/openid-configuration says, for this server."""
    urls = base_urls(host, port)
    identity = urls["SYNCDESK_XERO_IDENTITY_URL"]
    return {
        "issuer": identity,
        "authorization_endpoint": urls["SYNCDESK_XERO_LOGIN_URL"],
        "token_endpoint": f"{identity}/connect/token",
        "userinfo_endpoint": f"{identity}/connect/userinfo",
        "revocation_endpoint": f"{identity}/connect/revocation",
        "jwks_uri": f"{identity}/.well-known/openid-configuration/jwks",
        "scopes_supported": sorted(set(SCOPES.split()) | {"accounting.transactions"}),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }


class SandboxServer(ThreadingHTTPServer):
    """Xero on one host and port, from the store at `path`. `log` gets one line a request."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, path: Path, host: str, port: int, *, log: Callable[[str], None] | None = None
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)
        self.transport = SandboxTransport(str(path))
        self.host = host
        self.log = log or (lambda line: None)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def index(self) -> str:
        lines = ["Xero sandbox (syncdesk). Point syncdesk or a Xero SDK at:", ""]
        lines += [f"  {k}={v}" for k, v in base_urls(self.host, self.port).items()]
        lines += ["", "Xero's quirks reproduced here:"]
        lines += [f"  - {q}" for q in QUIRKS]
        return "\n".join(lines) + "\n"


def _translate(path: str) -> str | None:
    """The sandbox transport's path for a path on this server, or None for our own pages."""
    lower = path.lower()
    if lower.startswith("/api/"):
        return path[4:]
    if lower.startswith("/identity/") and ".well-known" not in lower:
        return path[9:]
    if lower.startswith("/login/"):
        return path
    return None


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # one line a request, through server.log
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        inner = _translate(parts.path)
        if inner is None:
            self._own(parts.path)
            return
        self._note_client(parts, body)
        headers = [(k, v) for k, v in self.headers.items() if k.lower() != "host"]
        request = httpx.Request(
            self.command,
            f"http://sandbox{inner}" + (f"?{parts.query}" if parts.query else ""),
            headers=headers,
            content=body,
        )
        response = self.server.transport.handle_request(request)
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers.raw]
        self._send(response.status_code, response.content, raw)

    def _note_client(self, parts: Any, body: bytes) -> None:
        """The client id each consent and token request names, in the log."""
        query = parse_qs(parts.query)
        if "client_id" in query:
            self.server.log(f"client id {query['client_id'][0]!r} at the consent page")
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        if parts.path.endswith("/connect/token") and "client_id" in form:
            self.server.log(f"client id {form['client_id'][0]!r} at the token endpoint")

    def _own(self, path: str) -> None:
        if path.rstrip("/").endswith("/.well-known/openid-configuration") or path in (
            "/.well-known/openid-configuration",
        ):
            body = json.dumps(openid_configuration(self.server.host, self.server.port))
            self._send(200, body.encode(), [("Content-Type", "application/json; charset=utf-8")])
        elif path == "/":
            self._send(200, self.server.index().encode(), [("Content-Type", "text/plain")])
        else:
            self._send(
                404,
                b"The resource you're looking for cannot be found",
                [("Content-Type", "text/plain")],
            )

    def _send(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
        skip = {"content-length", "transfer-encoding", "connection", "content-encoding"}
        try:
            self.send_response(status)
            for key, value in headers:
                if key.lower() not in skip:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.server.log(f"{self.command} {urlsplit(self.path).path} -> {status}")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


def start_in_thread(server: SandboxServer) -> threading.Thread:
    """For tests: serve in a daemon thread (stop with server.shutdown())."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return thread
