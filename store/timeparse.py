"""Times as the store writes them, and the --since forms people type."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from store import clock
from store.errors import InvalidQuery

_RELATIVE = re.compile(r"\s*(\d+)\s*(s|m|min|h|d|w)\s*", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def iso(moment: datetime) -> str:
    """'YYYY-MM-DDTHH:MM:SSZ' in UTC, the one format the store keeps times in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_since(text: str, *, now: datetime | None = None) -> str:
    """Turn '2h', '30m', '7d', '1w' or an ISO date/time (UTC unless it says) into a store time.

    Raises InvalidQuery for anything else.
    """
    now = now or clock.now()
    match = _RELATIVE.fullmatch(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
        return iso(now - timedelta(**{unit: amount}))
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidQuery(
            f"Cannot read the time {text!r}; use a span such as 2h, 30m, 7d or a date such as "
            "2026-11-20 or 2026-11-20T09:30."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso(moment)


def age(stamp: str | None, *, now: datetime | None = None) -> str:
    """How long ago a store time was, compactly: '5m', '3h', '2d', or '-' for never."""
    if not stamp:
        return "-"
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    seconds = ((now or clock.now()) - then).total_seconds()
    if seconds < 0:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
