"""Diagnosis: state + live check + the log's error groups -> the likely cause and what to do.

The verdict names the blocking problem (store/verdicts.py: the remedies in the order in which
they block one another, then the most serious signal, not merely the most frequent), names
every other current problem after it, says whether the refresh sequence (deactivate ->
uninstall -> reconnect) will help, and gives the next step. Mapping problems are the classic
case where it will not: a mapping to a missing account survives any number of reconnects and
needs `syncdesk map`; a rate limit or an outage needs waiting until a stated time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from store import clock
from store.enums import QueueStatus, State, StepName
from store.errors import XeroError
from store.kb import knowledge_by_kind
from store.logs import error_groups
from store.models import ErrorGroup, Integration, Pause
from store.orgs import pause_of, reconsent_advice, reconsent_due
from store.timeparse import iso
from store.transitions import integration
from store.verdicts import Problem, Verdict, ordered_groups, problem_line, problems_seen, wait_over

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["Diagnosis", "Verdict", "deciding_groups", "diagnose", "ordered_groups"]


@dataclass(frozen=True, slots=True)
class Diagnosis:
    code: str
    name: str
    state: State
    version: int
    tenant_name: str | None
    findings: tuple[Any, ...]  # store.xero.models.Finding
    check_error: str | None
    groups: tuple[ErrorGroup, ...]  # the verdict's group first, then by severity, then count
    verdict: Verdict
    other_kinds: tuple[str, ...] = field(default_factory=tuple)


def _next_step(
    code: str,
    p: Problem,
    entry: Any,
    current: Integration,
    pause: Pause | None,
    until: str | None,
) -> str:
    """The next step a person takes, in words, for the blocking problem."""
    if p.remedy == "reconnect":
        if p.kind == "tenant_changed":
            return (
                "Ask the customer which Xero organisation holds their books. The refresh "
                f"sequence (`syncdesk run start {code}`) uninstalls and reconnects to "
                f"{current.trusted_tenant[1] or 'the previous one'}; if they really moved to "
                f"{current.tenant_name or 'the new one'}, its reconnect step takes "
                "--accept-new-tenant, which records the confirmation."
            )
        if current.state == State.DISCONNECTED or p.kind in (
            "disconnected_in_xero",
            "connection_removed",
        ):
            return (
                f"Run the refresh sequence (`syncdesk run start {code}`): "
                "deactivate is skipped, reconnect restores the link."
            )
        step = entry.refresh_step if entry and entry.refresh_step != "none" else "reconnect"
        return (
            f"Run the refresh sequence (`syncdesk run start {code}`); the "
            f"{step} step is the one expected to fix this."
        )
    if p.remedy == "wait":
        at = f"{until[11:19]} UTC ({until})" if until else "Xero answers again"
        return (
            f"Refreshing will not help. Wait until {at}: Xero cannot answer now. Then retry "
            f"the exports (`syncdesk retry {code}`); no uninstall meanwhile."
        )
    if p.remedy == "map":
        where = f" ({p.detail})" if p.live else ""
        return (
            f"Refreshing will not help. Fix the mapping{where} with "
            f"`syncdesk map {code} KIND LOCAL CODE`, then retry exports."
        )
    if p.remedy == "activate":
        why = ""
        if pause is not None:
            why = f" Paused by {pause.paused_by} at {pause.paused_at}" + (
                f": {pause.reason}." if pause.reason else "."
            )
        return (
            "Refreshing will not help. Turn it back on and send what was held: "
            f"`syncdesk activate {code}` (checks Xero first), then `syncdesk retry {code}`." + why
        )
    if p.remedy == "fix_data":
        fix = f" {entry.fix}" if entry else ""
        return (
            f"Refreshing will not help. Fix the data on the documents:{fix} Then retry the "
            f"exports (`syncdesk retry {code}`)."
        )
    if p.remedy == "retry":
        return f"Refreshing will not help. Retry the exports (`syncdesk retry {code}`)."
    return (
        "Refreshing will not help. Escalate with the correlation ids "
        f"(`syncdesk run escalate {code}`)."
    )


def _healthy(old: tuple[str, ...]) -> Verdict:
    if not old:
        return Verdict(
            None,
            "Healthy",
            "No errors in the last 24 hours and the live check found nothing wrong.",
            "",
            False,
            "none",
            "Nothing to fix: no errors in the last day and the live check passed.",
            what="Nothing is failing.",
        )
    return Verdict(
        None,
        "Healthy (only old errors)",
        "The errors of the last day are over: nothing shows them happening now.",
        "",
        False,
        "none",
        f"Nothing to fix: the errors of the last day ({', '.join(old)}) are no longer happening.",
        what="Nothing is failing now.",
        old=old,
    )


def _verdict(
    current: Integration,
    problems: list[Problem],
    kb: dict[str, Any],
    pause: Pause | None,
    now: datetime,
) -> Verdict:
    code = current.code
    live_now = [p for p in problems if p.current]
    old = tuple(p.kind for p in problems if not p.current)
    if current.state == State.UNINSTALLED:
        return Verdict(
            None,
            "Uninstalled",
            "The integration is uninstalled: nothing reaches Xero until it is reconnected.",
            "Reconnect, restoring the latest snapshot of settings and mappings.",
            True,
            StepName.RECONNECT,
            f"Reconnect: `syncdesk reconnect {code}` restores the latest snapshot, or start a "
            "refresh run with `r`.",
            what="Settings, mappings and tokens were removed by an uninstall.",
            remedy="reconnect",
            problems=tuple(f"{p.kind}: {p.title} ({p.detail})" for p in live_now),
            old=old,
            remedies=("reconnect",),
        )
    if not live_now:
        return _healthy(old)
    primary = live_now[0]
    entry = kb.get(primary.kind)
    until = None
    if primary.remedy == "wait":
        until = wait_over(primary.kind, primary.last_at, primary.detail, now) or iso(now)
    helps = primary.remedy == "reconnect"
    step = "none"
    if helps:
        step = StepName.RECONNECT
        if current.state != State.DISCONNECTED and entry and entry.refresh_step != "none":
            step = entry.refresh_step
    return Verdict(
        primary.kind,
        entry.title if entry else primary.kind.replace("_", " "),
        entry.cause if entry else "Not in the knowledge base.",
        entry.fix if entry else "Escalate with the log rows and correlation ids.",
        helps,
        str(step),
        _next_step(code, primary, entry, current, pause, until),
        what=f"{primary.title}: {primary.detail.rstrip('.')}.",
        remedy=primary.remedy,
        wait_until=until,
        problems=tuple(problem_line(p, primary) for p in live_now),
        old=old,
        remedies=tuple(dict.fromkeys(p.remedy for p in live_now)),
    )


def _reconsent(code: str, healthy: Verdict) -> Verdict:
    """Nothing is failing, but the integration still runs on Xero's deprecated broad scopes."""
    cause, fix = reconsent_advice(code)
    return Verdict(
        "needs_reconsent",
        "Fresh consent due",
        cause,
        fix,
        False,
        "none",
        f"Reconnect with fresh consent (`syncdesk reconnect {code} --auth-url`) before "
        "September 2027; nothing is failing now.",
        what="Nothing is failing; the connection still uses Xero's deprecated scopes.",
        old=healthy.old,
    )


def _unconfirmed_tenant(current: Integration) -> str | None:
    """Words for a connection to another Xero organisation than before that nobody confirmed
    (any organisation, not only a demo company: `retry` refuses to export to it)."""
    if current.tenant_id and current.trusted_tenant[0] != current.tenant_id:
        return (
            f'connected to "{current.tenant_name}" ({current.tenant_id}), not the previous '
            f'"{current.trusted_tenant[1]}" ({current.trusted_tenant[0]}), unconfirmed'
        )
    return None


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
    moment = now or clock.now()
    since = iso(moment - timedelta(hours=24))
    groups = error_groups(db, org=current.code, since=since)
    kb = knowledge_by_kind(db)
    failed = db.execute(
        "SELECT count(*) FROM queue WHERE org_id = ? AND status = ?",
        [current.org_id, QueueStatus.FAILED],
    ).fetchone()[0]
    problems = problems_seen(
        current.state,
        findings,
        groups,
        kb,
        unconfirmed_tenant=_unconfirmed_tenant(current),
        failed_exports=failed,
        live=live and check_error is None and bool(findings),
        now=moment,
    )
    pause = pause_of(db, current.code) if current.state == State.INACTIVE else None
    verdict = _verdict(current, problems, kb, pause, moment)
    if verdict.kind is None and reconsent_due(db, current):  # any live failure outranks it
        verdict = _reconsent(current.code, verdict)
    return Diagnosis(
        current.code,
        current.name,
        current.state,
        current.version,
        current.tenant_name,
        findings,
        check_error,
        tuple(ordered_groups(groups, verdict.kind)),
        verdict,
        tuple(p.kind for p in problems if p.kind != verdict.kind),
    )


def deciding_groups(
    db: sqlite_utils.Database, org: str | None, since: str | None
) -> tuple[list[ErrorGroup], str | None]:
    """Error groups in order of what decides, and the kind behind the verdict (one
    organisation: its verdict from the state and the log, asking Xero nothing; None for all
    organisations): that group first, then by severity, then count.

    Raises UnknownOrganisation, InvalidQuery.
    """
    groups = error_groups(db, org=org, since=since)
    kind = diagnose(db, org, live=False).verdict.kind if org else None
    return ordered_groups(groups, kind), kind
