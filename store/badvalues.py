"""Reading values a bad row may hold: text stored as a BLOB, a setting that is not JSON.

SQLite keeps whatever it is given, so another tool (or a repair by hand) can leave text stored
as a BLOB or a settings value that is not JSON. Reads never fail on them: BLOB text is decoded
(bytes that are not UTF-8 show as \\xNN escapes), and a setting that is not JSON reads as an
`Unreadable` marker holding the stored text. Actions that need the value (retry builds
documents from the settings) refuse with StoreBadValue naming it. Times that are not times are
store/timeparse.py's `stored_time`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from store.errors import StoreBadValue
from store.textsafe import text_of

MARK = "⚠"


class Unreadable(str):
    """A stored value syncdesk cannot read, standing in for it.

    It is a str, so anything that shows settings (json.dumps, the console) shows the marked
    description; `raw` is the stored text, `why` what is wrong with it.
    """

    raw: str
    why: str

    def __new__(cls, raw: str, why: str) -> Unreadable:
        marked = super().__new__(cls, f"{MARK} unreadable ({why}): {raw}")
        marked.raw, marked.why = raw, why
        return marked

    def __reduce__(self) -> tuple[type[Unreadable], tuple[str, str]]:
        return Unreadable, (self.raw, self.why)  # copies (dataclasses.asdict) keep the raw text


def load_setting(raw: Any) -> Any:
    """A stored setting's value: parsed JSON, or Unreadable when it is not JSON."""
    raw = text_of(raw)
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return Unreadable(str(raw), "not JSON")


def load_settings(rows: Iterable[tuple[Any, Any]], *, strict_for: str | None = None) -> dict:
    """Settings from (key, stored value) rows; bad values are Unreadable markers.

    strict_for (the organisation's code): for an action that needs every value.
    Raises StoreBadValue then, naming the first value that is not JSON.
    """
    settings = {text_of(key): load_setting(value) for key, value in rows}
    bad = next((k for k, v in settings.items() if isinstance(v, Unreadable)), None)
    if strict_for and bad is not None:
        raise StoreBadValue(
            f"{strict_for}'s setting {bad!r} is not valid JSON ({settings[bad].raw!r}), so "
            "nothing was sent; correct that value in the store first (`syncdesk show "
            f"{strict_for}` marks it)."
        )
    return settings


def bad_settings(settings: dict[str, Any]) -> list[str]:
    """The keys whose values could not be read."""
    return [k for k, v in settings.items() if isinstance(v, Unreadable)]


def restorable(value: Any) -> Any:
    """What a snapshot keeps for a setting: its stored text when it was unreadable, so nothing
    is lost (reconnect restores it as that text)."""
    return value.raw if isinstance(value, Unreadable) else value
