"""Diagnosis: state + live check + the log's error groups -> the likely cause and what to do.

The verdict names one primary problem (the most serious signal, not merely the most
frequent), says whether the refresh sequence (deactivate -> uninstall -> reconnect) will help,
and gives the next step. Mapping problems are the classic case where it will not: a mapping
to a missing account survives any number of reconnects and needs `syncdesk map`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from store import clock
from store.enums import State, StepName
from store.errors import XeroError
from store.kb import knowledge_by_kind
from store.logs import error_groups
from store.models import ErrorGroup
from store.timeparse import iso
from store.transitions import integration

if TYPE_CHECKING:
    import sqlite_utils

# The most serious first: a connection that is gone hides every other problem.
PRIORITY = (
    "disconnected_in_xero",
    "connection_removed",
    "refresh_token_invalid",
    "tenant_changed",
    "authorization_failed",
    "auth_expired",
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
    "currency_not_subscribed",
    "rate_limited_day",
    "rate_limited_minute",
)
TRANSIENT = {
    "rate_limited_minute",
    "rate_limited_app",
    "rate_limited",
    "xero_server_error",
    "org_offline",
    "xero_unavailable",
    "xero_unreachable",
    "xero_bad_response",
    "timeout",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str | None
    title: str
    cause: str
    fix: str
    refresh_helps: bool
    refresh_step: str  # a StepName, or "none" (the knowledge base's refresh_step)
    next_step: str


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str
    name: str
    state: State
    version: int
    tenant_name: str | None
    findings: tuple[Any, ...]  # store.xero.models.Finding
    check_error: str | None
    groups: tuple[ErrorGroup, ...]
    verdict: Verdict
    other_kinds: tuple[str, ...] = field(default_factory=tuple)


def _signals(state: State, findings: tuple[Any, ...], groups: list[ErrorGroup]) -> list[str]:
    """Problem kinds in order of seriousness, from the state, the live check and the log."""
    kinds: list[str] = []
    if state == State.DISCONNECTED:
        kinds.append("disconnected_in_xero")
    for finding in findings:
        if not finding.ok and getattr(finding, "kind", None):
            kinds.append(finding.kind)
    recent = [g.kind for g in groups]
    live = set(kinds)  # what the live check sees now outranks one-off noise in the log
    ranked = sorted(
        {*kinds, *recent},
        key=lambda k: (
            PRIORITY.index(k) if k in PRIORITY else len(PRIORITY),
            k not in live,
            k in TRANSIENT,
            -recent.count(k),
        ),
    )
    return ranked


def _next_step(
    code: str, state: State, kind: str | None, entry: Any, findings: tuple[Any, ...]
) -> tuple[bool, str, str]:
    """(refresh helps, the refresh step that matters, the next step in words)."""
    if state == State.UNINSTALLED:
        return (
            True,
            StepName.RECONNECT,
            (
                f"Reconnect: `syncdesk reconnect {code}` restores the "
                "latest snapshot, or start a refresh run with `r`."
            ),
        )
    if kind is None:
        return False, "none", "Nothing to fix: no errors in the last day and the live check passed."
    step = entry.refresh_step if entry else "none"
    action = entry.action if entry else "escalate"
    if state == State.DISCONNECTED or kind in ("disconnected_in_xero", "connection_removed"):
        return (
            True,
            StepName.RECONNECT,
            (
                f"Run the refresh sequence (`syncdesk run start {code}`): "
                "deactivate is skipped, reconnect restores the link."
            ),
        )
    if step != "none":
        return (
            True,
            step,
            (
                f"Run the refresh sequence (`syncdesk run start {code}`); the "
                f"{step} step is the one expected to fix this."
            ),
        )
    if action == "map":
        bad = [f for f in findings if not f.ok and f.check.startswith("mapping")]
        where = f" ({bad[0].detail})" if bad else ""
        return (
            False,
            "none",
            (
                f"Refreshing will not help. Fix the mapping{where} with "
                f"`syncdesk map {code} KIND LOCAL CODE`, then retry exports."
            ),
        )
    words = {
        "wait": "Wait, then retry the exports (`syncdesk retry " + code + "`).",
        "retry": "Retry the exports (`syncdesk retry " + code + "`).",
        "fix_in_xero": "Fix it in Xero as the knowledge base says, then retry exports.",
        "fix_in_inventory": "Fix the record on the inventory side, then retry exports.",
        "reconnect": f"Reconnect the integration (`syncdesk run start {code}`).",
        "escalate": "Escalate with the correlation ids (`syncdesk run escalate " + code + "`).",
    }
    return False, "none", "Refreshing will not help. " + words.get(action, words["escalate"])


def diagnose(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: Any = None,
    now: datetime | None = None,
    live: bool = True,
    actor: str = "check",
) -> Diagnosis:
    """State, live check and the last day's error groups, with a verdict.

    A live check that cannot reach Xero is reported in `check_error`, not raised.

    Raises UnknownOrganisation.
    """
    from store.checks import check

    current = integration(db, org)
    findings: tuple[Any, ...] = ()
    check_error = None
    if live and current.state != State.UNINSTALLED:
        try:
            findings = tuple(check(db, current.code, client=client, actor=actor).findings)
        except XeroError as exc:
            check_error = str(exc)
        current = integration(db, org)  # a check may have found the app removed
    since = iso((now or clock.now()) - timedelta(hours=24))
    groups = error_groups(db, org=current.code, since=since)
    kinds = _signals(current.state, findings, groups)
    primary = kinds[0] if kinds else None
    kb = knowledge_by_kind(db)
    entry = kb.get(primary) if primary else None
    helps, step, next_step = _next_step(current.code, current.state, primary, entry, findings)
    if primary is None and current.state == State.UNINSTALLED:
        verdict = Verdict(
            None,
            "Uninstalled",
            "The integration is uninstalled: nothing reaches Xero until it is reconnected.",
            "Reconnect, restoring the latest snapshot of settings and mappings.",
            helps,
            step,
            next_step,
        )
    elif primary is None:
        verdict = Verdict(
            None,
            "Healthy",
            "No errors in the last 24 hours and the live check found nothing wrong.",
            "",
            helps,
            step,
            next_step,
        )
    elif entry is None:
        verdict = Verdict(
            primary,
            primary.replace("_", " "),
            "Not in the knowledge base.",
            "Escalate with the log rows and correlation ids.",
            helps,
            step,
            next_step,
        )
    else:
        verdict = Verdict(primary, entry.title, entry.cause, entry.fix, helps, step, next_step)
    return Diagnosis(
        current.code,
        current.name,
        current.state,
        current.version,
        current.tenant_name,
        findings,
        check_error,
        tuple(groups),
        verdict,
        tuple(kinds[1:]),
    )
