"""The live health check of one organisation: token, connection, tenant, mappings, queue.

Xero failures become findings, not exceptions; each failed call is one error row in the log.
A connection Xero no longer has is reported as `LiveCheck.removed`: store/checks.py records
the `disconnected` transition, then `report_check` adds the queue and the summary row.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from store import clock
from store.enums import Level, QueueStatus, State
from store.errors import XeroConnectionRemoved, XeroError
from store.logs import record
from store.orgs import org_id
from store.progress import Cancelled, Progress
from store.xero.client import XeroClient
from store.xero.common import (
    fix_for,
    integration_row,
    log_error,
    parse_time,
    queue_counts,
    session,
)
from store.xero.mappings import (
    TAX_KINDS,
    problem_kind,
    stored_mappings,
    validate_mappings,
)
from store.xero.models import CheckReport, Connection, Finding, LiveCheck
from store.xero.tokens import ensure_token, with_token

if TYPE_CHECKING:
    import sqlite_utils

CHECK_MAX_WAIT = 5.0  # a check reports a long Retry-After instead of sleeping through it


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{round(seconds / size)} {unit}"
    return f"{seconds} s"


class _Check:
    """Collects findings for one organisation."""

    def __init__(self, db: sqlite_utils.Database, org: str) -> None:
        self.db = db
        self.org = org
        self.oid = org_id(db, org)
        self.stored = integration_row(db, self.oid)
        self.findings: list[Finding] = []
        self.tenant_name: str | None = self.stored.get("tenant_name")
        self.removed_reason: str | None = None

    def add(
        self, check: str, ok: bool, detail: str, fix: str | None = None, kind: str | None = None
    ) -> None:
        self.findings.append(Finding(check, ok, detail, None if ok else fix, None if ok else kind))

    def fail(self, check: str, detail: str, kind: str | None) -> None:
        """A failed check, with the knowledge base's fix for its kind."""
        self.add(check, False, detail, fix_for(self.db, kind), kind=kind)

    def failed_call(self, exc: XeroError) -> None:
        log_error(self.db, self.org, exc)
        self.fail("xero", str(exc), exc.kind)

    def removed(self, detail: str) -> None:
        """Xero no longer has the connection; the lifecycle records the transition."""
        self.fail("connection", detail, "connection_removed")
        self.removed_reason = detail


def _state_finding(c: _Check) -> None:
    state = c.stored["state"]
    if state == State.ACTIVE:
        c.add("state", True, "integration is active")
    elif state == State.INACTIVE:
        c.fail(
            "state", "integration is inactive: exports wait in the queue", "integration_deactivated"
        )
    elif state == State.DISCONNECTED:
        c.fail(
            "state",
            "integration is disconnected: the app was removed from within Xero",
            "disconnected_in_xero",
        )
    else:
        c.add(
            "state",
            False,
            "integration is uninstalled: there is no Xero connection to check",
            "Reconnect the integration, restoring the settings and mappings from a snapshot.",
        )


def _token_finding(c: _Check, xero: XeroClient) -> str | None:
    stamp = c.stored.get("token_expires_at")
    expires = parse_time(stamp)
    before = (
        f"the stored access-token expiry {stamp!r} is not a time"
        if expires is None and stamp
        else "no access token stored"
        if expires is None
        else f"access token expired {_span(clock.now() - expires)} ago"
        if expires <= clock.now()
        else f"access token valid for {_span(expires - clock.now())}"
    )
    try:
        token = ensure_token(c.db, c.org, xero, force=True)
    except XeroError as exc:
        c.fail("token", f"{before}; {exc}", exc.kind)
        return None
    renewed = parse_time(integration_row(c.db, c.oid).get("token_expires_at"))
    after = f" (new access token valid for {_span(renewed - clock.now())})" if renewed else ""
    c.add("token", True, f"{before}; refresh works{after}")
    return token


def _connection_finding(c: _Check, xero: XeroClient, token: str) -> Connection | None:
    try:
        connections = xero.connections(token)
    except XeroError as exc:
        c.failed_call(exc)
        return None
    tenant_id, conn_id = c.stored.get("tenant_id"), c.stored.get("connection_id")
    mine = next((x for x in connections if x.tenant_id == tenant_id), None) or next(
        (x for x in connections if conn_id and x.id == conn_id), None
    )
    if mine is None:
        others = ", ".join(f'"{x.tenant_name}"' for x in connections)
        c.removed(
            f'Xero lists no connection to "{c.tenant_name}" ({tenant_id}): the app was removed '
            "from the organisation in Xero"
            + (f"; this authorisation still reaches {others}" if others else "")
        )
        return None
    notes = [f"authorised {mine.created[:10]}"] if mine.created else []
    if mine.updated and mine.created and mine.updated[:19] != mine.created[:19]:
        notes.append(f"reconnected {mine.updated[:10]}")
    extra = f" ({', '.join(notes)})" if notes else ""
    c.add("connection", True, f'connection to "{mine.tenant_name}" present{extra}')
    if mine.tenant_id != tenant_id:
        c.fail(
            "tenant",
            f'the connection now points at "{mine.tenant_name}" ({mine.tenant_id}), not the '
            f'stored "{c.tenant_name}" ({tenant_id})',
            "tenant_changed",
        )
        return None
    return mine


def _tenant_finding(c: _Check, xero: XeroClient, token: str, tenant_id: str) -> bool:
    try:
        organisation = with_token(
            c.db, c.org, xero, lambda t: xero.organisation(t, tenant_id), log=False
        )
    except XeroConnectionRemoved as exc:
        # /connections has just listed this tenant: the app is still connected, so this is
        # not a disconnection but access refused (a user who lost access, a wrong tenant id,
        # a missing scope).
        log_error(c.db, c.org, exc)
        c.fail(
            "access",
            f'Xero lists the connection to "{c.tenant_name}" ({tenant_id}) but refuses calls '
            f"for it (403 {exc.log_message.partition('Forbidden: ')[2] or 'Forbidden'}): the "
            "Xero user who connected it may have lost access to the organisation, the tenant "
            "id may be wrong, or a scope is missing; not disconnected",
            "authorization_failed",
        )
        return False
    except XeroError as exc:
        c.failed_call(exc)
        return False
    stored = c.stored.get("tenant_name")
    detail = f'"{organisation.name}" ({tenant_id}), base currency {organisation.base_currency}'
    if stored and stored != organisation.name:
        detail += f'; the store calls it "{stored}"'
    previous = c.stored.get("previous_tenant_id")
    if previous and previous != tenant_id:
        detail += f'; previously connected to "{c.stored.get("previous_tenant_name")}" ({previous})'
    c.tenant_name = organisation.name
    if organisation.is_demo_company:
        c.fail(
            "tenant",
            f"{detail}: a Xero demo company, not the customer's own organisation",
            "tenant_changed",
        )
    else:
        c.add("tenant", True, detail)
    return True


def _mapping_findings(c: _Check, xero: XeroClient, tenant_id: str) -> None:
    try:
        accounts = with_token(c.db, c.org, xero, lambda t: xero.accounts(t, tenant_id), log=False)
        rates = with_token(c.db, c.org, xero, lambda t: xero.tax_rates(t, tenant_id), log=False)
    except XeroError as exc:
        c.failed_call(exc)
        return
    problems = validate_mappings(c.db, c.org, accounts, rates)
    for p in problems:
        hint = f"; usable instead: {', '.join(p.suggestions[:8])}" if p.suggestions else ""
        c.fail("mapping", f"{p.kind} {p.local} → {p.remote}: {p.problem}{hint}", problem_kind(p))
    if not problems:
        checked = [
            m
            for m in stored_mappings(c.db, c.oid)
            if m[0] in TAX_KINDS or m[0].endswith("_account")
        ]
        c.add(
            "mappings",
            True,
            f"all {len(checked)} account and tax mappings exist in Xero and fit their use",
        )


def _queue_finding(db: sqlite_utils.Database, oid: int, code: str, state: State) -> Finding:
    counts = queue_counts(db, oid)
    failed, held = counts[QueueStatus.FAILED], counts[QueueStatus.HELD]
    detail = f"{failed} failed, {held} held, {counts[QueueStatus.PENDING]} pending"
    ok = failed == 0 and (held == 0 or state != State.ACTIVE)
    fix = (
        f"Fix the causes above, then send them again with `syncdesk retry {code}`."
        if failed
        else f"Send them with `syncdesk retry {code}`."
    )
    return Finding("queue", ok, detail, None if ok else fix)


# What the live check asks Xero, in turn (its progress: one step each).
CHECK_STEPS = (
    "checking the token",
    "asking Xero for its connections",
    "reading the Xero organisation",
    "reading the chart of accounts and tax rates",
)


def check_live(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: XeroClient | None = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> LiveCheck:
    """Ask Xero what is true for org: token, connection, tenant, mappings.

    A connection that Xero no longer has (missing from /connections, or 403 on the tenant) is
    a failed finding and the result's `removed` reason; nothing here changes the integration's
    state. Xero failures become findings (and error rows in the log), not exceptions.
    `progress` hears of each of CHECK_STEPS; `cancelled` stops between them, with a failed
    `cancelled` finding naming what was not checked (store/progress.py).
    Raises UnknownOrganisation.
    """
    c = _Check(db, org)
    _state_finding(c)
    if c.stored["state"] != State.UNINSTALLED:

        def go_on(step: int) -> bool:
            if cancelled is not None and cancelled():
                left = ", ".join(CHECK_STEPS[step:])
                c.add(
                    "cancelled",
                    False,
                    f"Cancelled after {step} of {len(CHECK_STEPS)} steps; not done: {left}.",
                    "Run the check again.",
                )
                return False
            if progress is not None:
                progress(step, len(CHECK_STEPS), CHECK_STEPS[step])
            return True

        with session(db, client) as xero, xero.patience(max_wait=CHECK_MAX_WAIT, retries=1):
            token = _token_finding(c, xero) if go_on(0) else None
            mine = _connection_finding(c, xero, token) if token and go_on(1) else None
            if mine is not None and go_on(2) and _tenant_finding(c, xero, token, mine.tenant_id):
                if go_on(3):
                    _mapping_findings(c, xero, mine.tenant_id)
        if progress is not None:
            progress(len(CHECK_STEPS), len(CHECK_STEPS), "")
    return LiveCheck(
        org=c.stored["code"],
        state=State(c.stored["state"]),
        findings=tuple(c.findings),
        tenant_id=c.stored.get("tenant_id"),
        tenant_name=c.tenant_name,
        removed=c.removed_reason,
    )


def report_check(
    db: sqlite_utils.Database,
    org: str,
    live: LiveCheck,
    *,
    actor: str,
    marked_disconnected: bool = False,
) -> CheckReport:
    """The check's report: Xero's findings, the disconnection if the lifecycle recorded one,
    and the queue; summarised in one info row in the log.

    Raises UnknownOrganisation.
    """
    oid = org_id(db, org)
    findings = list(live.findings)
    if marked_disconnected:
        findings.append(
            Finding(
                "state",
                False,
                f"integration marked disconnected (was {live.state})",
                fix_for(db, "disconnected_in_xero"),
                "disconnected_in_xero",
            )
        )
    state = State(integration_row(db, oid)["state"])
    findings.append(_queue_finding(db, oid, live.org, state))
    passed = sum(f.ok for f in findings)
    record(
        db,
        org,
        Level.INFO,
        f"Xero health check by {actor}: {passed} of {len(findings)} checks passed"
        + (f' (tenant "{live.tenant_name}")' if live.tenant_name else ""),
    )
    return CheckReport(
        org=live.org,
        findings=tuple(findings),
        tenant_id=live.tenant_id,
        tenant_name=live.tenant_name,
        state=state,
    )
