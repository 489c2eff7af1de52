"""Checks, retries and activation as the lifecycle sees them: ask Xero, then record what
Xero said.

The Xero layer (store/xero/health.py, store/xero/export.py) never changes an integration's
state: it reports a connection Xero no longer has as `removed` on its result. Here that becomes
the `disconnected` transition, recorded before the check's or retry's summary row so the log
reads in the order things happened. `activate` lives here because it switches an integration
back on only after such a check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store import clock
from store.db import require_sound, transaction
from store.enums import Level, QueueStatus, State, Transition
from store.errors import TransitionRefused, XeroWaiting
from store.logs import record
from store.models import TransitionResult
from store.progress import Cancelled, Progress
from store.timeparse import iso
from store.transitions import (
    apply_transition,
    check_allowed,
    confirms,
    default_actor,
    integration,
    locked_integration,
    mark_disconnected,
    move_queue,
    uninstall,
    with_messages,
)
from store.verdicts import WAITS, wait_over
from store.xero.client import XeroClient
from store.xero.connect import tenant_listed
from store.xero.export import report_retry, send_held
from store.xero.health import check_live, report_check
from store.xero.mappings import tenant_chart, validate_mappings
from store.xero.models import Account, CheckReport, MappingProblem, RetryReport, TaxRate

if TYPE_CHECKING:
    import sqlite_utils

# Findings that say whether Xero answered: the token refresh, /connections, and any call
# that failed outright (the tenant, chart of accounts, tax rates).
XERO_ANSWERS = ("token", "connection", "access", "xero")


def check(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: XeroClient | None = None,
    actor: str = "check",
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> CheckReport:
    """Ask Xero what is true for org: token, connection, tenant, mappings; and the queue.

    A connection that Xero no longer has (missing from /connections, or 403 on the tenant)
    turns an active or inactive integration `disconnected` (audited as `actor`, one
    transaction) with an error row in the log. Xero failures become findings, not exceptions.
    `progress` and `cancelled` as store/progress.py says (a cancelled check is not healthy).
    Raises UnknownOrganisation.
    """
    live = check_live(db, org, client=client, progress=progress, cancelled=cancelled)
    marked = live.removed is not None and _disconnect(
        db, org, actor=actor, reason=f"check: {live.removed}"
    )
    return report_check(db, org, live, actor=actor, marked_disconnected=marked)


def retry(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: XeroClient | None = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
    actor: str | None = None,
) -> RetryReport:
    """Send org's held and failed exports to Xero again and record each outcome.

    Each document ends `exported` or `failed` (attempts + 1, Xero's message in last_error and
    in the log). Authorisation and connection problems, long rate limits, Xero outages and
    repeated server errors stop the run early: the report's stopped_reason says why, and the
    rows not sent stay as they were; a connection Xero no longer has turns the integration
    `disconnected` (audited as `actor`, or "retry"). Raises UnknownOrganisation, RetryRefused
    (not active, or an unconfirmed tenant change).
    """
    sent = send_held(db, org, client=client, progress=progress, cancelled=cancelled)
    # A 403 is a disconnection only when /connections no longer lists the tenant.
    if sent.removed is not None and tenant_listed(db, org, client=client) is False:
        _disconnect(db, org, actor=actor or "retry", reason=f"retry: {sent.removed}")
    return report_retry(db, org, sent, actor=actor)


def _disconnect(db: sqlite_utils.Database, org: str, *, actor: str, reason: str) -> bool:
    """active|inactive -> disconnected through the lifecycle; False when it does not apply."""
    try:
        mark_disconnected(db, org, actor=actor, reason=reason)
    except TransitionRefused:  # already disconnected or uninstalled, or changed meanwhile
        return False
    return True


def activate(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    expected_version: int | None = None,
    client: Any = None,
    without_check: str | None = None,
) -> TransitionResult:
    """inactive -> active, only after Xero answered a live check and still has the connection.

    Any failure to reach or understand Xero (token refresh refused, 401/403/404/429/5xx, a
    timeout, a malformed /connections) refuses, and the held exports stay held. If Xero no
    longer knows the app the integration becomes `disconnected` instead (the check records
    that, with an error in the connection log). `without_check` (why) skips the check: the
    reason is recorded in the audit row and the log.

    Raises UnknownOrganisation, TransitionRefused, VersionConflict.
    """
    actor = actor or default_actor()
    current = integration(db, org)
    check_allowed(current, Transition.ACTIVATE, expected_version)
    if without_check is not None:
        if not without_check.strip():
            raise TransitionRefused("Say why the live check is skipped: --without-check REASON.")
        version, why = current.version, f"; live check skipped: {without_check.strip()}"
    else:
        report = check(db, current.code, client=client, actor=actor)
        version, why = _answered(db, current.code, report), ""
    with transaction(db) as conn:
        locked = locked_integration(conn, current.org_id)
        check_allowed(locked, Transition.ACTIVATE, version)
        released = move_queue(conn, current.org_id, QueueStatus.HELD, QueueStatus.PENDING)
        result = apply_transition(
            conn, locked, Transition.ACTIVATE, actor, f"{released} held exports released{why}"
        )
    record(db, current.code, Level.INFO, f"Integration status set to Active by {actor}{why}")
    return with_messages(result, f"{released} held exports are pending again.")


def _answered(db: sqlite_utils.Database, code: str, report: CheckReport) -> int:
    """The integration's version once the check shows Xero answered and has the connection.

    Raises TransitionRefused with the check's reason otherwise.
    """
    after_check = integration(db, code)
    if after_check.state == "disconnected":
        raise TransitionRefused(
            f"Xero no longer has the connection for {code}, so it is now "
            "disconnected; reconnect it (`syncdesk reconnect`)."
        )
    failed = [f for f in report.findings if not f.ok and f.check in XERO_ANSWERS]
    if failed or not any(f.ok and f.check == "connection" for f in report.findings):
        reason = (
            f"{failed[0].detail}" + (f" {failed[0].fix}" if failed[0].fix else "")
            if failed
            else "Xero did not confirm the connection."
        )
        raise TransitionRefused(
            f"{code} stays inactive and its held exports stay held: {reason.rstrip('.')}. "
            f"Try again later, or `syncdesk activate {code} --without-check REASON` to switch "
            "it on anyway (the reason is recorded)."
        )
    return after_check.version


def unavailable_until(db: sqlite_utils.Database, org: str, *, client: Any = None) -> str | None:
    """When Xero or the tenant can answer again, if a live check finds it rate-limited,
    offline or unreachable now; None when it answers (or says no for another reason).

    Raises UnknownOrganisation.
    """
    live = check_live(db, org, client=client)
    for finding in live.findings:
        if not finding.ok and finding.kind in WAITS:
            now = clock.now()
            return wait_over(finding.kind, None, finding.detail, now) or iso(now)
    return None


def refuse_while_unavailable(
    db: sqlite_utils.Database, org: str, what: str, *, client: Any = None
) -> None:
    """Nothing irreversible while Xero cannot answer: raise XeroWaiting, naming when to try
    again, if a live check finds the tenant rate-limited, offline or unreachable.

    Raises UnknownOrganisation, XeroWaiting.
    """
    until = unavailable_until(db, org, client=client)
    if until is not None:
        code = integration(db, org).code
        raise XeroWaiting(
            f"{code} was not {what}: Xero cannot answer for this organisation now "
            f"(rate-limited, offline or unreachable), and the revoke and the reconnect "
            f"after it need Xero. Try again after {until}.",
            until=until,
        )


def mapping_problems(
    db: sqlite_utils.Database, org: str, *, client: Any = None
) -> list[MappingProblem]:
    """The mappings the connected tenant cannot honour, asked of Xero now.

    Raises UnknownOrganisation, TransitionRefused (no tenant), XeroError.
    """
    return mapping_problems_and_chart(db, org, client=client)[0]


def mapping_problems_and_chart(
    db: sqlite_utils.Database, org: str, *, client: Any = None
) -> tuple[list[MappingProblem], list[Account], list[TaxRate]]:
    """mapping_problems, with the tenant's accounts and tax rates they were checked against
    (the valid codes to choose from), from one ask of Xero.

    Raises UnknownOrganisation, TransitionRefused (no tenant), XeroError.
    """
    current = integration(db, org)
    if not current.tenant_id:
        raise TransitionRefused(
            f"{current.code} has no Xero organisation connected, so its mappings cannot be "
            "checked; reconnect it first."
        )
    accounts, rates = tenant_chart(db, current.code, current.tenant_id, client=client)
    return validate_mappings(db, current.code, accounts, rates), accounts, rates


def safe_uninstall(
    db: sqlite_utils.Database,
    org: str,
    *,
    confirm: str | None,
    actor: str | None = None,
    expected_version: int | None = None,
    client: Any = None,
) -> TransitionResult:
    """Uninstall (store/transitions.py), but not while Xero cannot answer: a confirmed
    uninstall first asks Xero, and a tenant rate-limited, offline or unreachable refuses with
    when to try again (the revoke and the reconnect after it need Xero).

    A confirmed uninstall first checks the whole store (PRAGMA quick_check): damage nothing
    has read yet refuses it before anything changes.

    Raises UnknownOrganisation, TransitionRefused, XeroWaiting, VersionConflict, StoreDamaged.
    """
    current = integration(db, org)
    if confirms(confirm, current.code) and current.state != State.UNINSTALLED:
        require_sound(db, "uninstalled")
        if current.tenant_id or current.connection_id:
            refuse_while_unavailable(db, current.code, "uninstalled", client=client)
    return uninstall(
        db,
        current.code,
        confirm=confirm,
        actor=actor,
        expected_version=expected_version,
        client=client,
    )
