"""Xero's per-organisation limits on our side: 60 calls in any minute and 5 at once.

A Limiter is one tenant's budget. `slot()` blocks until a call may start (a free concurrency
slot, fewer than 60 calls in the last 60 s, and no pause from a 429 in force) and records the
call. The clock and sleep are injected, so tests run a minute of limiting in no real time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

PER_MINUTE = 60
CONCURRENT = 5
WINDOW = 60.0


class Limiter:
    """One tenant's call budget: a sliding one-minute window, a concurrency cap, 429 pauses."""

    def __init__(
        self,
        *,
        per_minute: int = PER_MINUTE,
        concurrent: int = CONCURRENT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[float, str], None] | None = None,
    ) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.sleep = sleep
        self.on_wait = on_wait
        self._lock = threading.Lock()
        self._calls: deque[float] = deque()
        self._slots = threading.BoundedSemaphore(concurrent)
        self._paused_until = 0.0
        self._pause_reason = ""

    def pause(self, seconds: float, reason: str = "Xero asked to wait") -> None:
        """Start no call for `seconds` (Xero's Retry-After), whichever thread asks next."""
        with self._lock:
            until = self.clock() + max(0.0, seconds)
            if until > self._paused_until:
                self._paused_until, self._pause_reason = until, reason

    def wait_needed(self) -> float:
        """Seconds until a call may start (0 when it may start now); records nothing."""
        with self._lock:
            return self._wait(self.clock())[0]

    def _wait(self, now: float) -> tuple[float, str]:
        while self._calls and self._calls[0] <= now - WINDOW:
            self._calls.popleft()
        waits = [(self._paused_until - now, self._pause_reason)]
        if len(self._calls) >= self.per_minute:
            waits.append(
                (self._calls[0] + WINDOW - now, f"{self.per_minute} calls a minute to Xero")
            )
        return max(waits)

    def _take_turn(self) -> None:
        while True:
            with self._lock:
                now = self.clock()
                wait, reason = self._wait(now)
                if wait <= 0:
                    self._calls.append(now)
                    return
            if self.on_wait is not None:
                self.on_wait(wait, reason)
            self.sleep(wait)

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the concurrent slots for the length of a call."""
        with self._slots:
            self._take_turn()
            yield
