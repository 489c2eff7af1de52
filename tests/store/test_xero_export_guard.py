"""Exports that never duplicate, and a retry that leaves a tenant's last daily calls alone:
the idempotency key follows the tenant, a document already in Xero after a lost answer is
found by number and marked exported, and X-DayLimit-Remaining stops a retry at 10 %."""

from __future__ import annotations

import json

from store.checks import retry
from store.orgs import org_id
from store.xero.config import client_from_env
from store.xero.export import build_document
from store.xero.mappings import stored_mappings
from store.xero.tokens import ensure_token

NOW_STAMP = "2026-11-24T10:00:00Z"


def _plant(db, code: str, doc_type: str, number: str, amount: float = 100.0) -> dict:
    oid = org_id(db, code)
    db.execute(
        "INSERT INTO queue(org_id, doc_type, number, contact, amount, currency, status, "
        "attempts, last_error, created_at, updated_at) VALUES (?, ?, ?, 'Contact 7', ?, "
        "(SELECT currency FROM sandbox_tenants t JOIN integrations i ON i.tenant_id = "
        "t.tenant_id WHERE i.org_id = ?), 'failed', 1, 'Xero API request timed out', ?, ?)",
        [oid, doc_type, number, amount, oid, NOW_STAMP, NOW_STAMP],
    )
    db.conn.commit()
    row = db.execute("SELECT * FROM queue WHERE number = ?", [number]).fetchone()
    return dict(row)


def _lost_send(db, xero, code: str, row: dict) -> None:
    """The first send reached Xero; its answer never reached syncdesk."""
    oid = org_id(db, code)
    resource, document = build_document(row, stored_mappings(db, oid), {})
    tenant = db.execute("SELECT tenant_id FROM integrations WHERE org_id = ?", [oid]).fetchone()
    token = ensure_token(db, code, xero)
    create = xero.create_invoice if resource == "Invoices" else xero.create_credit_note
    create(token, tenant[0], document, idempotency_key="lost-answer-key")


def _documents(db, number: str) -> int:
    return db.execute(
        "SELECT count(*) FROM sandbox_documents WHERE number = ?", [number]
    ).fetchone()[0]


def _status(db, number: str) -> str:
    return db.execute("SELECT status FROM queue WHERE number = ?", [number]).fetchone()[0]


def test_invoice_already_in_xero_is_marked_exported(db, xero) -> None:
    row = _plant(db, "HARBOUR", "sales_invoice", "SI-LOST-1")
    _lost_send(db, xero, "HARBOUR", row)
    report = retry(db, "HARBOUR", client=xero)
    assert _status(db, "SI-LOST-1") == "exported" and report.failed == 0
    assert _documents(db, "SI-LOST-1") == 1
    said = [r[0] for r in db.execute("SELECT message FROM log WHERE document = 'SI-LOST-1'")]
    assert any("was already in Xero" in m for m in said)


def test_bill_is_looked_up_before_it_is_sent_again(db, xero) -> None:
    row = _plant(db, "HARBOUR", "bill", "PO-LOST-1")
    _lost_send(db, xero, "HARBOUR", row)
    retry(db, "HARBOUR", client=xero)
    assert _status(db, "PO-LOST-1") == "exported"
    assert _documents(db, "PO-LOST-1") == 1  # Xero would have taken the bill twice


def test_a_different_document_with_that_number_stays_failed(db, xero) -> None:
    row = _plant(db, "HARBOUR", "sales_invoice", "SI-TAKEN-1")
    _lost_send(db, xero, "HARBOUR", {**row, "amount": 999.0})  # someone else's invoice
    report = retry(db, "HARBOUR", client=xero)
    assert _status(db, "SI-TAKEN-1") == "failed"
    assert any("must be unique" in message for _, message in report.failures)


def test_idempotency_key_follows_the_tenant(stub_env, db, clock) -> None:
    stub_env.tenants = {"t-1": "One", "t-2": "Two"}
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    token = client.refresh("rt").access_token
    document = {"Type": "ACCREC", "InvoiceNumber": "SI-1", "Contact": {"Name": "A"}}
    client.create_invoice(token, "t-1", dict(document))
    client.create_invoice(token, "t-2", dict(document))
    client.create_invoice(token, "t-1", dict(document))
    keys = [h.get("Idempotency-Key") for m, p, h in stub_env.seen if m == "PUT"]
    assert keys[0] != keys[1] and keys[0] == keys[2]


def test_retry_stops_before_the_last_tenth_of_the_days_calls(stub_env, db, clock) -> None:
    tenant = db.execute(
        "SELECT tenant_id, tenant_name FROM integrations WHERE org_id = ?",
        [org_id(db, "HARBOUR")],
    ).fetchone()
    stub_env.tenants = {tenant[0]: tenant[1]}
    for n in range(3):
        _plant(db, "HARBOUR", "credit_note", f"CN-DAY-{n}")
    created = json.dumps({"CreditNotes": [{"CreditNoteID": "x", "Type": "ACCRECCREDIT"}]})
    stub_env.answer(
        "PUT",
        "/api/api.xro/2.0/CreditNotes",
        (200, {"X-DayLimit-Remaining": "499"}, created.encode()),
    )
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic)
    report = retry(db, "HARBOUR", client=client)
    assert report.sent == 1 and report.exported == 1
    assert "last 10 % of HARBOUR's daily Xero calls" in report.stopped_reason
    assert "499 of 5,000" in report.stopped_reason
    assert [_status(db, f"CN-DAY-{n}") for n in range(3)] == ["exported", "failed", "failed"]


def test_sandbox_answers_created_documents_with_xeros_date_forms(db, xero) -> None:
    row = _plant(db, "HARBOUR", "sales_invoice", "SI-DATES-1")
    oid = org_id(db, "HARBOUR")
    resource, document = build_document(row, stored_mappings(db, oid), {})
    tenant = db.execute("SELECT tenant_id FROM integrations WHERE org_id = ?", [oid]).fetchone()
    created = xero.create_invoice(ensure_token(db, "HARBOUR", xero), tenant[0], document)
    assert document["Date"] == "2026-11-24"
    assert created["Date"] == "/Date(1795478400000+0000)/"
    assert created["DateString"] == "2026-11-24T00:00:00"
    assert created["DueDate"].startswith("/Date(") and created["DueDateString"].endswith(
        "T00:00:00"
    )
