"""Times: as the store writes them, as people type them (--since), as tables show them.

The one module that turns times into text and back for store/ and tui/ (store/clock.py's
now_iso aside: the clock sits below this module).
"""

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


def parse(stamp: str) -> datetime:
    """A store time (or any ISO time; UTC unless it says) as an aware datetime."""
    moment = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stored_time(stamp: object) -> datetime | None:
    """A time as the store holds it, or None when there is none or it is not a time (a bad
    row: readers show it as unreadable, "?", and never fail on it)."""
    if not stamp or not isinstance(stamp, str):
        return None
    try:
        return parse(stamp)
    except ValueError:
        return None


def unreadable_time(stamp: object) -> bool:
    """True for a stored value that should be a time and is not."""
    return bool(stamp) and stored_time(stamp) is None


def day(moment: datetime) -> str:
    """'YYYY-MM-DD' in UTC: the key of the per-day error counts."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def file_stamp(moment: datetime) -> str:
    """'YYYYMMDDTHHMMSS' in UTC, for file names (exports)."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S")


def when(stamp: str | None, *, date: bool = True, year: bool = False, seconds: bool = False) -> str:
    """A store time as a table shows it: '11-24 09:30'; with year '2026-11-24 09:30', with
    seconds '11-24 09:30:15', without date '09:30'; '' for none."""
    if not stamp:
        return ""
    start = 0 if year else 5 if date else 11
    return stamp[start : 19 if seconds else 16].replace("T", " ")


def parse_since(text: str, *, now: datetime | None = None) -> str:
    """Turn '2h', '30m', '7d', '1w' or an ISO date/time (UTC unless it says) into a store time.

    Raises InvalidQuery for anything else.
    """
    now = now or clock.now()
    match = _RELATIVE.fullmatch(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
        try:
            return iso(now - timedelta(**{unit: amount}))
        except (OverflowError, ValueError):  # 99999999d reaches before the year 1
            raise InvalidQuery(
                f"The span {text.strip()!r} reaches back before any date; use a shorter one "
                "such as 7d or 52w, or a date such as 2026-11-20."
            ) from None
    try:
        moment = parse(text)
    except ValueError:
        raise InvalidQuery(
            f"Cannot read the time {text!r}; use a span such as 2h, 30m, 7d or a date such as "
            "2026-11-20 or 2026-11-20T09:30."
        ) from None
    return iso(moment)


def parse_until(text: str, *, now: datetime | None = None) -> datetime:
    """Turn '2h', '30m', '1d' (from now) or an ISO date/time (UTC unless it says) into a time
    ahead of now.

    Raises InvalidQuery for anything else, or a time that is not ahead.
    """
    now = now or clock.now()
    match = _RELATIVE.fullmatch(text)
    try:
        if match:
            amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
            moment = now + timedelta(**{unit: amount})
        else:
            moment = parse(text)
    except (OverflowError, ValueError):
        raise InvalidQuery(
            f"Cannot read the time {text!r}; use a span such as 2h, 30m or 1d, or a time such as "
            "2026-11-20T09:30."
        ) from None
    if moment <= now:
        raise InvalidQuery(f"The time {text!r} is not ahead of now ({iso(now)}); give a later one.")
    return moment


def age(stamp: str | None, *, now: datetime | None = None) -> str:
    """How long ago a store time was, compactly: '5m', '3h', '2d', or '-' for never."""
    if not stamp:
        return "-"
    moment = stored_time(stamp)
    if moment is None:
        return "?"  # not a time: a bad row, shown and never fatal
    seconds = ((now or clock.now()) - moment).total_seconds()
    if seconds < 0:
        return "now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"
