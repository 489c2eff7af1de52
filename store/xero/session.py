"""Organisation-level Xero work: live tokens, health checks, mapping validation, retry, revoke.

Every function takes the store and an organisation code, finds the stored credentials and
tenant, and talks to Xero through a XeroClient (the embedded sandbox unless client credentials
are configured; see client_from_env). Each failed Xero call becomes one error row in the
connection log in the wording the knowledge base recognises, with Xero's correlation id;
successful work is summarised in one info row per operation (not one per GET).

No function here calls Xero while holding a write transaction: the sandbox writes to the same
file from its own connection.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlite_utils

from store import clock
from store.db import QUEUE_STATUSES, transaction
from store.errors import (
    RetryRefused,
    TransitionRefused,
    XeroAuthExpired,
    XeroBadResponse,
    XeroConnectionRemoved,
    XeroConsentRequired,
    XeroError,
    XeroInvalidGrant,
    XeroNotFound,
    XeroServerError,
    XeroTimeout,
    XeroValidation,
)
from store.kb import knowledge_by_kind
from store.logs import record
from store.orgs import org_id
from store.timeparse import iso
from store.xero.client import XeroClient, client_from_env
from store.xero.models import (
    Account,
    CheckReport,
    Connection,
    Finding,
    MappingProblem,
    RetryReport,
    TaxRate,
)
from store.xero.sandbox import SANDBOX_REDIRECT

T = TypeVar("T")

REFRESH_LIFETIME = timedelta(days=60)  # an unused Xero refresh token dies after 60 days
EARLY_REFRESH = timedelta(seconds=60)  # refresh a little before the access token runs out
CHECK_MAX_WAIT = 5.0  # a check reports a long Retry-After instead of sleeping through it
STOP_AFTER_SERVER_ERRORS = 3  # consecutive 5xx/timeouts before a retry gives up

# Which Xero account types each account mapping may point at.
ACCOUNT_TYPES: dict[str, tuple[str, ...]] = {
    "sales_account": ("REVENUE", "SALES"),
    "cogs_account": ("DIRECTCOSTS",),
    "inventory_account": ("CURRENT", "INVENTORY"),
    "purchase_account": ("EXPENSE", "DIRECTCOSTS", "OVERHEADS"),
    "freight_account": ("REVENUE", "SALES", "OTHERINCOME", "DIRECTCOSTS", "EXPENSE"),
    "adjustment_account": ("DIRECTCOSTS", "EXPENSE", "OVERHEADS"),
    "payment_account": ("BANK",),
}
TAX_KINDS = ("tax_rate",)
DOC_LABELS = {
    "sales_invoice": "Sales Invoice",
    "credit_note": "Credit Note",
    "bill": "Purchase Order",
    "sales_journal": "Sales Journal",
    "supplier_return": "Supplier Return",
}
_EXPORTED = {
    "sales_invoice": "Exported Sales Invoice {n} to Xero (InvoiceID {id})",
    "credit_note": "Exported Credit Note {n} to Xero (CreditNoteID {id})",
    "bill": "Exported Bill for Purchase Order {n} to Xero (InvoiceID {id})",
    "sales_journal": "Exported Sales Journal {n} to Xero",
    "supplier_return": "Exported Supplier Return {n} to Xero (CreditNoteID {id})",
}

_refresh_locks: dict[int, threading.Lock] = {}
_refresh_locks_guard = threading.Lock()


def _now() -> datetime:
    return clock.now()


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else None


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{round(seconds / size)} {unit}"
    return f"{seconds} s"


@contextmanager
def _session(db: sqlite_utils.Database, client: XeroClient | None) -> Iterator[XeroClient]:
    """The caller's client, or one from the environment that is closed afterwards."""
    if client is not None:
        yield client
        return
    own = client_from_env(db)
    try:
        yield own
    finally:
        own.close()


def _log_error(
    db: sqlite_utils.Database, org: str, exc: XeroError, *, document: str | None = None
) -> None:
    """One error row per failure, however many layers see it go by."""
    if getattr(exc, "logged", False):
        return
    record(db, org, "error", exc.log_message, document=document, correlation_id=exc.correlation_id)
    exc.logged = True  # type: ignore[attr-defined]


def _fix(db: sqlite_utils.Database, kind: str | None) -> str | None:
    entry = knowledge_by_kind(db).get(kind or "")
    return entry.fix if entry else None


def _integration(db: sqlite_utils.Database, oid: int) -> dict[str, Any]:
    row = db.execute(
        "SELECT i.*, o.code, c.access_token, c.refresh_token FROM integrations i "
        "JOIN orgs o ON o.id = i.org_id LEFT JOIN credentials c ON c.org_id = i.org_id "
        "WHERE i.org_id = ?",
        [oid],
    ).fetchone()
    return dict(row) if row is not None else {}


def _queue_counts(db: sqlite_utils.Database, oid: int) -> dict[str, int]:
    counts = dict.fromkeys(QUEUE_STATUSES, 0)
    counts.update(
        db.execute(
            "SELECT status, count(*) FROM queue WHERE org_id = ? GROUP BY status", [oid]
        ).fetchall()
    )
    return counts


# --- tokens --------------------------------------------------------------------------------------


def _refresh_lock(oid: int) -> threading.Lock:
    with _refresh_locks_guard:
        return _refresh_locks.setdefault(oid, threading.Lock())


def _store_tokens(db: sqlite_utils.Database, oid: int, tokens: Any) -> None:
    """Keep the rotated refresh token and the new access token, both or neither."""
    now = _now()
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO credentials(org_id, access_token, refresh_token) VALUES (?, ?, ?) "
            "ON CONFLICT(org_id) DO UPDATE SET access_token = excluded.access_token, "
            "refresh_token = excluded.refresh_token",
            [oid, tokens.access_token, tokens.refresh_token],
        )
        conn.execute(
            "UPDATE integrations SET token_expires_at = ?, refresh_expires_at = ?, "
            "scopes = coalesce(?, scopes) WHERE org_id = ?",
            [
                iso(now + timedelta(seconds=tokens.expires_in)),
                iso(now + REFRESH_LIFETIME),
                tokens.scope,
                oid,
            ],
        )


def ensure_token(
    db: sqlite_utils.Database, org: str, client: XeroClient, *, force: bool = False
) -> str:
    """A live access token for org, refreshing (and storing the rotated tokens) when needed.

    `force` refreshes even a live token (a check proves the refresh token still works).
    Raises UnknownOrganisation, XeroInvalidGrant (nothing stored, or Xero refused: reconnect),
    and the client's other XeroErrors.
    """
    oid = org_id(db, org)
    with _refresh_lock(oid):
        stored = _integration(db, oid)
        refresh_token = stored.get("refresh_token")
        if not refresh_token:
            raise XeroInvalidGrant(
                f"{stored.get('code', org)} has no stored Xero authorisation; reconnect the "
                "integration.",
                log_message="Token refresh failed: invalid_grant (no refresh token stored)",
            )
        expires = _parse(stored.get("token_expires_at"))
        access = stored.get("access_token")
        if not force and access and expires and expires - EARLY_REFRESH > _now():
            return access
        try:
            tokens = client.refresh(refresh_token)
        except XeroInvalidGrant as exc:
            # Another process may have rotated the token while we asked with the old one.
            latest = _integration(db, oid).get("refresh_token")
            if not latest or latest == refresh_token:
                _log_error(db, org, exc)
                raise
            try:
                tokens = client.refresh(latest)
            except XeroError as again:
                _log_error(db, org, again)
                raise again from exc
        except XeroError as exc:
            _log_error(db, org, exc)
            raise
        _store_tokens(db, oid, tokens)
        return tokens.access_token


def _with_token(
    db: sqlite_utils.Database,
    org: str,
    client: XeroClient,
    call: Callable[[str], T],
    *,
    log: bool = True,
) -> T:
    """Run call(access_token); one forced refresh and retry if Xero says 401 anyway."""
    token = ensure_token(db, org, client)
    try:
        try:
            return call(token)
        except XeroAuthExpired:
            return call(ensure_token(db, org, client, force=True))
    except XeroError as exc:
        if log:
            _log_error(db, org, exc)
        raise


# --- the disconnected transition --------------------------------------------------------------


def _mark_disconnected(db: sqlite_utils.Database, org: str, *, actor: str, reason: str) -> bool:
    """active|inactive -> disconnected through the lifecycle; False when it does not apply."""
    from store.transitions import mark_disconnected  # transitions imports this module

    try:
        mark_disconnected(db, org, actor=actor, reason=reason)
    except TransitionRefused:  # already disconnected or uninstalled, or changed meanwhile
        return False
    return True


# --- mappings ------------------------------------------------------------------------------------


def _mappings(db: sqlite_utils.Database, oid: int) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in db.execute(
            "SELECT kind, local, remote FROM mappings WHERE org_id = ? ORDER BY kind, local", [oid]
        ).fetchall()
    ]


def _is_purchase(local: str) -> bool:
    return "purchase" in local.lower()


def validate_mappings(
    db: sqlite_utils.Database, org: str, accounts: list[Account], tax_rates: list[TaxRate]
) -> list[MappingProblem]:
    """Every account and tax mapping of org that the given chart cannot honour.

    Raises UnknownOrganisation.
    """
    problems = (
        check_mapping(kind, local, remote, accounts, tax_rates)
        for kind, local, remote in _mappings(db, org_id(db, org))
    )
    return [p for p in problems if p is not None]


def check_mapping(
    kind: str, local: str, remote: str, accounts: list[Account], tax_rates: list[TaxRate]
) -> MappingProblem | None:
    """What is wrong with one mapping against a tenant's chart, or None if it is fine.

    Account mappings must name an ACTIVE, non-system account of a type that fits the mapping
    kind (ACCOUNT_TYPES); tax mappings an ACTIVE rate usable on sales (or, for a local tax
    named as a purchase tax, on purchases). Other kinds are not checked. The problem suggests
    the codes that would do.
    """
    if kind in TAX_KINDS:
        problem = _tax_problem({t.tax_type: t for t in tax_rates}.get(remote), remote, local)
        if not problem:
            return None
        purchase = _is_purchase(local)
        good = tuple(
            t.tax_type
            for t in tax_rates
            if t.status == "ACTIVE"
            and (t.can_apply_to_expenses if purchase else t.can_apply_to_revenue)
        )
        return MappingProblem(kind, local, remote, problem, good)
    if kind.endswith("_account"):
        allowed = ACCOUNT_TYPES.get(kind)
        by_code = {a.code: a for a in accounts if a.code}
        problem = _account_problem(by_code.get(remote), remote, kind, allowed)
        if not problem:
            return None
        good = tuple(
            sorted(
                a.code
                for a in accounts
                if a.code
                and a.status == "ACTIVE"
                and not a.system_account
                and (allowed is None or a.type in allowed)
            )
        )
        return MappingProblem(kind, local, remote, problem, good)
    return None


def _account_problem(
    account: Account | None, code: str, kind: str, allowed: tuple[str, ...] | None
) -> str | None:
    if account is None:
        return f"account {code} does not exist in Xero (deleted or recoded)"
    if account.status != "ACTIVE":
        return f"account {code} ({account.name}) is {account.status} in Xero"
    if account.system_account:
        return (
            f"account {code} ({account.name}) is a Xero system account "
            f"({account.system_account}) and cannot be mapped"
        )
    if allowed and account.type not in allowed:
        if kind == "payment_account" and account.enable_payments:
            return None
        return (
            f"account {code} ({account.name}) is {account.type}; a {kind.replace('_', ' ')} "
            f"must be {' or '.join(allowed)}"
        )
    return None


def _tax_problem(rate: TaxRate | None, tax_type: str, local: str) -> str | None:
    if rate is None:
        return f"tax rate {tax_type} does not exist in Xero"
    if rate.status != "ACTIVE":
        return f"tax rate {tax_type} ({rate.name}) is {rate.status} in Xero"
    if _is_purchase(local) and not rate.can_apply_to_expenses:
        return f"tax rate {tax_type} ({rate.name}) cannot be used on purchases"
    if not _is_purchase(local) and not rate.can_apply_to_revenue:
        return f"tax rate {tax_type} ({rate.name}) cannot be used on sales"
    return None


def _problem_kind(problem: MappingProblem) -> str:
    """The knowledge-base kind of error a mapping problem causes on export."""
    if problem.kind in TAX_KINDS:
        return "tax_type_invalid"
    return (
        "account_code_removed" if "does not exist" in problem.problem else ("account_code_invalid")
    )


def _problem_fix(db: sqlite_utils.Database, problem: MappingProblem) -> str | None:
    return _fix(db, _problem_kind(problem))


def tenant_chart(
    db: sqlite_utils.Database, org: str, tenant_id: str, *, client: XeroClient | None = None
) -> tuple[list[Account], list[TaxRate]]:
    """The chart of accounts and tax rates of one of org's authorised tenants.

    Raises UnknownOrganisation and XeroError (logged).
    """
    with _session(db, client) as xero:
        accounts = _with_token(db, org, xero, lambda t: xero.accounts(t, tenant_id))
        rates = _with_token(db, org, xero, lambda t: xero.tax_rates(t, tenant_id))
    return accounts, rates


# --- check ---------------------------------------------------------------------------------------


class _Check:
    """Collects findings for one organisation."""

    def __init__(self, db: sqlite_utils.Database, org: str, actor: str) -> None:
        self.db = db
        self.org = org
        self.actor = actor
        self.oid = org_id(db, org)
        self.stored = _integration(db, self.oid)
        self.findings: list[Finding] = []
        self.tenant_name: str | None = self.stored.get("tenant_name")

    def add(
        self, check: str, ok: bool, detail: str, fix: str | None = None, kind: str | None = None
    ) -> None:
        self.findings.append(Finding(check, ok, detail, None if ok else fix, None if ok else kind))

    def failed_call(self, exc: XeroError) -> None:
        _log_error(self.db, self.org, exc)
        self.add("xero", False, str(exc), _fix(self.db, exc.kind), kind=exc.kind)

    def removed(self, detail: str) -> None:
        self.add(
            "connection",
            False,
            detail,
            _fix(self.db, "connection_removed"),
            kind="connection_removed",
        )
        if _mark_disconnected(self.db, self.org, actor=self.actor, reason=f"check: {detail}"):
            self.add(
                "state",
                False,
                f"integration marked disconnected (was {self.stored['state']})",
                _fix(self.db, "disconnected_in_xero"),
                kind="disconnected_in_xero",
            )


def _state_finding(c: _Check) -> None:
    state = c.stored["state"]
    if state == "active":
        c.add("state", True, "integration is active")
    elif state == "inactive":
        c.add(
            "state",
            False,
            "integration is inactive: exports wait in the queue",
            _fix(c.db, "integration_deactivated"),
            kind="integration_deactivated",
        )
    elif state == "disconnected":
        c.add(
            "state",
            False,
            "integration is disconnected: the app was removed from within Xero",
            _fix(c.db, "disconnected_in_xero"),
            kind="disconnected_in_xero",
        )
    else:
        c.add(
            "state",
            False,
            "integration is uninstalled: there is no Xero connection to check",
            "Reconnect the integration, restoring the settings and mappings from a snapshot.",
        )


def _token_finding(c: _Check, xero: XeroClient) -> str | None:
    expires = _parse(c.stored.get("token_expires_at"))
    before = (
        "no access token stored"
        if expires is None
        else f"access token expired {_span(_now() - expires)} ago"
        if expires <= _now()
        else f"access token valid for {_span(expires - _now())}"
    )
    try:
        token = ensure_token(c.db, c.org, xero, force=True)
    except XeroError as exc:
        c.add("token", False, f"{before}; {exc}", _fix(c.db, exc.kind), kind=exc.kind)
        return None
    renewed = _parse(_integration(c.db, c.oid).get("token_expires_at"))
    after = f" (new access token valid for {_span(renewed - _now())})" if renewed else ""
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
        c.add(
            "tenant",
            False,
            f'the connection now points at "{mine.tenant_name}" ({mine.tenant_id}), not the '
            f'stored "{c.tenant_name}" ({tenant_id})',
            _fix(c.db, "tenant_changed"),
            kind="tenant_changed",
        )
        return None
    return mine


def _tenant_finding(c: _Check, xero: XeroClient, token: str, tenant_id: str) -> bool:
    try:
        organisation = _with_token(
            c.db, c.org, xero, lambda t: xero.organisation(t, tenant_id), log=False
        )
    except XeroConnectionRemoved as exc:
        _log_error(c.db, c.org, exc)
        c.removed(str(exc))
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
        c.add(
            "tenant",
            False,
            f"{detail}: a Xero demo company, not the customer's own organisation",
            _fix(c.db, "tenant_changed"),
            kind="tenant_changed",
        )
    else:
        c.add("tenant", True, detail)
    return True


def _mapping_findings(c: _Check, xero: XeroClient, tenant_id: str) -> None:
    try:
        accounts = _with_token(c.db, c.org, xero, lambda t: xero.accounts(t, tenant_id), log=False)
        rates = _with_token(c.db, c.org, xero, lambda t: xero.tax_rates(t, tenant_id), log=False)
    except XeroError as exc:
        c.failed_call(exc)
        return
    problems = validate_mappings(c.db, c.org, accounts, rates)
    for p in problems:
        hint = f"; usable instead: {', '.join(p.suggestions[:8])}" if p.suggestions else ""
        c.add(
            "mapping",
            False,
            f"{p.kind} {p.local} → {p.remote}: {p.problem}{hint}",
            _problem_fix(c.db, p),
            kind=_problem_kind(p),
        )
    if not problems:
        checked = [
            m for m in _mappings(c.db, c.oid) if m[0] in TAX_KINDS or m[0].endswith("_account")
        ]
        c.add(
            "mappings",
            True,
            f"all {len(checked)} account and tax mappings exist in Xero and fit their use",
        )


def _queue_finding(c: _Check) -> None:
    counts = _queue_counts(c.db, c.oid)
    failed, held = counts["failed"], counts["held"]
    detail = f"{failed} failed, {held} held, {counts['pending']} pending"
    state = _integration(c.db, c.oid)["state"]
    ok = failed == 0 and (held == 0 or state != "active")
    fix = (
        f"Fix the causes above, then send them again with `syncdesk retry {c.stored['code']}`."
        if failed
        else f"Send them with `syncdesk retry {c.stored['code']}`."
    )
    c.add("queue", ok, detail, fix)


def check(
    db: sqlite_utils.Database, org: str, *, client: XeroClient | None = None, actor: str = "check"
) -> CheckReport:
    """Ask Xero what is true for org: token, connection, tenant, mappings; and the queue.

    A connection that Xero no longer has (missing from /connections, or 403 on the tenant)
    turns an active or inactive integration `disconnected` (audited as `actor`, one
    transaction) with an error row in the log. Xero failures become findings, not exceptions.
    Raises UnknownOrganisation.
    """
    c = _Check(db, org, actor)
    _state_finding(c)
    if c.stored["state"] != "uninstalled":
        with _session(db, client) as xero, xero.patience(max_wait=CHECK_MAX_WAIT, retries=1):
            token = _token_finding(c, xero)
            mine = _connection_finding(c, xero, token) if token else None
            if mine is not None and _tenant_finding(c, xero, token, mine.tenant_id):
                _mapping_findings(c, xero, mine.tenant_id)
    _queue_finding(c)
    report = CheckReport(
        org=c.stored["code"],
        findings=tuple(c.findings),
        tenant_id=c.stored.get("tenant_id"),
        tenant_name=c.tenant_name,
        state=_integration(db, c.oid)["state"],
    )
    passed = sum(f.ok for f in report.findings)
    record(
        db,
        org,
        "info",
        f"Xero health check by {actor}: {passed} of {len(report.findings)} checks passed"
        + (f' (tenant "{c.tenant_name}")' if c.tenant_name else ""),
    )
    return report


# --- revoke and authorise ---------------------------------------------------------------------


def revoke(db: sqlite_utils.Database, org: str, *, client: XeroClient | None = None) -> bool:
    """Remove org's connection in Xero if Xero still has it; True if one was deleted.

    Nothing to delete (connection already gone, 404) is not an error. Raises
    UnknownOrganisation and XeroError (invalid_grant included) for failures that may leave
    the connection in place.
    """
    oid = org_id(db, org)
    stored = _integration(db, oid)
    with _session(db, client) as xero:
        # An invalid grant propagates: the connection may well still be there in Xero, and
        # only someone in Xero can remove it now (the caller says so).
        connections = _with_token(db, org, xero, xero.connections)
        mine = next(
            (
                x
                for x in connections
                if x.id == stored.get("connection_id") or x.tenant_id == stored.get("tenant_id")
            ),
            None,
        )
        if mine is None:
            return False
        try:
            _with_token(db, org, xero, lambda t: xero.delete_connection(t, mine.id), log=False)
        except XeroNotFound:
            return False
        except XeroError as exc:
            _log_error(db, org, exc)
            raise
    record(
        db,
        org,
        "info",
        f'Xero connection removed for tenant "{mine.tenant_name}" ({mine.tenant_id})',
    )
    return True


def authorise(
    db: sqlite_utils.Database, org: str, *, client: XeroClient | None = None
) -> list[Connection]:
    """Authorise the app again for org's Xero user; returns the tenants it can now reach.

    Against the sandbox this plays the consent screen (every tenant of the user connected) and
    exchanges the code; the new tokens are stored. The real API needs a person in a browser:
    raises XeroConsentRequired. Also raises UnknownOrganisation and XeroError.
    """
    oid = org_id(db, org)
    with _session(db, client) as xero:
        sandbox = xero.sandbox
        if sandbox is None:
            raise XeroConsentRequired(
                "Authorising a real Xero organisation needs a person to sign in to Xero in a "
                "browser; open the authorisation link and pass the code it returns to "
                "`syncdesk reconnect --code`."
            )
        code = sandbox.consent(oid, SANDBOX_REDIRECT)
        try:
            tokens = xero.exchange_code(code, SANDBOX_REDIRECT)
            _store_tokens(db, oid, tokens)
            connections = xero.connections(tokens.access_token)
        except XeroError as exc:
            _log_error(db, org, exc)
            raise
    names = ", ".join(f'"{c.tenant_name}"' for c in connections) or "none"
    record(
        db,
        org,
        "info",
        f"Xero authorisation granted for {len(connections)} organisation"
        f"{'s' if len(connections) != 1 else ''}: {names}",
    )
    return connections


# --- retry ---------------------------------------------------------------------------------------


def _split(amount: float, parts: int) -> list[float]:
    share = round(amount / parts, 2)
    return [share] * (parts - 1) + [round(amount - share * (parts - 1), 2)]


def _lines(
    accounts: list[str | None], taxes: list[str], amount: float, number: str
) -> list[dict[str, Any]]:
    """One line per mapped account and tax (cycled), so a document uses every mapping it can."""
    accounts = accounts or [None]
    parts = max(len(accounts), len(taxes), 1)
    lines = []
    for i, share in enumerate(_split(amount, parts)):
        line: dict[str, Any] = {
            "Description": f"{number} line {i + 1}",
            "Quantity": 1.0,
            "UnitAmount": share,
        }
        if accounts[i % len(accounts)]:
            line["AccountCode"] = accounts[i % len(accounts)]
        if taxes:
            line["TaxType"] = taxes[i % len(taxes)]
        lines.append(line)
    return lines


def build_document(
    row: dict[str, Any], mappings: list[tuple[str, str, str]], settings: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The Xero resource and document for one queue row, coded through org's mappings."""
    by_kind: dict[str, list[tuple[str, str]]] = {}
    for kind, local, remote in mappings:
        by_kind.setdefault(kind, []).append((local, remote))

    def default(kind: str) -> str | None:
        return dict(by_kind.get(kind, [])).get("default")

    sales_accounts = [default("sales_account")] + sorted(
        r for loc, r in by_kind.get("sales_account", []) if loc.startswith("group:")
    )
    purchase_accounts = [default("inventory_account")] + sorted(
        r for _, r in by_kind.get("purchase_account", [])
    )
    taxes = by_kind.get("tax_rate", [])
    sales_taxes = [r for loc, r in sorted(taxes) if not _is_purchase(loc)]
    purchase_taxes = [r for loc, r in sorted(taxes) if _is_purchase(loc)]
    number, amount = row["number"], float(row["amount"])
    day = row["created_at"][:10]
    due = (datetime.fromisoformat(day) + timedelta(days=20)).strftime("%Y-%m-%d")
    doc_type = row["doc_type"]
    if doc_type == "sales_journal":
        journal_lines = [
            {"LineAmount": amount, "Description": "Cost of goods sold"},
            {"LineAmount": -amount, "Description": "Stock on hand"},
        ]
        for line, code in zip(
            journal_lines, (default("cogs_account"), default("inventory_account")), strict=True
        ):
            if code:
                line["AccountCode"] = code
        return "ManualJournals", {
            "Narration": f"Sales Journal {number}",
            "Date": day,
            "Status": "POSTED",
            "LineAmountTypes": "NoTax",
            "JournalLines": journal_lines,
        }
    sales = doc_type in ("sales_invoice", "credit_note")
    document: dict[str, Any] = {
        "Contact": {"Name": row.get("contact") or "Unknown contact"},
        "Date": day,
        "LineAmountTypes": "Exclusive",
        "Reference": number,
        "CurrencyCode": row["currency"],
        "Status": str(settings.get("invoice_status" if sales else "bill_status", "DRAFT")),
        "LineItems": _lines(
            sales_accounts if sales else purchase_accounts,
            sales_taxes if sales else purchase_taxes,
            amount,
            number,
        ),
    }
    if doc_type in ("sales_invoice", "bill"):
        document.update(Type="ACCREC" if sales else "ACCPAY", InvoiceNumber=number, DueDate=due)
        return "Invoices", document
    document.update(Type="ACCRECCREDIT" if sales else "ACCPAYCREDIT", CreditNoteNumber=number)
    return "CreditNotes", document


def _send_document(
    xero: XeroClient, token: str, tenant_id: str, resource: str, document: dict[str, Any]
) -> dict[str, Any]:
    create = {
        "Invoices": xero.create_invoice,
        "CreditNotes": xero.create_credit_note,
        "ManualJournals": xero.create_manual_journal,
    }[resource]
    return create(token, tenant_id, document)


def _outcome(
    db: sqlite_utils.Database, oid: int, row_id: int, status: str, error: str | None
) -> None:
    stamp = iso(_now())
    with transaction(db) as conn:
        conn.execute(
            "UPDATE queue SET status = ?, attempts = attempts + 1, last_error = ?, "
            "updated_at = ?, exported_at = ? WHERE id = ?",
            [status, error, stamp, stamp if status == "exported" else None, row_id],
        )
        if status == "exported":
            conn.execute(
                "UPDATE integrations SET last_export_at = ? WHERE org_id = ?", [stamp, oid]
            )


def retry(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: XeroClient | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    actor: str | None = None,
) -> RetryReport:
    """Send org's held and failed exports to Xero again and record each outcome.

    Each document ends `exported` or `failed` (attempts + 1, Xero's message in last_error and
    in the log). Authorisation and connection problems, long rate limits, Xero outages and
    repeated server errors stop the run early: the report's stopped_reason says why, and the
    rows not sent stay as they were. Raises UnknownOrganisation, RetryRefused (not active).
    """
    oid = org_id(db, org)
    stored = _integration(db, oid)
    if stored["state"] != "active":
        raise RetryRefused(
            f"{stored['code']} is {stored['state']}: exports are only sent for an active "
            "integration; activate or reconnect it first."
        )
    if (
        stored["previous_tenant_id"]
        and stored["tenant_id"] != stored["previous_tenant_id"]
        and not stored["tenant_confirmed_by"]
    ):
        # Exporting into a Xero organisation nobody confirmed is how books get corrupted.
        raise RetryRefused(
            f"{stored['code']} is connected to {stored['tenant_name']!r}, not its previous Xero "
            f"organisation {stored['previous_tenant_name']!r}, and nobody confirmed the change; "
            "nothing is sent. Reconnect to the right organisation (uninstall, then reconnect; "
            "--accept-new-tenant records the confirmation)."
        )
    before = _queue_counts(db, oid)
    rows = [
        dict(r)
        for r in db.execute(
            "SELECT * FROM queue WHERE org_id = ? AND status IN ('held', 'failed') ORDER BY id",
            [oid],
        ).fetchall()
    ]
    mappings = _mappings(db, oid)
    settings = {
        r[0]: json.loads(r[1])
        for r in db.execute("SELECT key, value FROM settings WHERE org_id = ?", [oid]).fetchall()
    }
    tenant_id = stored.get("tenant_id")
    sent = exported = failed = streak = 0
    failures: list[tuple[str, str]] = []
    stop: XeroError | None = None
    stopped: str | None = None
    with _session(db, client) as xero:
        for done, row in enumerate(rows):
            if cancelled is not None and cancelled():
                stopped = f"Cancelled after {done} of {len(rows)} documents."
                break
            resource, document = build_document(row, mappings, settings)
            label = f"{DOC_LABELS.get(row['doc_type'], row['doc_type'])} {row['number']}"
            sent += 1
            try:
                created = _with_token(
                    db,
                    org,
                    xero,
                    lambda t, r=resource, d=document: _send_document(xero, t, tenant_id, r, d),
                    log=False,
                )
            except XeroValidation as exc:
                error, message = exc, " ".join(exc.messages) or str(exc)
                streak = 0
            except (XeroServerError, XeroTimeout, XeroBadResponse, XeroNotFound) as exc:
                if isinstance(exc, XeroServerError) and exc.status == 503:
                    stop, sent = exc, sent - 1
                    break
                error, message = exc, exc.log_message
                streak += 1
            except XeroError as exc:
                stop, sent = exc, sent - 1
                break
            else:
                streak = 0
                exported += 1
                new_id = next(
                    (
                        created.get(k)
                        for k in ("InvoiceID", "CreditNoteID", "ManualJournalID")
                        if created.get(k)
                    ),
                    "",
                )
                _outcome(db, oid, row["id"], "exported", None)
                text = _EXPORTED.get(row["doc_type"], "Exported {n} to Xero").format(
                    n=row["number"], id=new_id
                )
                record(db, org, "info", text, document=row["number"])
                if progress is not None:
                    progress(done + 1, len(rows))
                continue
            failed += 1
            failures.append((row["number"], message))
            _outcome(db, oid, row["id"], "failed", message)
            record(
                db,
                org,
                "error",
                f"{label} failed: {message}",
                document=row["number"],
                correlation_id=error.correlation_id,
            )
            if progress is not None:
                progress(done + 1, len(rows))
            if streak >= STOP_AFTER_SERVER_ERRORS:
                stopped = (
                    f"Stopped after {streak} server errors in a row; Xero seems to be "
                    "struggling, try again later."
                )
                break
    if stop is not None:
        _log_error(db, org, stop)
        if isinstance(stop, XeroConnectionRemoved):
            _mark_disconnected(db, org, actor=actor or "retry", reason=f"retry: {stop}")
        stopped = str(stop)
    after = _queue_counts(db, oid)
    record(
        db,
        org,
        "info",
        f"Retry{f' by {actor}' if actor else ''}: {sent} of {len(rows)} held or failed exports "
        f"sent, {exported} exported, {failed} failed" + ("; stopped early" if stopped else ""),
    )
    return RetryReport(
        org=stored["code"],
        before=before,
        after=after,
        sent=sent,
        exported=exported,
        failed=failed,
        stopped_reason=stopped,
        stopped_kind=stop.kind if stop is not None else None,
        failures=tuple(failures),
    )
