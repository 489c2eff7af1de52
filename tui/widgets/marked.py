"""Stored values as screens show them: a bad one is shown with a mark, never fatal.

A store edited by hand or by a broken tool can hold text stored as a BLOB or a time that is
not a time. One such value must not blank a screen: it is shown as well as it can be, behind
MARK, and the rest of the screen is drawn as usual.
"""

from __future__ import annotations

from store.timeparse import age, parse, when

MARK = "⚠"


def marked_text(value: object) -> str:
    """The value as text; bytes (text stored as a BLOB) decoded, marked."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{MARK} " + bytes(value).decode("utf-8", "replace")
    return "" if value is None else str(value)


def _time(stamp: object) -> str | None:
    """The stamp if it is a readable store time, else None."""
    if not isinstance(stamp, str):
        return None
    try:
        parse(stamp)
    except ValueError:
        return None
    return stamp


def marked_age(stamp: object) -> str:
    """How long ago a store time was ('5m', '2d', '-'); a time that is not one is marked."""
    if not stamp:
        return "-"
    good = _time(stamp)
    return age(good) if good else f"{MARK} bad"


def marked_time(stamp: object) -> str:
    """A store time as stored ('2026-11-24T09:30:00Z'); one that is not a time, marked."""
    if not stamp:
        return ""
    if _time(stamp) is None:
        return f"{MARK} {stamp}" if isinstance(stamp, str) else marked_text(stamp)
    return str(stamp)


def marked_when(
    stamp: object, *, date: bool = True, year: bool = False, seconds: bool = False
) -> str:
    """A store time as tables show it (timeparse.when); a time that is not one, marked."""
    if not stamp:
        return ""
    good = _time(stamp)
    if good is None:
        return f"{MARK} {stamp}" if isinstance(stamp, str) else marked_text(stamp)
    return when(good, date=date, year=year, seconds=seconds)
