"""The log's values (LogEntry, LogPage) and `to_json`, the one way any store value becomes
JSON: split from store.models, which re-exports them, so that `syncdesk log` imports this
module alone and not the ~20 other frozen dataclasses (~1 ms each at start-up: issue 17, the
CLI beats grep). Code on the log path imports from here; tests/test_cli_startup.py checks.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

_PLAIN = frozenset({str, int, float, bool, type(None)})


def to_json(value: Any) -> Any:
    """The value as JSON data (for `json.dumps`): a dataclass becomes a dict of its fields in
    order, an enum its value, a tuple a list, and so on down. A dataclass whose JSON differs
    from its fields (renamed, added or left-out keys) says so in its own `to_json` method,
    which this calls.
    """
    kind = type(value)
    if kind in _PLAIN:
        return value
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(kind):
        own = getattr(value, "to_json", None)
        if own is not None:
            return own()
        return fields_json(value)
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {to_json(key): to_json(item) for key, item in value.items()}
    return value


def fields_json(value: Any) -> dict[str, Any]:
    """A dataclass's fields as JSON data, in order: what `to_json` makes of one without its own
    method, and where such a method starts from."""
    return {f.name: to_json(getattr(value, f.name)) for f in fields(value)}


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    at: str
    org: str
    level: str  # a Level's value: rows come straight from the cursor, unconverted (see from_row)
    document: str | None
    message: str
    kind: str | None
    correlation_id: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LogEntry:
        # Positional: the log queries select exactly these columns in this order, and a
        # dict per row cost more than the query itself on a 50-row page.
        return cls(*row)


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of the log, newest first; `before_id` fetches the next (older) page."""

    entries: tuple[LogEntry, ...]
    before_id: int | None = None
