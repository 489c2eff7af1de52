"""Values the store hands to screens and the command line: frozen, never sqlite3.Row or dicts;
and `to_json`, the one way any of them becomes JSON.

The log's values and `to_json` live in store.models_log, which `syncdesk log` imports alone;
every name is importable from here as before.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from store.enums import Level, QueueStatus, RunStatus, State, StepName, StepStatus, Transition
from store.models_log import LogEntry, LogPage, fields_json, to_json
from store.words import plural

__all__ = [
    "AuditEntry",
    "BuildReport",
    "ErrorGroup",
    "Integration",
    "KnowledgeEntry",
    "LogEntry",
    "LogPage",
    "Mapping",
    "MappingChange",
    "Note",
    "OrgDetail",
    "OrgSummary",
    "Pause",
    "ReconnectOptions",
    "ReconnectResult",
    "Run",
    "Snapshot",
    "Step",
    "StepInput",
    "TransitionResult",
    "UninstallPlan",
    "fields_json",
    "to_json",
]


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

    @property
    def refresh_fix_step(self) -> str | None:
        """The refresh sequence's step that fixes these errors, or None where refreshing does
        not (the knowledge base's action is not reconnect: its refresh_step then only names
        what an override would touch)."""
        if self.action == "reconnect" and self.refresh_step not in (None, "none"):
            return self.refresh_step
        return None


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What init built and how long it took."""

    path: str
    orgs: int
    log_rows: int
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Integration:
    org_id: int
    code: str
    name: str
    state: State
    version: int
    tenant_id: str | None
    tenant_name: str | None
    connection_id: str | None
    previous_tenant_id: str | None
    previous_tenant_name: str | None
    updated_at: str
    updated_by: str
    tenant_confirmed_by: str | None = None

    @property
    def trusted_tenant(self) -> tuple[str | None, str | None]:
        """The Xero organisation to come back to: the current one, unless it is an
        unconfirmed change from the previous one (a reconnect to the wrong books)."""
        if self.tenant_id is None:
            return self.previous_tenant_id, self.previous_tenant_name
        if (
            self.previous_tenant_id
            and self.tenant_id != self.previous_tenant_id
            and not self.tenant_confirmed_by
        ):
            return self.previous_tenant_id, self.previous_tenant_name
        return self.tenant_id, self.tenant_name

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Integration:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["state"] = State(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Pause:
    """Why a person paused an integration, and until when (`syncdesk deactivate --reason
    --until`)."""

    reason: str | None
    due_at: str | None
    paused_at: str
    paused_by: str


@dataclass(frozen=True, slots=True)
class TransitionResult:
    code: str
    action: Transition
    before: State
    after: State
    version: int
    actor: str
    at: str
    messages: tuple[str, ...] = ()
    snapshot_id: int | None = None


@dataclass(frozen=True, slots=True)
class UninstallPlan:
    """Exactly what an uninstall removes and what it keeps."""

    code: str
    state: State
    version: int
    tenant_name: str | None
    settings: dict[str, Any]
    mappings: tuple[Mapping, ...]
    queue: dict[str, int]
    log_rows: int

    def removed(self) -> list[str]:
        out = [
            plural(len(self.settings), "setting"),
            plural(len(self.mappings), "mapping"),
            "the stored Xero tokens",
        ]
        if self.tenant_name:
            out.append(
                f"the connection to Xero organisation {self.tenant_name!r} (revoked in Xero)"
            )
        return out

    def kept(self) -> list[str]:
        queued = sum(v for k, v in self.queue.items() if k != QueueStatus.EXPORTED)
        return [
            "a snapshot of every setting and mapping (restorable on reconnect)",
            f"the export queue ({queued} waiting, held until reconnect)",
            f"the connection log ({plural(self.log_rows, 'row')}) and the audit trail",
        ]

    def to_json(self) -> dict[str, Any]:
        return {**fields_json(self), "removed": self.removed(), "kept": self.kept()}


@dataclass(frozen=True, slots=True)
class Snapshot:
    id: int
    code: str
    taken_at: str
    actor: str
    reason: str
    state: State
    tenant_id: str | None
    tenant_name: str | None
    settings: dict[str, Any]
    mappings: tuple[dict[str, str], ...]  # as stored: {kind, local, remote} each
    restored_at: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Snapshot:
        values = {name: row[name] for name in cls.__dataclass_fields__}
        values["settings"] = json.loads(values["settings"])
        values["mappings"] = tuple(json.loads(values["mappings"]))
        values["state"] = State(values["state"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    org: str
    actor: str
    action: str
    before_state: str | None
    after_state: str | None
    detail: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEntry:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class ReconnectResult:
    transition: TransitionResult
    tenant_id: str
    tenant_name: str
    tenant_changed: bool
    restored_snapshot: int | None
    problems: tuple[Any, ...] = field(default_factory=tuple)  # store.xero.models.MappingProblem

    def to_json(self) -> dict[str, Any]:
        # The transition's fields at the top level, as `reconnect --json` has always printed.
        return {
            **to_json(self.transition),
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "tenant_changed": self.tenant_changed,
            "restored_snapshot": self.restored_snapshot,
            "problems": to_json(self.problems),
        }


@dataclass(frozen=True, slots=True)
class ReconnectOptions:
    """What a reconnect can choose from: the Xero organisations the user authorised."""

    code: str
    state: State
    version: int
    previous_tenant_id: str | None
    previous_tenant_name: str | None
    tenants: tuple[Any, ...]  # store.xero.models.Connection
    snapshot: Snapshot | None


@dataclass(frozen=True, slots=True)
class MappingChange:
    code: str
    kind: str
    local: str
    before: str | None
    after: str
    tenant_name: str | None
    version: int


@dataclass(frozen=True, slots=True)
class Step:
    position: int
    name: StepName
    status: StepStatus
    actor: str | None
    started_at: str | None
    ended_at: str | None
    outcome: str | None
    # The step's store.step_actions detail (VerifyDetail and so on) as its stored JSON; the
    # wizard reads it by key.
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Note:
    at: str
    actor: str
    step_position: int | None
    text: str


# A step in one of these is still to be performed (a failed one is tried again).
_OPEN_STEPS = (StepStatus.TODO, StepStatus.DOING, StepStatus.FAILED)


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    code: str
    status: RunStatus
    started_at: str
    started_by: str
    claimed_by: str
    claimed_at: str
    ended_at: str | None
    steps: tuple[Step, ...]
    notes: tuple[Note, ...]
    errors_before: tuple[dict[str, Any], ...]  # ErrorGroup JSON, as stored at the start
    diagnosis: dict[str, Any] | None  # Diagnosis JSON, as stored by the diagnose step
    packet: str | None
    override_reason: str | None = None  # the refresh sequence despite the verdict: why
    override_by: str | None = None
    wait_until: str | None = None  # Xero cannot answer before then
    outcome: str | None = None  # resolved | escalated | waiting; None while it goes on
    next_action: str | None = None  # what a person does next, in words

    @property
    def current(self) -> Step | None:
        """The step `next` would perform (None when every step is done or skipped)."""
        return next((s for s in self.steps if s.status in _OPEN_STEPS), None)

    def to_json(self) -> dict[str, Any]:
        return {**fields_json(self), "current": self.current.position if self.current else None}


@dataclass(frozen=True, slots=True)
class StepInput:
    """What a person supplies for steps that need it."""

    confirm: str | None = None  # uninstall: the organisation code
    tenant_id: str | None = None  # reconnect
    accept_new_tenant: bool = False
    restore: int | None = None
    no_restore: bool = False
    redirect_url: str | None = None  # reconnect against the real Xero: where consent ended
