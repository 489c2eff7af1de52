"""Verdict classes: what each kind of problem means for a person and for a refresh run.

Every problem a diagnosis sees (the state, a live-check finding, an error group of the last
day) belongs to one remedy, the knowledge base's `action` (documented at the top of
sample_data/knowledge_base.yaml), in the order in which they block one another:

    wait       Xero or the tenant cannot answer now (rate limits, outages): wait until the stated
               time, then retry. Nothing irreversible meanwhile; refreshing does not help.
    reconnect  the connection is gone, its grant expired or revoked, or it points at another
               Xero organisation than the customer's: the refresh sequence helps.
    map        an account or tax rate is missing or archived in the tenant: point the mapping at
               a valid code. A reconnect restores the same mapping, so refreshing does not help.
    activate   a person paused the integration: switch it back on and send what was held.
    fix_data   the document's data (duplicate numbers, archived contacts, validation): fix it in
               Xero or in the inventory system, then retry.
    retry      send the exports again; escalate     support must look.

A problem is `current` unless what it says is no longer true: a rate limit or an outage the
live check did not meet (or whose wait is over), a mapping error while the live check finds every
mapping valid, a data error while nothing is failing in the queue, a connection error while the
token and the connection work. Only old problems: healthy, nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store.enums import State
from store.models import ErrorGroup, KnowledgeEntry
from store.timeparse import iso, stored_time

REMEDIES = ("wait", "reconnect", "map", "activate", "fix_data", "retry", "escalate")
ACTION_REMEDY = {
    "wait": "wait",
    "reconnect": "reconnect",
    "map": "map",
    "activate": "activate",
    "fix_in_xero": "fix_data",
    "fix_in_inventory": "fix_data",
    "retry": "retry",
    "escalate": "escalate",
    "none": "retry",
}
# Xero or the tenant could not answer: whatever the knowledge base's action, wait and retry.
OUTAGES = {
    "org_offline",
    "xero_unavailable",
    "xero_server_error",
    "xero_unreachable",
    "timeout",
}
RATE_LIMITS = {"rate_limited_minute", "rate_limited_day", "rate_limited_app", "rate_limited"}
WAITS = OUTAGES | RATE_LIMITS
# Within one remedy, the more serious first.
PRIORITY = (
    "disconnected_in_xero",
    "connection_removed",
    "refresh_token_invalid",
    "token_refresh_failed",
    "tenant_changed",
    "authorization_failed",
    "org_offline",
    "xero_unavailable",
    "rate_limited_day",
    "rate_limited_app",
    "rate_limited_minute",
    "rate_limited",
    "account_code_removed",
    "account_code_invalid",
    "account_code_missing",
    "account_invalid",
    "tax_type_invalid",
    "tax_rate_invalid",
    "tax_type_account_mismatch",
    "invoice_number_duplicate",
    "duplicate_email",
    "contact_name_duplicate",
    "contact_archived",
)
CONNECTION_CHECKS = ("token", "connection", "tenant")
OUTAGE_WAIT = timedelta(minutes=15)  # Xero gives no time for an outage: look again then
_RETRY_AFTER = re.compile(r"(?:Retry-After:\s*|try again in\s*)(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem a diagnosis saw, with what fixes it."""

    kind: str
    remedy: str
    title: str
    live: bool  # seen now, by the state or the live check
    current: bool  # still true now (not only old rows in the log)
    count: int
    detail: str  # what was seen, in words
    last_at: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What happened, why, what fixes it, whether the refresh sequence helps, the next step.

    `remedy` is the class (REMEDIES, or "none" when there is nothing to do); `wait_until` the
    time to try again for a wait; `problems` every current problem, the blocking one first,
    in words; `old` the kinds only seen in the past.
    """

    kind: str | None
    title: str
    cause: str
    fix: str
    refresh_helps: bool
    refresh_step: str  # a StepName, or "none" (the knowledge base's refresh_step)
    next_step: str
    what: str = ""
    remedy: str = "none"
    wait_until: str | None = None
    problems: tuple[str, ...] = ()
    old: tuple[str, ...] = ()
    remedies: tuple[str, ...] = ()  # of every current problem, blocking first (a run's plan)


def remedy_of(kind: str, action: str | None) -> str:
    """The remedy for a kind of problem, from the knowledge base's action for it."""
    if kind in WAITS:
        return "wait"
    if kind in ("disconnected_in_xero", "tenant_changed"):
        return "reconnect"
    if kind == "integration_deactivated":
        return "activate"
    return ACTION_REMEDY.get(action or "escalate", "escalate")


def rank(problem: Problem) -> tuple[int, int, int, int]:
    """Sort key: current first, then by remedy (what blocks what), then seriousness, count."""
    remedy = REMEDIES.index(problem.remedy) if problem.remedy in REMEDIES else len(REMEDIES)
    serious = PRIORITY.index(problem.kind) if problem.kind in PRIORITY else len(PRIORITY)
    return (not problem.current, remedy, serious, -problem.count)


def problems_seen(
    state: State,
    findings: tuple[Any, ...],
    groups: list[ErrorGroup],
    kb: dict[str, KnowledgeEntry],
    *,
    unconfirmed_tenant: str | None,
    failed_exports: int,
    live: bool,
    now: datetime,
) -> list[Problem]:
    """Every problem, ranked: the blocking one first, old ones last."""
    seen: dict[str, Problem] = {}

    def add(kind: str, is_live: bool, current: bool, count: int, detail: str, last: str | None):
        entry = kb.get(kind)
        title = entry.title if entry else kind.replace("_", " ")
        before = seen.get(kind)
        if before is not None:
            current = current or before.current
            is_live = is_live or before.live
            count = max(count, before.count)
            detail = before.detail if before.live else detail
            last = before.last_at or last
        seen[kind] = Problem(
            kind,
            remedy_of(kind, entry.action if entry else None),
            title,
            is_live,
            current,
            count,
            detail,
            last,
        )

    if state == State.DISCONNECTED:
        add("disconnected_in_xero", True, True, 1, "the integration is disconnected", None)
    if state == State.INACTIVE:
        add("integration_deactivated", True, True, 1, "the integration is inactive", None)
    if unconfirmed_tenant:
        add("tenant_changed", True, True, 1, unconfirmed_tenant, None)
    for finding in findings:
        if not finding.ok and getattr(finding, "kind", None):
            add(finding.kind, True, True, 1, finding.detail, None)
    passed = {f.check for f in findings if f.ok}
    mapped_ok = live and "mappings" in passed
    connected_ok = live and {"token", "connection"} <= passed
    for g in groups:
        remedy = remedy_of(g.kind, kb[g.kind].action if g.kind in kb else None)
        if remedy == "wait":
            current = wait_over(g.kind, g.last_at, None, now) is not None and not live
        elif remedy == "map":
            current = not mapped_ok
        elif remedy == "fix_data":
            current = failed_exports > 0
        elif remedy == "reconnect":
            current = not connected_ok and g.kind != "tenant_changed"
        elif remedy == "activate":
            current = state == State.INACTIVE
        else:
            current = failed_exports > 0
        add(g.kind, False, current, g.count, f"{g.count} in 24 h, last {g.last_at}", g.last_at)
    return sorted(seen.values(), key=rank)


def wait_over(kind: str, last_at: str | None, detail: str | None, now: datetime) -> str | None:
    """When a rate limit or an outage seen at last_at (or now, by the live check) is over;
    None when that time has passed."""
    seen_at = stored_time(last_at) if last_at else now
    seen_at = seen_at or now
    found = _RETRY_AFTER.search(detail or "")
    if found:
        wait = timedelta(seconds=float(found.group(1)))
    elif kind == "rate_limited_day":
        wait = timedelta(hours=24)
    elif kind in RATE_LIMITS:
        wait = timedelta(seconds=60)
    else:
        wait = OUTAGE_WAIT
    until = seen_at + wait
    return iso(until) if until > now else None


def problem_line(p: Problem, primary: Problem) -> str:
    """One problem in words, with what it means next to the blocking one."""
    line = f"{p.kind}: {p.title} ({p.detail}); remedy: {p.remedy}"
    if p is primary:
        return line + " [blocking]"
    if primary.remedy == "reconnect" and p.remedy == "map":
        line += (
            "; the reconnect restores this mapping from the snapshot and it will still fail: "
            "fix it with `syncdesk map` (before the uninstall, the snapshot keeps the fix)"
        )
    return line


def ordered_groups(groups: list[ErrorGroup], kind: str | None) -> list[ErrorGroup]:
    """Error groups in order of what decides: the verdict's own first, then by severity (the
    remedy order above, then PRIORITY), then count."""

    def key(g: ErrorGroup) -> tuple[bool, int, int, int]:
        remedy = remedy_of(g.kind, g.action)
        return (
            g.kind != kind,
            REMEDIES.index(remedy) if remedy in REMEDIES else len(REMEDIES),
            PRIORITY.index(g.kind) if g.kind in PRIORITY else len(PRIORITY),
            -g.count,
        )

    return sorted(groups, key=key)
