"""The closed sets of words the store keeps: states, transitions, queue statuses, levels, run
steps and where runs and their steps stand.

They are `StrEnum`s, so a member is its own string: it goes into SQL parameters, JSON and
f-strings unchanged (`State.ACTIVE == "active"`), and a typo is a NameError instead of a row
that matches nothing. The schema's CHECK constraints are built from the same members.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """An integration's state (the README's state table says what each means)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    DISCONNECTED = "disconnected"
    UNINSTALLED = "uninstalled"


class Transition(StrEnum):
    """A move in the state table (store/transitions.py); the audit trail records it by name."""

    DEACTIVATE = "deactivate"
    ACTIVATE = "activate"
    MARK_DISCONNECTED = "mark_disconnected"
    UNINSTALL = "uninstall"
    RECONNECT = "reconnect"


class QueueStatus(StrEnum):
    """Where an export stands in the queue."""

    PENDING = "pending"
    HELD = "held"
    FAILED = "failed"
    EXPORTED = "exported"


class Level(StrEnum):
    """A connection-log row's level."""

    ERROR = "error"
    INFO = "info"


class StepName(StrEnum):
    """A step of a refresh run: the refresh sequence's, and what a verdict offers instead."""

    DIAGNOSE = "diagnose"
    DEACTIVATE = "deactivate"
    VERIFY = "verify"
    UNINSTALL = "uninstall"
    RECONNECT = "reconnect"
    WAIT = "wait"  # Xero or the tenant cannot answer: until the stated time
    MAP = "map"  # every mapping exists in the tenant and fits its use
    ACTIVATE = "activate"  # a paused integration switched back on, what was held sent


class StepStatus(StrEnum):
    """Where a run's step stands."""

    TODO = "todo"
    DOING = "doing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    """Where a run stands."""

    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    ESCALATED = "escalated"
