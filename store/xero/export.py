"""Sending an organisation's held and failed exports to Xero again: each queue row becomes a
Xero document coded through the organisation's mappings, and each outcome is recorded.

`send_held` reports a connection Xero no longer has as `RetrySent.removed`: store/checks.py
records the `disconnected` transition, then `report_retry` writes the summary row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from store import clock
from store.badvalues import load_settings
from store.db import transaction
from store.enums import Level, QueueStatus, State
from store.errors import (
    RetryRefused,
    XeroBadResponse,
    XeroConnectionRemoved,
    XeroError,
    XeroNotFound,
    XeroServerError,
    XeroTimeout,
    XeroValidation,
)
from store.logs import record
from store.orgs import org_id
from store.progress import Cancelled, Progress
from store.timeparse import iso
from store.xero.client import XeroClient
from store.xero.common import integration_row, log_error, queue_counts, session
from store.xero.export_guard import already_in_xero, day_budget_stop, worth_looking
from store.xero.mappings import is_purchase, stored_mappings
from store.xero.models import RetryReport, RetrySent
from store.xero.tokens import with_token

if TYPE_CHECKING:
    import sqlite_utils

STOP_AFTER_SERVER_ERRORS = 3  # consecutive 5xx/timeouts before a retry gives up
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
    sales_taxes = [r for loc, r in sorted(taxes) if not is_purchase(loc)]
    purchase_taxes = [r for loc, r in sorted(taxes) if is_purchase(loc)]
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
    db: sqlite_utils.Database, oid: int, row_id: int, status: QueueStatus, error: str | None
) -> None:
    stamp = iso(clock.now())
    with transaction(db) as conn:
        conn.execute(
            "UPDATE queue SET status = ?, attempts = attempts + 1, last_error = ?, "
            "updated_at = ?, exported_at = ? WHERE id = ?",
            [status, error, stamp, stamp if status == QueueStatus.EXPORTED else None, row_id],
        )
        if status == QueueStatus.EXPORTED:
            conn.execute(
                "UPDATE integrations SET last_export_at = ? WHERE org_id = ?", [stamp, oid]
            )


def _refuse_unless_sendable(stored: dict[str, Any]) -> None:
    if stored["state"] != State.ACTIVE:
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


def _held_rows(db: sqlite_utils.Database, oid: int) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in db.execute(
            "SELECT * FROM queue WHERE org_id = ? AND status IN ('held', 'failed') ORDER BY id",
            [oid],
        ).fetchall()
    ]


def _settings(db: sqlite_utils.Database, oid: int, code: str) -> dict[str, Any]:
    """Every setting, for building documents; raises StoreBadValue for one that is not JSON."""
    rows = db.execute("SELECT key, value FROM settings WHERE org_id = ?", [oid]).fetchall()
    return load_settings(rows, strict_for=code)


def _exported(
    db: sqlite_utils.Database, org: str, oid: int, row: dict[str, Any], created: dict[str, Any]
) -> None:
    """Mark the row exported and log it with the id Xero gave the document."""
    new_id = next(
        (
            created.get(k)
            for k in ("InvoiceID", "CreditNoteID", "ManualJournalID")
            if created.get(k)
        ),
        "",
    )
    _outcome(db, oid, row["id"], QueueStatus.EXPORTED, None)
    text = _EXPORTED.get(row["doc_type"], "Exported {n} to Xero").format(n=row["number"], id=new_id)
    record(db, org, Level.INFO, text, document=row["number"])


def _failed(
    db: sqlite_utils.Database,
    org: str,
    oid: int,
    row: dict[str, Any],
    error: XeroError,
    message: str,
) -> None:
    """Mark the row failed with Xero's message, and log it with Xero's correlation id."""
    label = f"{DOC_LABELS.get(row['doc_type'], row['doc_type'])} {row['number']}"
    _outcome(db, oid, row["id"], QueueStatus.FAILED, message)
    record(
        db,
        org,
        Level.ERROR,
        f"{label} failed: {message}",
        document=row["number"],
        correlation_id=error.correlation_id,
    )


def _found_before(
    db: sqlite_utils.Database,
    org: str,
    oid: int,
    xero: XeroClient,
    tenant_id: str,
    row: dict[str, Any],
    resource: str,
    document: dict[str, Any],
    said: str,
) -> bool:
    """Mark the row exported when the document is in Xero already (export_guard)."""
    if not worth_looking(resource, document, resent=bool(row["attempts"]), said=said):
        return False
    try:
        found = with_token(
            db, org, xero, lambda t: already_in_xero(xero, t, tenant_id, resource, document)
        )
    except XeroError:
        return False  # could not look: send (or report) as usual
    if found is None:
        return False
    _exported(db, org, oid, row, found)
    record(
        db,
        org,
        Level.INFO,
        f"{DOC_LABELS.get(row['doc_type'], row['doc_type'])} {row['number']} was already in "
        "Xero (sent before, its answer lost): marked exported, not sent again",
        document=row["number"],
    )
    return True


def send_held(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: XeroClient | None = None,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> RetrySent:
    """Send org's held and failed exports to Xero again and record each outcome.

    Each document ends `exported` or `failed` (attempts + 1, Xero's message in last_error and
    in the log). Authorisation and connection problems, long rate limits, Xero outages and
    repeated server errors stop the run early: the result's stopped_reason says why, and the
    rows not sent stay as they were. A connection Xero no longer has is the result's `removed`
    reason; nothing here changes the integration's state. `progress` hears of each document
    before it is sent, `cancelled` stops between documents (store/progress.py).
    Raises UnknownOrganisation, RetryRefused (not active, or an unconfirmed tenant change).
    """
    oid = org_id(db, org)
    stored = integration_row(db, oid)
    _refuse_unless_sendable(stored)
    before = queue_counts(db, oid)
    rows = _held_rows(db, oid)
    mappings = stored_mappings(db, oid)
    settings = _settings(db, oid, stored.get("code") or org)
    tenant_id = stored.get("tenant_id")
    sent = exported = failed = streak = 0
    failures: list[tuple[str, str]] = []
    stop: XeroError | None = None
    stopped: str | None = None
    with session(db, client) as xero:
        for done, row in enumerate(rows):
            if cancelled is not None and cancelled():
                stopped = (
                    f"Cancelled after {done} of {len(rows)} documents; "
                    f"{len(rows) - done} not sent, still waiting in the queue."
                )
                break
            halt = day_budget_stop(xero, tenant_id, stored["code"])
            if halt:
                stopped = halt
                break
            if progress is not None:
                progress(done, len(rows), f"sending {row['number']}")
            resource, document = build_document(row, mappings, settings)
            if row["attempts"] and _found_before(
                db, org, oid, xero, tenant_id, row, resource, document, ""
            ):
                exported += 1
                continue
            sent += 1
            try:
                created = with_token(
                    db,
                    org,
                    xero,
                    lambda t, r=resource, d=document: _send_document(xero, t, tenant_id, r, d),
                    log=False,
                )
            except XeroValidation as exc:
                error, message = exc, " ".join(exc.messages) or str(exc)
                streak = 0
                if _found_before(db, org, oid, xero, tenant_id, row, resource, document, message):
                    exported += 1  # sent before, its answer lost: it is in Xero
                    continue
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
                _exported(db, org, oid, row, created)
                continue
            failed += 1
            failures.append((row["number"], message))
            _failed(db, org, oid, row, error, message)
            if streak >= STOP_AFTER_SERVER_ERRORS:
                stopped = (
                    f"Stopped after {streak} server errors in a row; Xero seems to be "
                    "struggling, try again later."
                )
                break
    if progress is not None and rows:
        progress(sent, len(rows), "")  # the end: how many were sent
    if stop is not None:
        log_error(db, org, stop)
        stopped = str(stop)
    return RetrySent(
        org=stored["code"],
        before=before,
        queued=len(rows),
        sent=sent,
        exported=exported,
        failed=failed,
        stopped_reason=stopped,
        stopped_kind=stop.kind if stop is not None else None,
        failures=tuple(failures),
        removed=str(stop) if isinstance(stop, XeroConnectionRemoved) else None,
    )


def report_retry(
    db: sqlite_utils.Database, org: str, sent: RetrySent, *, actor: str | None = None
) -> RetryReport:
    """The retry's report: the queue before and after and what was sent; summarised in one
    info row in the log.

    Raises UnknownOrganisation.
    """
    after = queue_counts(db, org_id(db, org))
    record(
        db,
        org,
        Level.INFO,
        f"Retry{f' by {actor}' if actor else ''}: {sent.sent} of {sent.queued} held or failed "
        f"exports sent, {sent.exported} exported, {sent.failed} failed"
        + ("; stopped early" if sent.stopped_reason else ""),
    )
    return RetryReport(
        org=sent.org,
        before=sent.before,
        after=after,
        sent=sent.sent,
        exported=sent.exported,
        failed=sent.failed,
        stopped_reason=sent.stopped_reason,
        stopped_kind=sent.stopped_kind,
        failures=sent.failures,
    )
