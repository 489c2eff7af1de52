"""The embedded Xero's Accounting API writes: PUT/POST Invoices, CreditNotes and ManualJournals,
validated like Xero does (unknown or archived account code, unusable TaxType, duplicate invoice
number, ...) with the 400 ValidationException body (Elements[].ValidationErrors[].Message) in
Xero's wording.

Created documents are kept in a table of the sandbox's own, sandbox_documents (created by
`create_table`), so invoice numbers stay unique and Idempotency-Key replays return the first
answer.
"""

from __future__ import annotations

import calendar
import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from store.db import transaction
from store.xero.sandbox_common import NS, envelope, iso_time, json_response, msdate

_TABLE_SQL = """
CREATE TABLE IF NOT EXISTS sandbox_documents (
    id INTEGER PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    resource TEXT NOT NULL,       -- Invoices, CreditNotes, ManualJournals
    type TEXT,
    number TEXT,
    document_id TEXT NOT NULL,
    idempotency_key TEXT,
    body TEXT NOT NULL,           -- the created document as Xero returned it
    created_at TEXT NOT NULL
)
"""
_INDEX_SQL = (
    "CREATE INDEX IF NOT EXISTS sandbox_documents_number "
    "ON sandbox_documents(tenant_id, resource, number)"
)


def create_table(conn: sqlite3.Connection) -> None:
    """sandbox_documents and its index, unless they are there already."""
    conn.execute(_TABLE_SQL)
    conn.execute(_INDEX_SQL)


_ID_FIELD = {
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "ManualJournals": "ManualJournalID",
}


def _validation(elements: list[dict[str, Any]]) -> httpx.Response:
    return json_response(
        400,
        {
            "ErrorNumber": 10,
            "Type": "ValidationException",
            "Message": "A validation exception occurred",
            "Elements": elements,
        },
    )


def create(
    conn: sqlite3.Connection,
    tenant: sqlite3.Row,
    request: httpx.Request,
    resource: str,
    clock: Callable[[], float],
) -> httpx.Response:
    """PUT/POST Invoices, CreditNotes or ManualJournals: all documents are created, or none
    (400 ValidationException); a replayed Idempotency-Key gets the first answer again."""
    tenant_id = tenant["tenant_id"]
    key = request.headers.get("Idempotency-Key")
    if key:
        done = conn.execute(
            "SELECT body FROM sandbox_documents WHERE tenant_id = ? AND idempotency_key = ?",
            [tenant_id, key],
        ).fetchone()
        if done is not None:
            return envelope(clock, resource, [json.loads(done["body"])])
    try:
        body = json.loads(request.content or b"null")
    except ValueError:
        return _validation([{"ValidationErrors": [{"Message": "The request is not valid JSON."}]}])
    documents = body.get(resource) if isinstance(body, dict) else None
    if documents is None and isinstance(body, dict) and body:
        documents = [body]  # Xero also takes a single document without the wrapper
    if not isinstance(documents, list) or not documents:
        return _validation(
            [{"ValidationErrors": [{"Message": f"No {resource} were found in the request."}]}]
        )
    accounts = {a["code"]: a for a in json.loads(tenant["accounts"])}
    rates = {t["tax_type"]: t for t in json.loads(tenant["tax_rates"])}
    with transaction(conn):
        failed, created = [], []
        for doc in documents:
            if not isinstance(doc, dict):
                failed.append({"ValidationErrors": [{"Message": "A document must be an object."}]})
                continue
            check = _check_journal if resource == "ManualJournals" else _check_document
            errors = check(conn, tenant, resource, doc, accounts, rates)
            if errors:
                failed.append({**doc, "ValidationErrors": [{"Message": m} for m in errors]})
            else:
                created.append(_created(tenant, resource, doc, rates, clock))
        if failed:
            return _validation(failed)
        now = clock()
        for i, doc in enumerate(created):
            conn.execute(
                "INSERT INTO sandbox_documents(tenant_id, resource, type, number, document_id, "
                "idempotency_key, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    tenant_id,
                    resource,
                    doc.get("Type"),
                    doc.get("InvoiceNumber") or doc.get("CreditNoteNumber"),
                    doc.get(_ID_FIELD[resource]),
                    key if i == 0 else None,
                    json.dumps(doc),
                    iso_time(now),
                ],
            )
    return envelope(clock, resource, created)


def read(
    conn: sqlite3.Connection,
    tenant: sqlite3.Row,
    request: httpx.Request,
    resource: str,
    clock: Callable[[], float],
) -> httpx.Response:
    """GET Invoices (?InvoiceNumbers=a,b) or CreditNotes (?where=CreditNoteNumber=="x"):
    the documents created in this tenant, filtered by number when asked."""
    params = request.url.params
    numbers: set[str] | None = None
    if params.get("InvoiceNumbers"):
        numbers = {n.strip() for n in params["InvoiceNumbers"].split(",") if n.strip()}
    where = params.get("where") or ""
    match = re.fullmatch(r'\s*(?:Invoice|CreditNote)Number\s*==\s*"((?:[^"\\]|\\.)*)"\s*', where)
    if match:
        numbers = {re.sub(r"\\(.)", r"\1", match.group(1))}
    rows = conn.execute(
        "SELECT number, body FROM sandbox_documents WHERE tenant_id = ? AND resource = ? "
        "ORDER BY id",
        [tenant["tenant_id"], resource],
    ).fetchall()
    found = [json.loads(r["body"]) for r in rows if numbers is None or r["number"] in numbers]
    return envelope(clock, resource, found)


def _check_document(
    conn: sqlite3.Connection,
    tenant: sqlite3.Row,
    resource: str,
    doc: dict[str, Any],
    accounts: dict[str, dict[str, Any]],
    rates: dict[str, dict[str, Any]],
) -> list[str]:
    errors: list[str] = []
    kind = doc.get("Type")
    allowed = ("ACCREC", "ACCPAY") if resource == "Invoices" else ("ACCRECCREDIT", "ACCPAYCREDIT")
    if kind not in allowed:
        errors.append(f"The document Type must be one of {', '.join(allowed)}.")
    sales = str(kind).startswith("ACCREC")
    contact = doc.get("Contact") or {}
    if not any(contact.get(k) for k in ("Name", "ContactID", "ContactNumber")):
        errors.append(
            "The Contact must contain at least 1 of the following elements to identify the "
            "contact: Name, ContactID, ContactNumber"
        )
    currency = doc.get("CurrencyCode")
    if currency and currency != tenant["currency"]:
        errors.append(f"Organisation is not subscribed to currency {currency}")
    if (
        kind == "ACCREC"
        and doc.get("Status") in ("SUBMITTED", "AUTHORISED")
        and not doc.get("DueDate")
    ):
        errors.append("The document DueDate field must be specified")
    number = doc.get("InvoiceNumber")
    if kind == "ACCREC" and number:
        taken = conn.execute(
            "SELECT 1 FROM sandbox_documents WHERE tenant_id = ? AND resource = 'Invoices' "
            "AND type = 'ACCREC' AND number = ?",
            [tenant["tenant_id"], number],
        ).fetchone()
        if taken:
            errors.append("Invoice # must be unique.")
    lines = doc.get("LineItems") or []
    if not lines:
        errors.append("At least one line item must be specified.")
    for line in lines:
        errors.extend(e for e in _check_line(line, accounts, rates, sales) if e not in errors)
    return errors


def _check_line(
    line: dict[str, Any],
    accounts: dict[str, dict[str, Any]],
    rates: dict[str, dict[str, Any]],
    sales: bool,
) -> list[str]:
    errors = []
    quantity = line.get("Quantity")
    if isinstance(quantity, int | float) and quantity < 0:
        errors.append(
            f"The quantity value '{quantity:.4f}' is invalid. Quantity must not be less than zero."
        )
    code = line.get("AccountCode")
    account = accounts.get(code) if code else None
    if not code:
        errors.append("Account code or ID must be specified")
    elif (
        account is None
        or account.get("status", "ACTIVE") != "ACTIVE"
        or account.get("system")
        or account.get("type") == "BANK"
    ):
        errors.append(f"Account code '{code}' is not a valid code for this document.")
    tax = line.get("TaxType") or (account or {}).get("tax_type")
    if tax:
        rate = rates.get(tax)
        usable = rate is not None and rate.get("status", "ACTIVE") == "ACTIVE"
        if usable and not rate.get("revenue" if sales else "expenses", True):
            usable = False
        if not usable:
            errors.append(
                f"The TaxType code {tax} does not exist or cannot be used for this type of "
                "transaction."
            )
    return errors


def _check_journal(
    conn: sqlite3.Connection,
    tenant: sqlite3.Row,
    resource: str,
    doc: dict[str, Any],
    accounts: dict[str, dict[str, Any]],
    rates: dict[str, dict[str, Any]],
) -> list[str]:
    errors: list[str] = []
    if not doc.get("Narration"):
        errors.append("Narration must be specified")
    lines = doc.get("JournalLines") or []
    if len(lines) < 2:
        errors.append("At least two journal lines must be specified.")
    debits = credits = 0.0
    for line in lines:
        code = line.get("AccountCode")
        account = accounts.get(code) if code else None
        if not code:
            message = "Account code or ID must be specified"
        elif (
            account is None
            or account.get("status", "ACTIVE") != "ACTIVE"
            or account.get("system")
            or account.get("type") == "INVENTORY"
        ):
            message = f"Account code '{code}' is not a valid code for this document."
        else:
            message = None
        if message and message not in errors:
            errors.append(message)
        amount = float(line.get("LineAmount") or 0)
        debits, credits = (debits + amount, credits) if amount > 0 else (debits, credits + amount)
    if lines and round(debits + credits, 2) != 0:
        errors.append(f"The total debits ({debits:.2f}) must equal total credits ({credits:.2f})")
    return errors


def _created(
    tenant: sqlite3.Row,
    resource: str,
    doc: dict[str, Any],
    rates: dict[str, dict[str, Any]],
    clock: Callable[[], float],
) -> dict[str, Any]:
    now = clock()
    out = dict(doc)
    out[_ID_FIELD[resource]] = str(uuid.uuid4())
    out["UpdatedDateUTC"] = msdate(now)
    for key in ("Date", "DueDate"):  # Xero answers with its own date forms, not as sent
        value = doc.get(key)
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            out[key] = msdate(calendar.timegm(time.strptime(value, "%Y-%m-%d")))
            out[f"{key}String"] = f"{value}T00:00:00"
    if resource == "ManualJournals":
        out.setdefault("Status", "POSTED")
        return out
    exclusive = doc.get("LineAmountTypes", "Exclusive") == "Exclusive"
    subtotal = tax_total = 0.0
    lines = []
    for line in doc.get("LineItems") or []:
        amount = float(
            line.get("LineAmount")
            if line.get("LineAmount") is not None
            else float(line.get("Quantity") or 1) * float(line.get("UnitAmount") or 0)
        )
        rate = float((rates.get(line.get("TaxType") or "") or {}).get("rate", 0.0))
        tax = round(amount * rate / 100 if exclusive else amount - amount / (1 + rate / 100), 2)
        subtotal += amount if exclusive else amount - tax
        tax_total += tax
        lines.append(
            {**line, "LineItemID": str(uuid.uuid4()), "LineAmount": amount, "TaxAmount": tax}
        )
    total = round(subtotal + tax_total, 2)
    out.update(
        {
            "LineItems": lines,
            "LineAmountTypes": doc.get("LineAmountTypes", "Exclusive"),
            "SubTotal": round(subtotal, 2),
            "TotalTax": round(tax_total, 2),
            "Total": total,
            "CurrencyCode": doc.get("CurrencyCode") or tenant["currency"],
            "CurrencyRate": 1.0,
            "Status": doc.get("Status", "DRAFT"),
            "HasErrors": False,
        }
    )
    out["Contact"] = {
        "ContactID": str(
            uuid.uuid5(NS, f"{tenant['tenant_id']}:{(doc.get('Contact') or {}).get('Name')}")
        ),
        **(doc.get("Contact") or {}),
    }
    if resource == "Invoices":
        out.update({"AmountDue": total, "AmountPaid": 0.0, "AmountCredited": 0.0})
    else:
        out.update({"RemainingCredit": total})
    return out
