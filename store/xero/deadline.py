"""A whole-call deadline for every request to Xero, in two layers.

httpx's timeout bounds each step (connect, each read, each write), so a server that sends its
answer a byte at a time, each within the read timeout, could keep a call going for ever.

- `deadline_hooks(seconds)`: httpx event hooks that give each request `seconds` in all: the
  response's body is read only until then, and a call still going raises httpx.ReadTimeout
  (XeroTimeout to our callers, retried as any timeout). Hooks work through the proxy
  environment too.
- `DeadlineTransport` (`default_transport()` when no proxy is configured): httpx's own
  transport on a network backend whose every connect, read and write waits at most until the
  deadline `deadline(seconds)` set for the calling thread, so a server dripping its *headers*,
  or one slow read, cannot outlast the deadline either. Measured on time.monotonic: it bounds
  real waiting, whatever store.clock says.
"""

from __future__ import annotations

import os
import threading
import time
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpcore
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


_local = threading.local()


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Calls made by this thread inside the block end within `seconds` from now."""
    saved = getattr(_local, "end", None)
    _local.end = time.monotonic() + seconds
    try:
        yield
    finally:
        _local.end = saved


def _left(timeout: float | None, error: type[Exception]) -> float | None:
    end = getattr(_local, "end", None)
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise error("the call's deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: typing.Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(
            self._inner.start_tls(
                ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)
            )
        )

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(
            self._inner.connect_tcp(
                host,
                port,
                _left(timeout, httpcore.ConnectTimeout),
                local_address,
                socket_options,
            )
        )

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: typing.Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _Stream(
            self._inner.connect_unix_socket(
                path, _left(timeout, httpcore.ConnectTimeout), socket_options
            )
        )

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx.HTTPTransport whose connections honour the calling thread's `deadline`."""

    def __init__(self, **options: typing.Any) -> None:
        super().__init__(**options)
        pool = self._pool
        if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
            pool._network_backend = _Backend()


PROXY_VARIABLES = (
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


def default_transport() -> httpx.BaseTransport | None:
    """DeadlineTransport, or None (httpx's own, honouring the proxy environment, with the
    hooks' deadline on the body) when a proxy is configured."""
    if any(os.environ.get(name) for name in PROXY_VARIABLES):
        return None
    return DeadlineTransport()
