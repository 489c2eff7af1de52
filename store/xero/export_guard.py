"""What keeps a retry from duplicating documents or spending a tenant's last calls.

- `day_budget_stop`: Xero allows a tenant 5,000 calls a day and says how many are left in
  X-DayLimit-Remaining; a retry stops before the last 10 % (other integrations and the
  customer's own apps need them too).
- `already_in_xero`: after a lost answer the document may be in Xero already: Xero says
  "Invoice # must be unique" for a sales invoice, and takes a bill twice. Looked up by number,
  a document that matches what syncdesk would send (type, number, contact, subtotal, not
  deleted or voided) is the one sent before, so the queue row is marked exported.
"""

from __future__ import annotations

from typing import Any

from store.xero.client import XeroClient

DAY_LIMIT = 5000
DAY_RESERVE = 0.10  # the share of a tenant's daily calls a retry leaves alone
UNIQUE = "must be unique"


def day_budget_stop(xero: XeroClient, tenant_id: str | None, code: str) -> str | None:
    """Why the retry must stop now, or None: the tenant's daily calls are nearly spent."""
    left = xero.day_remaining.get(tenant_id or "")
    if left is None or left >= DAY_LIMIT * DAY_RESERVE:
        return None
    return (
        f"Stopped before spending the last 10 % of {code}'s daily Xero calls (Xero says "
        f"{left} of {DAY_LIMIT:,} are left, X-DayLimit-Remaining); the rest waits: retry "
        "after midnight UTC, when Xero resets the count."
    )


def _number(document: dict[str, Any]) -> str | None:
    return document.get("InvoiceNumber") or document.get("CreditNoteNumber")


def _subtotal(document: dict[str, Any]) -> float:
    return round(
        sum(
            float(line.get("Quantity") or 1) * float(line.get("UnitAmount") or 0)
            for line in document.get("LineItems") or []
        ),
        2,
    )


def _same(found: dict[str, Any], document: dict[str, Any]) -> bool:
    if str(found.get("Status") or "").upper() in ("DELETED", "VOIDED"):
        return False
    if found.get("Type") != document.get("Type") or _number(found) != _number(document):
        return False
    name = (document.get("Contact") or {}).get("Name")
    if name and (found.get("Contact") or {}).get("Name") not in (None, name):
        return False
    subtotal = found.get("SubTotal")
    try:
        return subtotal is None or abs(float(subtotal) - _subtotal(document)) < 0.005
    except (TypeError, ValueError):
        return False


def worth_looking(resource: str, document: dict[str, Any], *, resent: bool, said: str) -> bool:
    """Whether to look the document up before (a bill sent before) or after (Xero said
    "must be unique") sending it."""
    if resource not in ("Invoices", "CreditNotes") or not _number(document):
        return False
    return UNIQUE in said or (resent and document.get("Type") == "ACCPAY")


def already_in_xero(
    xero: XeroClient, token: str, tenant_id: str, resource: str, document: dict[str, Any]
) -> dict[str, Any] | None:
    """The document in Xero that is the one syncdesk would send, or None."""
    number = _number(document)
    if not number:
        return None
    found = xero.find_documents(token, tenant_id, resource, number)
    return next((f for f in found if _same(f, document)), None)
