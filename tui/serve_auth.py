"""The access token in front of `syncdesk serve`: textual-serve has no login of its own.

A random token is printed once, in the address `serve` gives (`/?token=…`). Every request must
carry it, the websocket that drives the console included: the first page sets it as an
HttpOnly, SameSite=Strict cookie, so the page's assets, its websocket and its downloads send
it back. Anything without it gets 403. The websocket must also come from the served page's own
origin (or from no browser at all), so a page elsewhere cannot drive the console with the
cookie.

textual-serve (1.x, pinned below 2 in pyproject) builds its aiohttp application in
`Server._make_app`; the check is an aiohttp middleware added to that application, so it sees
every route: the page, /ws, /download and /static.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

COOKIE = "syncdesk_token"
TOKEN_PARAM = "token"


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class TokenServer(Server):
    """textual-serve's Server, answering only requests that carry the access token."""

    def __init__(self, *args: Any, token: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token = token

    @property
    def entry_url(self) -> str:
        """The address to open: the page, with the token."""
        return f"{self.public_url}/?{TOKEN_PARAM}={self.token}"

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._require_token)
        return app

    def allows(self, request: web.Request) -> str | None:
        """Why the request is refused, or None when it carries the token (and a websocket
        comes from the page's own origin)."""
        given = request.query.get(TOKEN_PARAM) or request.cookies.get(COOKIE) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return "this console needs its access token: open the address `syncdesk serve` printed"
        origin = request.headers.get("Origin")
        own = {_origin(self.public_url), f"{request.scheme}://{request.host}".lower()}
        if request.path == "/ws" and origin and origin.lower() not in own:
            return "the console's websocket answers only its own page"
        return None

    @web.middleware
    async def _require_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        refused = self.allows(request)
        if refused:
            raise web.HTTPForbidden(text=f"syncdesk: {refused}.\n")
        response = await handler(request)
        if request.query.get(TOKEN_PARAM) and not response.prepared:
            response.set_cookie(
                COOKIE,
                self.token,
                httponly=True,
                samesite="Strict",
                secure=self.public_url.startswith("https"),
                path="/",
            )
        return response
