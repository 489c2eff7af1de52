"""A whole-call deadline for every request to Xero.

httpx's timeout bounds each step (connect, each read, each write), so a server that sends its
answer a byte at a time, each within the read timeout, could keep a call going for ever. The
hooks here give each request `seconds` in all: the response's body is read only until then,
and a call still going raises httpx.ReadTimeout (XeroTimeout to our callers, retried as any
timeout). Hooks, not a wrapping transport, so httpx still honours the proxy environment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

KEY = "syncdesk_deadline"


class _Bounded(httpx.SyncByteStream):
    """The response body, read until the request's deadline and no longer."""

    def __init__(self, stream: Any, request: httpx.Request, deadline: float, clock: Any) -> None:
        self._stream, self._request, self._deadline, self._clock = stream, request, deadline, clock

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._stream:
            if self._clock() > self._deadline:
                raise httpx.ReadTimeout("the whole-call deadline passed", request=self._request)
            yield chunk

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


def deadline_hooks(
    seconds: float, clock: Callable[[], float] = time.monotonic
) -> dict[str, list[Callable[..., None]]]:
    """httpx event hooks that give every request `seconds` from start to its last byte."""

    def started(request: httpx.Request) -> None:
        request.extensions[KEY] = clock() + seconds

    def answered(response: httpx.Response) -> None:
        deadline = response.request.extensions.get(KEY)
        if deadline is not None and isinstance(response.stream, httpx.SyncByteStream):
            response.stream = _Bounded(response.stream, response.request, deadline, clock)

    return {"request": [started], "response": [answered]}
