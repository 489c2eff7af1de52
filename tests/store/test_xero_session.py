"""store/xero/session.py over the demo store and its sandbox: tokens, check, retry, revoke."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).parent))
pytest.register_assert_rewrite("conftest_xero")
from conftest_xero import FakeClock, sandbox_client, secrets_of  # noqa: E402

pytest_plugins = ["conftest_xero"]  # its fixtures: xstore, xdb, clock, stub, stub_env

from store.errors import RetryRefused, XeroConsentRequired, XeroInvalidGrant  # noqa: E402
from store.kb import knowledge_by_kind  # noqa: E402
from store.orgs import org_id  # noqa: E402
from store.xero.client import XeroClient  # noqa: E402
from store.xero.models import Account, TaxRate  # noqa: E402
from store.xero.sandbox import SandboxTransport  # noqa: E402
from store.xero.session import (  # noqa: E402
    authorise,
    check,
    ensure_token,
    retry,
    revoke,
    tenant_chart,
    validate_mappings,
)


class Faulty(httpx.BaseTransport):
    """The sandbox, except that requests matching `when` get `answer` instead."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        when: Callable[[httpx.Request], bool],
        answer: Callable[[httpx.Request], httpx.Response],
    ) -> None:
        self.inner, self.when, self.answer = inner, when, answer
        self.hits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.when(request):
            self.hits += 1
            return self.answer(request)
        return self.inner.handle_request(request)


def faulty_client(db, clock: FakeClock, when, answer, **options) -> tuple[XeroClient, Faulty]:
    transport = Faulty(SandboxTransport(db, clock=clock.time), when, answer)
    client = XeroClient(
        client_id="c",
        client_secret="s",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.monotonic,
        **options,
    )
    return client, transport


def state(db, code: str) -> tuple[str, int]:
    row = db.execute(
        "SELECT state, version FROM integrations WHERE org_id = ?", [org_id(db, code)]
    ).fetchone()
    return row[0], row[1]


def log_rows(db, code: str) -> list[tuple[str, str, str | None, str | None]]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT level, message, kind, correlation_id FROM log WHERE org_id = ? AND id > "
            "(SELECT max(id) - 200 FROM log) ORDER BY id",
            [org_id(db, code)],
        ).fetchall()
    ]


def new_log_rows(db, code: str, since: int) -> list[tuple]:
    return [
        tuple(r)
        for r in db.execute(
            "SELECT level, message, kind, correlation_id FROM log WHERE org_id = ? AND id > ? "
            "ORDER BY id",
            [org_id(db, code), since],
        ).fetchall()
    ]


def last_log_id(db) -> int:
    return db.execute("SELECT max(id) FROM log").fetchone()[0]


def queue(db, code: str) -> dict[str, int]:
    return dict(
        db.execute(
            "SELECT status, count(*) FROM queue WHERE org_id = ? GROUP BY status",
            [org_id(db, code)],
        ).fetchall()
    )


# --- tokens ---------------------------------------------------------------------------------


def test_ensure_token_refreshes_and_stores_rotation(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    oid = org_id(xdb, "HARBOUR")
    before = xdb.execute("SELECT refresh_token FROM credentials WHERE org_id = ?", [oid]).fetchone()
    token = ensure_token(xdb, "HARBOUR", client)
    creds = xdb.execute(
        "SELECT access_token, refresh_token FROM credentials WHERE org_id = ?", [oid]
    ).fetchone()
    grant = xdb.execute(
        "SELECT access_token, refresh_token FROM sandbox_grants WHERE org_id = ?", [oid]
    ).fetchone()
    assert creds[0] == token and tuple(creds) == tuple(grant)  # both halves of the rotation
    assert creds[1] != before[0]
    expires = xdb.execute(
        "SELECT token_expires_at FROM integrations WHERE org_id = ?", [oid]
    ).fetchone()[0]
    assert expires > "2026"
    # live now: no second refresh
    assert ensure_token(xdb, "HARBOUR", client) == token
    assert (
        xdb.execute("SELECT refresh_token FROM credentials WHERE org_id = ?", [oid]).fetchone()[0]
        == creds[1]
    )


def test_ensure_token_invalid_grant_is_logged(xdb, clock) -> None:
    mark = last_log_id(xdb)
    with pytest.raises(XeroInvalidGrant):
        ensure_token(xdb, "WATTLE", sandbox_client(xdb, clock))
    [row] = new_log_rows(xdb, "WATTLE", mark)
    assert row[0:3] == ("error", "Token refresh failed: invalid_grant", "refresh_token_invalid")
    assert row[3]  # Xero's correlation id


def test_ensure_token_survives_a_rotation_by_someone_else(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    oid = org_id(xdb, "KAURI")
    stored = xdb.execute("SELECT refresh_token FROM credentials WHERE org_id = ?", [oid]).fetchone()
    fresh = client.refresh(stored[0])  # another process rotated, and is about to store it
    real, calls = client.refresh, []

    def refresh(token: str):
        calls.append(token)
        if len(calls) == 1:
            xdb.execute(
                "UPDATE credentials SET refresh_token = ? WHERE org_id = ?",
                [fresh.refresh_token, oid],
            )
        return real(token)

    client.refresh = refresh
    assert ensure_token(xdb, "KAURI", client)
    assert calls == [stored[0], fresh.refresh_token]


def test_no_stored_authorisation(xdb, clock) -> None:
    with pytest.raises(XeroInvalidGrant, match="COPPER has no stored Xero authorisation"):
        ensure_token(xdb, "COPPER", sandbox_client(xdb, clock))


# --- check ----------------------------------------------------------------------------------


def test_check_healthy_org(xdb, clock) -> None:
    mark = last_log_id(xdb)
    report = check(xdb, "HARBOUR", client=sandbox_client(xdb, clock))
    assert report.healthy, report.findings
    assert [f.check for f in report.findings] == [
        "state",
        "token",
        "connection",
        "tenant",
        "mappings",
        "queue",
    ]
    assert report.tenant_name == "Harbourside Coffee Roasters"
    [row] = new_log_rows(xdb, "HARBOUR", mark)  # one info row per check
    assert row[0] == "info" and "6 of 6 checks passed" in row[1]


def test_check_names_the_deleted_account(xdb, clock) -> None:
    report = check(xdb, "KAURI", client=sandbox_client(xdb, clock))
    assert not report.healthy
    [mapping] = [f for f in report.findings if f.check == "mapping"]
    assert "220" in mapping.detail and "does not exist" in mapping.detail
    assert "200, 210" in mapping.detail  # what would do instead
    assert mapping.fix == knowledge_by_kind(xdb)["account_code_removed"].fix
    assert {f.check: f.ok for f in report.findings}["queue"] is False


@pytest.mark.parametrize(
    ("code", "expected", "kb_kind"),
    [
        ("BRIGHT", "TAX001 (Export 0%) is ARCHIVED", "tax_type_invalid"),
        ("TASMAN", "630 (Inventory) is ARCHIVED", "account_code_invalid"),
    ],
)
def test_check_archived_mappings(xdb, clock, code, expected, kb_kind) -> None:
    report = check(xdb, code, client=sandbox_client(xdb, clock))
    [mapping] = [f for f in report.findings if f.check == "mapping"]
    assert expected in mapping.detail
    assert mapping.fix == knowledge_by_kind(xdb)[kb_kind].fix


def test_check_wrong_type_and_system_account(xdb, clock) -> None:
    oid = org_id(xdb, "HARBOUR")
    xdb.execute(
        "UPDATE mappings SET remote = '400' WHERE org_id = ? AND kind = 'sales_account' "
        "AND local = 'default'",
        [oid],
    )
    xdb.execute(
        "UPDATE mappings SET remote = '610' WHERE org_id = ? AND kind = 'cogs_account'", [oid]
    )
    report = check(xdb, "HARBOUR", client=sandbox_client(xdb, clock))
    details = [f.detail for f in report.findings if f.check == "mapping"]
    assert any("400 (Advertising) is EXPENSE" in d and "REVENUE or SALES" in d for d in details)
    assert any("610" in d and "system account" in d for d in details)


def test_check_invalid_grant(xdb, clock) -> None:
    report = check(xdb, "WATTLE", client=sandbox_client(xdb, clock))
    token = next(f for f in report.findings if f.check == "token")
    assert not token.ok and "invalid_grant" in token.detail
    assert token.fix == knowledge_by_kind(xdb)["refresh_token_invalid"].fix
    assert [f.check for f in report.findings] == ["state", "token", "queue"]


def test_check_marks_removed_connection_disconnected(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    token = ensure_token(xdb, "HARBOUR", client)
    [connection] = client.connections(token)
    client.delete_connection(token, connection.id)  # someone removes the app in Xero
    _, version = state(xdb, "HARBOUR")
    mark = last_log_id(xdb)
    report = check(xdb, "HARBOUR", client=client, actor="j.smith")
    assert state(xdb, "HARBOUR") == ("disconnected", version + 1)
    assert report.state == "disconnected" and not report.healthy
    audit = xdb.execute(
        "SELECT actor, action, before_state, after_state FROM audit WHERE org_id = ? "
        "ORDER BY id DESC LIMIT 1",
        [org_id(xdb, "HARBOUR")],
    ).fetchone()
    assert tuple(audit) == ("j.smith", "mark_disconnected", "active", "disconnected")
    rows = new_log_rows(xdb, "HARBOUR", mark)
    assert (
        "error",
        "Xero integration disconnected from within Xero; integration deactivated",
        "disconnected_in_xero",
        None,
    ) in rows
    # a second check changes nothing more
    check(xdb, "HARBOUR", client=client)
    assert state(xdb, "HARBOUR") == ("disconnected", version + 1)


def test_check_403_on_tenant_marks_disconnected(xdb, clock) -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            json={"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"},
            headers={"Xero-Correlation-Id": "c-403"},
        )

    client, _ = faulty_client(xdb, clock, lambda r: r.url.path.endswith("/Organisation"), forbidden)
    mark = last_log_id(xdb)
    check(xdb, "KELP", client=client)  # inactive -> disconnected too
    assert state(xdb, "KELP")[0] == "disconnected"
    rows = new_log_rows(xdb, "KELP", mark)
    assert rows[0][2] == "connection_removed" and rows[0][3] == "c-403"
    assert rows[1][2] == "disconnected_in_xero"


def test_check_already_disconnected_org_is_left_alone(xdb, clock) -> None:
    before = state(xdb, "SXBREW")
    report = check(xdb, "SXBREW", client=sandbox_client(xdb, clock))
    assert state(xdb, "SXBREW") == before
    connection = next(f for f in report.findings if f.check == "connection")
    assert not connection.ok and "no connection" in connection.detail


def test_check_rate_limited_tenant_reports_without_waiting(xdb, clock) -> None:
    mark = last_log_id(xdb)
    report = check(xdb, "THISTLE", client=sandbox_client(xdb, clock))
    xero = next(f for f in report.findings if f.check == "xero")
    assert "37 s" in xero.detail
    assert xero.fix == knowledge_by_kind(xdb)["rate_limited_minute"].fix
    assert clock.slept == []
    errors = [r for r in new_log_rows(xdb, "THISTLE", mark) if r[0] == "error"]
    assert errors[0][1:3] == (
        "Xero API 429 Too Many Requests (X-Rate-Limit-Problem: minute, Retry-After: 37)",
        "rate_limited_minute",
    )


def test_check_outage(xdb, clock) -> None:
    report = check(xdb, "MERIDIAN", client=sandbox_client(xdb, clock))
    xero = next(f for f in report.findings if f.check == "xero")
    assert "offline" in xero.detail
    assert xero.fix == knowledge_by_kind(xdb)["org_offline"].fix


def test_check_demo_company_tenant(xdb, clock) -> None:
    report = check(xdb, "GREEN", client=sandbox_client(xdb, clock))
    tenant = next(f for f in report.findings if f.check == "tenant")
    assert not tenant.ok and "demo company" in tenant.detail
    assert "Greenfield Garden Centre" in tenant.detail  # the previous tenant
    assert tenant.fix == knowledge_by_kind(xdb)["tenant_changed"].fix


def test_check_uninstalled_makes_no_calls(xdb, clock) -> None:
    client, transport = faulty_client(xdb, clock, lambda r: True, lambda r: httpx.Response(500))
    report = check(xdb, "COPPER", client=client)
    assert transport.hits == 0
    assert [f.check for f in report.findings] == ["state", "queue"]


# --- validate_mappings ----------------------------------------------------------------------


def test_validate_mappings_is_pure_and_suggests(xdb) -> None:
    accounts = [
        Account("200", "Sales", "REVENUE"),
        Account("310", "COGS", "DIRECTCOSTS", status="ARCHIVED"),
        Account("630", "Inventory", "INVENTORY"),
        Account("429", "General", "EXPENSE"),
        Account("260", "Other Revenue", "OTHERINCOME"),
        Account("090", "Bank", "BANK"),
        Account("610", "AR", "CURRENT", system_account="DEBTORS"),
    ]
    rates = [
        TaxRate("OUTPUT2", "GST on Income", can_apply_to_expenses=False),
        TaxRate("INPUT2", "GST on Expenses", can_apply_to_revenue=False),
    ]
    problems = {(p.kind, p.local): p for p in validate_mappings(xdb, "HARBOUR", accounts, rates)}
    assert set(problems) == {
        ("sales_account", "customer:WHOLESALE"),  # 210 missing
        ("cogs_account", "default"),  # archived
        ("tax_rate", "Zero Rated"),  # missing
    }
    assert problems[("sales_account", "customer:WHOLESALE")].suggestions == ("200",)
    assert problems[("cogs_account", "default")].problem.endswith("is ARCHIVED in Xero")
    assert problems[("tax_rate", "Zero Rated")].suggestions == ("OUTPUT2",)


# --- revoke, authorise, tenant_chart ----------------------------------------------------------


def test_revoke(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    assert revoke(xdb, "HARBOUR", client=client) is True
    assert client.connections(ensure_token(xdb, "HARBOUR", client)) == []
    assert revoke(xdb, "HARBOUR", client=client) is False  # already gone
    with pytest.raises(XeroInvalidGrant):  # no way in: the connection may still be there
        revoke(xdb, "WATTLE", client=client)
    assert revoke(xdb, "SXBREW", client=client) is False  # removed in Xero


def test_authorise_against_sandbox(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    mark = last_log_id(xdb)
    connections = authorise(xdb, "WATTLE", client=client)
    assert [c.tenant_name for c in connections] == ["Wattle & Pine Homewares"]
    assert ensure_token(xdb, "WATTLE", client)  # the stored tokens work again
    rows = new_log_rows(xdb, "WATTLE", mark)
    assert ("info", 'Xero authorisation granted for 1 organisation: "Wattle & Pine Homewares"') in [
        r[:2] for r in rows
    ]


def test_authorise_after_uninstall_and_chart_of_other_tenant(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    connections = authorise(xdb, "GREEN", client=client)
    greenfield = next(c for c in connections if c.tenant_name.startswith("Greenfield"))
    accounts, rates = tenant_chart(xdb, "GREEN", greenfield.tenant_id, client=client)
    assert "630" in {a.code for a in accounts} and "OUTPUT" in {r.tax_type for r in rates}
    assert authorise(xdb, "COPPER", client=client)[0].tenant_name == "Copperleaf Candles"


def test_authorise_real_api_needs_a_browser(xdb) -> None:
    client = XeroClient(
        client_id="c", client_secret="s", transport=httpx.MockTransport(lambda r: None)
    )
    with pytest.raises(XeroConsentRequired, match="reconnect --code"):
        authorise(xdb, "WATTLE", client=client)


# --- retry ----------------------------------------------------------------------------------


def test_retry_records_each_outcome(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    mark = last_log_id(xdb)
    seen = []
    report = retry(xdb, "KAURI", client=client, progress=lambda d, n: seen.append((d, n)))
    assert report.before["failed"] == 9 and report.sent == 9
    assert report.exported + report.failed == 9 and report.failed > 0
    assert report.after["failed"] == report.failed
    assert report.after["exported"] == report.before["exported"] + report.exported
    assert seen == [(i, 9) for i in range(1, 10)]
    assert report.stopped_reason is None
    rows = new_log_rows(xdb, "KAURI", mark)
    failures = [r for r in rows if r[0] == "error"]
    assert len(failures) == report.failed
    assert all(
        "failed: Account code '220' is not a valid code for this document." in r[1]
        and r[2] == "account_code_invalid"
        and r[3]
        for r in failures
    )
    failed = xdb.execute(
        "SELECT attempts, last_error FROM queue WHERE org_id = ? AND status = 'failed'",
        [org_id(xdb, "KAURI")],
    ).fetchall()
    assert all(r[1] == "Account code '220' is not a valid code for this document." for r in failed)
    last_export = xdb.execute(
        "SELECT last_export_at FROM integrations WHERE org_id = ?", [org_id(xdb, "KAURI")]
    ).fetchone()[0]
    assert last_export > "2026-11-24T12"
    # remap 220 and the rest goes through
    xdb.execute(
        "UPDATE mappings SET remote = '200' WHERE org_id = ? AND remote = '220'",
        [org_id(xdb, "KAURI")],
    )
    second = retry(xdb, "KAURI", client=client)
    assert (second.sent, second.exported, second.failed) == (report.failed, report.failed, 0)
    assert queue(xdb, "KAURI").get("failed", 0) == 0


def test_retry_waits_out_a_busy_tenant(xdb, clock) -> None:
    report = retry(xdb, "THISTLE", client=sandbox_client(xdb, clock))
    assert report.exported == 3 and report.stopped_reason is None
    assert 37 in clock.slept


def test_retry_stops_on_invalid_grant(xdb, clock) -> None:
    before = queue(xdb, "WATTLE")
    report = retry(xdb, "WATTLE", client=sandbox_client(xdb, clock))
    assert report.sent == 0 and report.stopped_kind == "refresh_token_invalid"
    assert "reconnect" in report.stopped_reason
    assert queue(xdb, "WATTLE") == before


def test_retry_stops_on_outage(xdb, clock) -> None:
    report = retry(xdb, "MERIDIAN", client=sandbox_client(xdb, clock, retries=1))
    assert report.sent == 0 and report.stopped_kind == "org_offline"


def test_retry_refuses_unless_active(xdb, clock) -> None:
    for code in ("SXBREW", "KELP", "COPPER"):
        with pytest.raises(RetryRefused):
            retry(xdb, code, client=sandbox_client(xdb, clock))


def test_retry_can_be_cancelled(xdb, clock) -> None:
    done = []
    report = retry(
        xdb,
        "KAURI",
        client=sandbox_client(xdb, clock),
        progress=lambda d, n: done.append(d),
        cancelled=lambda: len(done) >= 2,
    )
    assert report.sent == 2 and report.stopped_reason == "Cancelled after 2 of 9 documents."


def test_retry_stops_after_repeated_server_errors(xdb, clock) -> None:
    client, _ = faulty_client(
        xdb,
        clock,
        lambda r: r.method == "PUT",
        lambda r: httpx.Response(500, text="oops", headers={"Xero-Correlation-Id": "c-500"}),
        retries=0,
    )
    report = retry(xdb, "KAURI", client=client)
    assert (report.sent, report.failed) == (3, 3)
    assert "3 server errors" in report.stopped_reason
    failed = xdb.execute(
        "SELECT count(*) FROM log WHERE correlation_id = 'c-500' AND kind = 'xero_server_error'"
    ).fetchone()[0]
    assert failed == 3


def test_retry_connection_removed_mid_run(xdb, clock) -> None:
    inner = SandboxTransport(xdb, clock=clock.time)
    puts = []

    class RemovedMidway(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT":
                puts.append(1)
                if len(puts) == 2:  # the app is removed in Xero while the retry runs
                    xdb.execute(
                        "UPDATE sandbox_grants SET connections = '[]' WHERE org_id = ?",
                        [org_id(xdb, "BRIGHT")],
                    )
            return inner.handle_request(request)

    client = XeroClient(
        client_id="c",
        client_secret="s",
        transport=RemovedMidway(),
        sleep=clock.sleep,
        clock=clock.monotonic,
    )
    report = retry(xdb, "BRIGHT", client=client)
    assert report.sent == 1 and report.stopped_kind == "connection_removed"
    assert state(xdb, "BRIGHT")[0] == "disconnected"
    assert queue(xdb, "BRIGHT")["failed"] + queue(xdb, "BRIGHT").get("exported", 0) == 36


def test_retry_sales_journal_and_bill_shapes(xdb, clock) -> None:
    from store.xero.session import build_document

    oid = org_id(xdb, "TASMAN")
    mappings = [
        tuple(r)
        for r in xdb.execute(
            "SELECT kind, local, remote FROM mappings WHERE org_id = ?", [oid]
        ).fetchall()
    ]
    row = {
        "number": "SO-1",
        "amount": 100.0,
        "created_at": "2026-11-20T10:00:00Z",
        "doc_type": "sales_journal",
        "currency": "NZD",
        "contact": "C",
    }
    resource, doc = build_document(row, mappings, {})
    assert resource == "ManualJournals"
    assert [(line["LineAmount"], line["AccountCode"]) for line in doc["JournalLines"]] == [
        (100.0, "310"),
        (-100.0, "630"),
    ]
    resource, doc = build_document(
        {**row, "doc_type": "bill", "number": "PO-1"}, mappings, {"bill_status": "DRAFT"}
    )
    assert resource == "Invoices" and doc["Type"] == "ACCPAY" and doc["Status"] == "DRAFT"
    assert [line["AccountCode"] for line in doc["LineItems"]] == ["630", "429"]
    assert sum(line["UnitAmount"] for line in doc["LineItems"]) == 100.0
    assert {line["TaxType"] for line in doc["LineItems"]} == {"INPUT2"}


# --- secrets --------------------------------------------------------------------------------


def test_no_token_reaches_the_log_or_audit(xdb, clock) -> None:
    client = sandbox_client(xdb, clock)
    seen = set(secrets_of(xdb))
    for code in ("HARBOUR", "KAURI", "WATTLE", "THISTLE", "MERIDIAN", "GREEN"):
        check(xdb, code, client=client)
        seen |= set(secrets_of(xdb))
    retry(xdb, "KAURI", client=client)
    authorise(xdb, "WATTLE", client=client)
    revoke(xdb, "HARBOUR", client=client)
    seen |= set(secrets_of(xdb))
    text = json.dumps(
        [list(r) for r in xdb.execute("SELECT * FROM log").fetchall()]
        + [list(r) for r in xdb.execute("SELECT * FROM audit").fetchall()]
        + [list(r) for r in xdb.execute("SELECT * FROM queue").fetchall()]
    )
    assert seen and not [s for s in seen if s in text]
