"""Values the store hands to screens and the command line: frozen, never sqlite3.Row or dicts."""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OrgSummary:
    """One line of the organisation list."""

    code: str
    name: str
    state: str
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Mapping:
    kind: str
    local: str
    remote: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class OrgDetail:
    """Everything `show` prints about one organisation."""

    code: str
    name: str
    region: str
    state: str
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

    @property
    def unconfirmed_tenant_change(self) -> bool:
        """Connected to a Xero organisation other than the previous one, and nobody said so."""
        return bool(
            self.tenant_id
            and self.previous_tenant_id
            and self.tenant_id != self.previous_tenant_id
            and not self.tenant_confirmed_by
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["mappings"] = [m.to_json() for m in self.mappings]
        return out


@dataclass(frozen=True, slots=True)
class LogEntry:
    id: int
    at: str
    org: str
    level: str
    document: str | None
    message: str
    kind: str | None
    correlation_id: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LogEntry:
        # Positional: the log queries select exactly these columns in this order, and a
        # dict per row cost more than the query itself on a 50-row page.
        return cls(*row)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class KnowledgeEntry:
    kind: str
    title: str
    pattern: str
    level: str
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
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class LogPage:
    """One page of the log, newest first; `before_id` fetches the next (older) page."""

    entries: tuple[LogEntry, ...]
    before_id: int | None = None

    def to_json(self) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.entries]


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What init built and how long it took."""

    path: str
    orgs: int
    log_rows: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)
