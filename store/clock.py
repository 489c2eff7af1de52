"""The one clock: everything in store/ and tui/ asks here what time it is.

Windows (`--since 2h`, errors in the last 24 h, the 7-day trend), token expiry, ages on the
dashboard and "inactive too long" are all computed from `now()`. Durations (timeouts, rate-limit
waits) use `time.monotonic` where they are measured; they are not "what time is it".

Production reads the system clock. It can be set two ways:
- in-process: `freeze(at)` stops the clock at an instant (tests; `advance()` moves it on),
  `thaw()` hands it back to the system;
- across processes: `SYNCDESK_NOW=2026-11-24T12:00:00Z` starts the process's clock at that
  instant, from where it moves on with real elapsed time. The test suite sets it for the CLI
  and console it starts in subprocesses and in tmux; a demo can use it to show a store as of
  the day it was built.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

ENV = "SYNCDESK_NOW"

_lock = threading.Lock()
# (instant, monotonic reading at that instant, ticking): None means the system clock.
_base: tuple[datetime, float, bool] | None = None
_env_read = False


def _parse(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _from_env() -> None:
    global _base, _env_read
    _env_read = True
    text = os.environ.get(ENV, "").strip()
    if not text:
        return
    try:
        _base = (_parse(text), time.monotonic(), True)
    except ValueError:
        # A bad value must not stop the product: it is a test and demo aid only.
        _base = None


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    with _lock:
        if not _env_read:
            _from_env()
        base = _base
    if base is None:
        return datetime.now(UTC)
    instant, mark, ticking = base
    if ticking:
        return instant + timedelta(seconds=time.monotonic() - mark)
    return instant


def now_iso() -> str:
    """The current instant as the store writes times: 'YYYY-MM-DDTHH:MM:SSZ'."""
    return now().strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch() -> float:
    """The current instant in seconds since 1970 (for tokens and the sandbox)."""
    return now().timestamp()


def freeze(at: datetime, *, ticking: bool = False) -> None:
    """Stop the clock at `at` (or start it there and let it run, with `ticking`)."""
    global _base, _env_read
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    with _lock:
        _env_read = True
        _base = (at.astimezone(UTC), time.monotonic(), ticking)


def advance(seconds: float) -> None:
    """Move a frozen clock on by `seconds` (what a fake sleep does)."""
    global _base
    with _lock:
        if _base is None:
            raise RuntimeError("advance() needs a frozen clock")
        instant, mark, ticking = _base
        _base = (instant + timedelta(seconds=seconds), mark, ticking)


def thaw() -> None:
    """Hand the clock back to the system (and to SYNCDESK_NOW, read again on next use)."""
    global _base, _env_read
    with _lock:
        _base = None
        _env_read = False


def is_frozen() -> bool:
    with _lock:
        if not _env_read:
            _from_env()
        return _base is not None


@contextmanager
def frozen(at: datetime, *, ticking: bool = False) -> Iterator[None]:
    """`with frozen(at):` the clock reads `at` inside, whatever it read before after."""
    global _base, _env_read
    with _lock:
        saved = (_base, _env_read)
    freeze(at, ticking=ticking)
    try:
        yield
    finally:
        with _lock:
            _base, _env_read = saved
