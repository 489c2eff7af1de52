"""The embedded Xero's rate limits.

Every tenant has Xero's real minute limit (60 calls in any 60 s, counted in the transport's
memory). A tenant whose behaviour has `rate_limit: {problem, retry_after}` is "busy" (another
app burns its allowance) in a fixed cycle measured on the transport's clock: the first call
starts a cycle; for `retry_after` seconds every call answers 429 with
`Retry-After: <seconds left>` and `X-Rate-Limit-Problem: <problem>`; the following
`open_seconds` (default 60) calls are served; the next call after that starts a new cycle. The
cycle start is kept in the tenant's behaviour JSON (`cycle_started`, epoch seconds), so separate
processes agree. A client that honours Retry-After therefore always gets through, and tests
that share a fake clock between the transport and the client's sleep finish at once.

Past 5,000 calls a day a tenant gets 429 `day` (until midnight UTC), past 10,000 a minute the
app gets 429 `appminute`, and a sixth call at once for a tenant gets 429 `concurrent`. Tenant
calls that get through carry X-MinLimit-Remaining, X-DayLimit-Remaining and
X-AppMinLimit-Remaining.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from store.db import transaction
from store.xero.sandbox_common import Answer, text_response

MINUTE_LIMIT = 60
DAY_LIMIT = 5000
APP_MINUTE_LIMIT = 10_000
CONCURRENT_LIMIT = 5


def _too_many(retry_after: int, problem: str | None) -> Answer:
    return Answer(
        text_response(
            429,
            "Rate Limit Exceeded",
            {
                "Retry-After": str(max(1, retry_after)),
                "X-Rate-Limit-Problem": str(problem or "minute"),
            },
        )
    )


class CallLimits:
    """The calls one transport has served, per tenant and for the app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, int] = {}
        self._minute: dict[str, deque[float]] = {}
        self._day: dict[str, int] = {}
        self._app: deque[float] = deque()

    def count(
        self, conn: sqlite3.Connection, tenant_id: str, behaviour: dict[str, Any], now: float
    ) -> dict[str, str]:
        """Count one call at `now`; its limit headers, or a 429 Answer when over a limit."""
        busy = behaviour.get("rate_limit")
        if busy:
            wait = float(busy.get("retry_after", 60))
            open_for = float(busy.get("open_seconds", 60))
            started = busy.get("cycle_started")
            if started is None or now >= float(started) + wait + open_for:
                started = now
                with transaction(conn):
                    row = conn.execute(
                        "SELECT behaviour FROM sandbox_tenants WHERE tenant_id = ?", [tenant_id]
                    ).fetchone()
                    current = json.loads(row["behaviour"] or "{}")
                    current.setdefault("rate_limit", {})["cycle_started"] = now
                    conn.execute(
                        "UPDATE sandbox_tenants SET behaviour = ? WHERE tenant_id = ?",
                        [json.dumps(current), tenant_id],
                    )
            if now < float(started) + wait:
                raise _too_many(math.ceil(float(started) + wait - now), busy.get("problem"))
        with self._lock:
            calls = self._minute.setdefault(tenant_id, deque())
            while calls and calls[0] <= now - 60:
                calls.popleft()
            while self._app and self._app[0] <= now - 60:
                self._app.popleft()
            if len(calls) >= MINUTE_LIMIT:
                raise _too_many(math.ceil(calls[0] + 60 - now), "minute")
            if self._day.get(tenant_id, 0) >= DAY_LIMIT:  # until midnight UTC
                raise _too_many(math.ceil(86400 - now % 86400), "day")
            if len(self._app) >= APP_MINUTE_LIMIT:
                raise _too_many(math.ceil(self._app[0] + 60 - now), "appminute")
            calls.append(now)
            self._app.append(now)
            self._day[tenant_id] = self._day.get(tenant_id, 0) + 1
            return {
                "X-MinLimit-Remaining": str(MINUTE_LIMIT - len(calls)),
                "X-DayLimit-Remaining": str(max(0, DAY_LIMIT - self._day[tenant_id])),
                "X-AppMinLimit-Remaining": str(APP_MINUTE_LIMIT - len(self._app)),
            }

    @contextmanager
    def at_once(self, tenant_id: str) -> Iterator[None]:
        """One call in progress for the tenant; a 429 `concurrent` when 5 already are."""
        with self._lock:
            if self._running.get(tenant_id, 0) >= CONCURRENT_LIMIT:
                raise _too_many(1, "concurrent")
            self._running[tenant_id] = self._running.get(tenant_id, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                self._running[tenant_id] -= 1
