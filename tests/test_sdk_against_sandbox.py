"""Xero's official Python SDK (xero-python, a test extra) pointed at `syncdesk sandbox serve`
unchanged but for its URLs: it refreshes with the credentials in the form body, lists the
connections, reads the organisation, accounts and tax rates, creates an invoice (whose
/Date(ms+0000)/ it parses), gets its documented exception for a duplicate, and finds the
invoice by number."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path

import pytest

xero_python = pytest.importorskip("xero_python")
from xero_python.accounting import (  # noqa: E402
    AccountingApi,
    Contact,
    Invoice,
    Invoices,
    LineItem,
)
from xero_python.api_client import ApiClient, Configuration  # noqa: E402
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi  # noqa: E402
from xero_python.exceptions import AccountingBadRequestException  # noqa: E402
from xero_python.identity import IdentityApi  # noqa: E402

from store.db import open_store  # noqa: E402
from store.xero.sandbox_serve import SandboxServer, start_in_thread  # noqa: E402


@pytest.fixture
def served(store_path: Path) -> Iterator[str]:
    server = SandboxServer(store_path, "127.0.0.1", 0)
    thread = start_in_thread(server)
    yield f"http://127.0.0.1:{server.port}"
    server.shutdown()
    server.server_close()
    thread.join(2)


def test_xero_python_works_against_the_served_sandbox(served, store_path, monkeypatch) -> None:
    db = open_store(store_path)
    try:
        refresh = db.execute(
            "SELECT g.refresh_token FROM sandbox_grants g JOIN orgs o ON o.id = g.org_id "
            "WHERE o.code = 'HARBOUR'"
        ).fetchone()[0]
    finally:
        db.conn.close()
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{served}/identity/connect/token")
    stored: dict = {
        "refresh_token": refresh,
        "access_token": "expired",
        "expires_in": 0,
        "expires_at": 0,
        "token_type": "Bearer",
        "scope": ["offline_access"],
    }
    client = ApiClient(
        Configuration(oauth2_token=OAuth2Token(client_id="sdk-app", client_secret="sdk-secret")),
        oauth2_token_getter=lambda: stored,
        oauth2_token_saver=lambda token: stored.update(token),
        pool_threads=1,
    )
    assert client.refresh_oauth2_token()
    [connection] = IdentityApi(client, base_url=f"{served}/api").get_connections()
    tenant = connection.tenant_id
    accounting = AccountingApi(client, base_url=f"{served}/api/api.xro/2.0")
    assert accounting.get_organisations(tenant).organisations[0].name
    assert accounting.get_accounts(tenant).accounts
    assert accounting.get_tax_rates(tenant).tax_rates
    invoice = Invoice(
        type="ACCREC",
        contact=Contact(name="SDK Cafe"),
        date=datetime.date(2026, 11, 4),
        due_date=datetime.date(2026, 11, 24),
        invoice_number="SDK-1",
        status="DRAFT",
        line_items=[
            LineItem(
                description="beans",
                quantity=1,
                unit_amount=10,
                account_code="200",
                tax_type="OUTPUT2",
            )
        ],
    )
    [created] = accounting.create_invoices(tenant, invoices=Invoices(invoices=[invoice])).invoices
    assert created.invoice_id and created.date == datetime.date(2026, 11, 4)
    with pytest.raises(AccountingBadRequestException):
        accounting.create_invoices(tenant, invoices=Invoices(invoices=[invoice]))
    found = accounting.get_invoices(tenant, invoice_numbers=["SDK-1"]).invoices
    assert [i.invoice_number for i in found] == ["SDK-1"]
