"""The values the reading commands return (organisations, the log, error groups, the knowledge
base), and `to_json`, the one way any store value becomes JSON.

Split from store.models, which re-exports all of it: `syncdesk log` imports this module alone,
not the ~14 lifecycle and run classes it never uses (each frozen dataclass costs ~1 ms of
start-up: issue 17, the CLI beats grep). Code on the log path imports from here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

from store.enums import Level, State

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
class OrgSummary:
    """One line of the organisation list."""

    code: str
    name: str
    state: State
    tenant_name: str | None
    errors_24h: int
    last_export_at: str | None
    region: str
    held: int
    failed: int
    auth: str = "-"  # ok | expiring | expired | removed | -
    trend: tuple[int, ...] = ()  # errors per UTC day, oldest first, last 7 days
    claimed_by: str | None = None  # who holds a refresh run in progress
    version: int = 1
    overdue: bool = False  # inactive past its due time (or 24 h without one)
    needs_reconsent: bool = False  # still on Xero's deprecated broad scopes


@dataclass(frozen=True, slots=True)
class Mapping:
    kind: str
    local: str
    remote: str


@dataclass(frozen=True, slots=True)
class OrgDetail:
    """Everything `show` prints about one organisation."""

    code: str
    name: str
    region: str
    state: State
    tenant_id: str | None
    tenant_name: str | None
    version: int
    state_changed_at: str | None
    updated_at: str
    updated_by: str
    token_expires_at: str | None
    refresh_expires_at: str | None
    last_export_at: str | None
    settings: dict[str, Any]
    mappings: tuple[Mapping, ...]
    queue: dict[str, int]
    errors_24h: int
    previous_tenant_id: str | None = None
    previous_tenant_name: str | None = None
    tenant_confirmed_by: str | None = None
    pause_reason: str | None = None  # while inactive: why a person paused it
    pause_due_at: str | None = None  # and when it is due back on
    paused_by: str | None = None
    overdue: bool = False

    @property
    def unconfirmed_tenant_change(self) -> bool:
        """Connected to a Xero organisation other than the previous one, and nobody said so."""
        return bool(
            self.tenant_id
            and self.previous_tenant_id
            and self.tenant_id != self.previous_tenant_id
            and not self.tenant_confirmed_by
        )


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
class KnowledgeEntry:
    kind: str
    title: str
    pattern: str
    level: Level
    category: str
    cause: str
    fix: str
    refresh_step: str
    action: str
    retryable: bool
    example: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> KnowledgeEntry:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["retryable"] = bool(values["retryable"])
        values["level"] = Level(values["level"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class ErrorGroup:
    """Errors of one kind: how many, how widely, since when; with the knowledge base's advice."""

    kind: str
    count: int
    orgs: int
    first_at: str
    last_at: str
    title: str | None = None
    cause: str | None = None
    fix: str | None = None
    refresh_step: str | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of the log, newest first; `before_id` fetches the next (older) page."""

    entries: tuple[LogEntry, ...]
    before_id: int | None = None
