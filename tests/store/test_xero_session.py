"""store/xero/{tokens,health,mappings,export,connect}.py over the demo store and its sandbox."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from support import NOW, FakeClock, sandbox_client
from xero_stub import secrets_of

from store.checks import check, retry  # noqa: E402
from store.errors import RetryRefused, XeroConsentRequired, XeroInvalidGrant  # noqa: E402
from store.kb import knowledge_by_kind  # noqa: E402
from store.orgs import org_id  # noqa: E402
from store.timeparse import iso
from store.xero.client import XeroClient  # noqa: E402
from store.xero.connect import authorise, revoke  # noqa: E402
from store.xero.mappings import tenant_chart, validate_mappings  # noqa: E402
from store.xero.models import Account, TaxRate  # noqa: E402
from store.xero.sandbox import SandboxTransport  # noqa: E402
from store.xero.tokens import ensure_token  # noqa: E402


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


def test_ensure_token_refreshes_and_stores_rotation(db, clock) -> None:
    clock.sleep(2 * 3600)  # hours after the store was built: its access tokens have expired
    client = sandbox_client(db, clock)
    oid = org_id(db, "HARBOUR")
    before = db.execute("SELECT refresh_token FROM credentials WHERE org_id = ?", [oid]).fetchone()
    token = ensure_token(db, "HARBOUR", client)
    creds = db.execute(
        "SELECT access_token, refresh_token FROM credentials WHERE org_id = ?", [oid]
    ).fetchone()
    grant = db.execute(
        "SELECT access_token, refresh_token FROM sandbox_grants WHERE org_id = ?", [oid]
    ).fetchone()
    assert creds[0] == token and tuple(creds) == tuple(grant)  # both halves of the rotation
    assert creds[1] != before[0]
    expires = db.execute(
        "SELECT token_expires_at FROM integrations WHERE org_id = ?", [oid]
    ).fetchone()[0]
    assert expires > "2026"
    # live now: no second refresh
    assert ensure_token(db, "HARBOUR", client) == token
    assert (
        db.execute("SELECT refresh_token FROM credentials WHERE org_id = ?", [oid]).fetchone()[0]
        == creds[1]
    )


def test_ensure_token_invalid_grant_is_logged(db, clock) -> None:
    mark = last_log_id(db)
    with pytest.raises(XeroInvalidGrant):
        ensure_token(db, "WATTLE", sandbox_client(db, clock))
    [row] = new_log_rows(db, "WATTLE", mark)
    assert row[0:3] == ("error", "Token refresh failed: invalid_grant", "refresh_token_invalid")
    assert row[3]  # Xero's correlation id


def test_ensure_token_survives_a_rotation_by_someone_else(db, clock) -> None:
    clock.sleep(2 * 3600)  # hours after the store was built: its access tokens have expired
    client = sandbox_client(db, clock)
    oid = org_id(db, "KAURI")
    stored = db.execute("SELECT refresh_token FROM credentials WHERE org_id = ?", [oid]).fetchone()
    fresh = client.refresh(stored[0])  # another process rotated, and is about to store it
    clock.sleep(31 * 60)  # past Xero's 30-minute grace for the previous refresh token
    real, calls = client.refresh, []

    def refresh(token: str):
        calls.append(token)
        if len(calls) == 1:
            db.execute(
                "UPDATE credentials SET refresh_token = ? WHERE org_id = ?",
                [fresh.refresh_token, oid],
            )
        return real(token)

    client.refresh = refresh
    assert ensure_token(db, "KAURI", client)
    assert calls == [stored[0], fresh.refresh_token]


def test_no_stored_authorisation(db, clock) -> None:
    with pytest.raises(XeroInvalidGrant, match="COPPER has no stored Xero authorisation"):
        ensure_token(db, "COPPER", sandbox_client(db, clock))


# --- check ----------------------------------------------------------------------------------


def test_check_healthy_org(db, clock) -> None:
    mark = last_log_id(db)
    report = check(db, "HARBOUR", client=sandbox_client(db, clock))
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
    [row] = new_log_rows(db, "HARBOUR", mark)  # one info row per check
    assert row[0] == "info" and "6 of 6 checks passed" in row[1]


def test_check_names_the_deleted_account(db, clock) -> None:
    report = check(db, "KAURI", client=sandbox_client(db, clock))
    assert not report.healthy
    [mapping] = [f for f in report.findings if f.check == "mapping"]
    assert "220" in mapping.detail and "does not exist" in mapping.detail
    assert "200, 210" in mapping.detail  # what would do instead
    assert mapping.fix == knowledge_by_kind(db)["account_code_removed"].fix
    assert {f.check: f.ok for f in report.findings}["queue"] is False


@pytest.mark.parametrize(
    ("code", "expected", "kb_kind"),
    [
        ("BRIGHT", "TAX001 (Export 0%) is ARCHIVED", "tax_type_invalid"),
        ("TASMAN", "630 (Inventory) is ARCHIVED", "account_code_invalid"),
    ],
)
def test_check_archived_mappings(db, clock, code, expected, kb_kind) -> None:
    report = check(db, code, client=sandbox_client(db, clock))
    [mapping] = [f for f in report.findings if f.check == "mapping"]
    assert expected in mapping.detail
    assert mapping.fix == knowledge_by_kind(db)[kb_kind].fix


def test_check_wrong_type_and_system_account(db, clock) -> None:
    oid = org_id(db, "HARBOUR")
    db.execute(
        "UPDATE mappings SET remote = '400' WHERE org_id = ? AND kind = 'sales_account' "
        "AND local = 'default'",
        [oid],
    )
    db.execute(
        "UPDATE mappings SET remote = '610' WHERE org_id = ? AND kind = 'cogs_account'", [oid]
    )
    report = check(db, "HARBOUR", client=sandbox_client(db, clock))
    details = [f.detail for f in report.findings if f.check == "mapping"]
    assert any("400 (Advertising) is EXPENSE" in d and "REVENUE or SALES" in d for d in details)
    assert any("610" in d and "system account" in d for d in details)


def test_check_invalid_grant(db, clock) -> None:
    report = check(db, "WATTLE", client=sandbox_client(db, clock))
    token = next(f for f in report.findings if f.check == "token")
    assert not token.ok and "invalid_grant" in token.detail
    assert token.fix == knowledge_by_kind(db)["refresh_token_invalid"].fix
    assert [f.check for f in report.findings] == ["state", "token", "queue"]


def test_check_marks_removed_connection_disconnected(db, clock) -> None:
    client = sandbox_client(db, clock)
    token = ensure_token(db, "HARBOUR", client)
    [connection] = client.connections(token)
    client.delete_connection(token, connection.id)  # someone removes the app in Xero
    _, version = state(db, "HARBOUR")
    mark = last_log_id(db)
    report = check(db, "HARBOUR", client=client, actor="j.smith")
    assert state(db, "HARBOUR") == ("disconnected", version + 1)
    assert report.state == "disconnected" and not report.healthy
    audit = db.execute(
        "SELECT actor, action, before_state, after_state FROM audit WHERE org_id = ? "
        "ORDER BY id DESC LIMIT 1",
        [org_id(db, "HARBOUR")],
    ).fetchone()
    assert tuple(audit) == ("j.smith", "mark_disconnected", "active", "disconnected")
    rows = new_log_rows(db, "HARBOUR", mark)
    assert (
        "error",
        "Xero integration disconnected from within Xero; integration deactivated",
        "disconnected_in_xero",
        None,
    ) in rows
    # a second check changes nothing more
    check(db, "HARBOUR", client=client)
    assert state(db, "HARBOUR") == ("disconnected", version + 1)


def test_check_403_on_a_listed_tenant_is_access_refused_not_disconnected(db, clock) -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403,
            json={"Title": "Forbidden", "Status": 403, "Detail": "AuthenticationUnsuccessful"},
            headers={"Xero-Correlation-Id": "c-403"},
        )

    client, _ = faulty_client(db, clock, lambda r: r.url.path.endswith("/Organisation"), forbidden)
    mark = last_log_id(db)
    before = state(db, "KELP")
    report = check(db, "KELP", client=client)  # /connections still lists KELP's tenant
    assert state(db, "KELP") == before
    access = next(f for f in report.findings if f.check == "access")
    assert not access.ok and "Xero lists the connection" in access.detail
    assert "lost access" in access.detail and "not disconnected" in access.detail
    assert access.fix == knowledge_by_kind(db)["authorization_failed"].fix
    rows = new_log_rows(db, "KELP", mark)
    assert rows[0][3] == "c-403" and "disconnected_in_xero" not in [r[2] for r in rows]


def test_check_already_disconnected_org_is_left_alone(db, clock) -> None:
    before = state(db, "SXBREW")
    report = check(db, "SXBREW", client=sandbox_client(db, clock))
    assert state(db, "SXBREW") == before
    connection = next(f for f in report.findings if f.check == "connection")
    assert not connection.ok and "no connection" in connection.detail


def test_check_rate_limited_tenant_reports_without_waiting(db, clock) -> None:
    mark = last_log_id(db)
    report = check(db, "THISTLE", client=sandbox_client(db, clock))
    xero = next(f for f in report.findings if f.check == "xero")
    assert "37 s" in xero.detail
    assert xero.fix == knowledge_by_kind(db)["rate_limited_minute"].fix
    assert clock.slept == []
    errors = [r for r in new_log_rows(db, "THISTLE", mark) if r[0] == "error"]
    assert errors[0][1:3] == (
        "Xero API 429 Too Many Requests (X-Rate-Limit-Problem: minute, Retry-After: 37)",
        "rate_limited_minute",
    )


def test_check_outage(db, clock) -> None:
    report = check(db, "MERIDIAN", client=sandbox_client(db, clock))
    xero = next(f for f in report.findings if f.check == "xero")
    assert "offline" in xero.detail
    assert xero.fix == knowledge_by_kind(db)["org_offline"].fix


def test_check_demo_company_tenant(db, clock) -> None:
    report = check(db, "GREEN", client=sandbox_client(db, clock))
    tenant = next(f for f in report.findings if f.check == "tenant")
    assert not tenant.ok and "demo company" in tenant.detail
    assert "Greenfield Garden Centre" in tenant.detail  # the previous tenant
    assert tenant.fix == knowledge_by_kind(db)["tenant_changed"].fix


def test_check_uninstalled_makes_no_calls(db, clock) -> None:
    client, transport = faulty_client(db, clock, lambda r: True, lambda r: httpx.Response(500))
    report = check(db, "COPPER", client=client)
    assert transport.hits == 0
    assert [f.check for f in report.findings] == ["state", "queue"]


# --- validate_mappings ----------------------------------------------------------------------


def test_validate_mappings_is_pure_and_suggests(db) -> None:
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
    problems = {(p.kind, p.local): p for p in validate_mappings(db, "HARBOUR", accounts, rates)}
    assert set(problems) == {
        ("sales_account", "customer:WHOLESALE"),  # 210 missing
        ("cogs_account", "default"),  # archived
        ("tax_rate", "Zero Rated"),  # missing
    }
    assert problems[("sales_account", "customer:WHOLESALE")].suggestions == ("200",)
    assert problems[("cogs_account", "default")].problem.endswith("is ARCHIVED in Xero")
    assert problems[("tax_rate", "Zero Rated")].suggestions == ("OUTPUT2",)


# --- revoke, authorise, tenant_chart ----------------------------------------------------------


def test_revoke(db, clock) -> None:
    client = sandbox_client(db, clock)
    assert revoke(db, "HARBOUR", client=client) is True
    assert client.connections(ensure_token(db, "HARBOUR", client)) == []
    assert revoke(db, "HARBOUR", client=client) is False  # already gone
    with pytest.raises(XeroInvalidGrant):  # no way in: the connection may still be there
        revoke(db, "WATTLE", client=client)
    assert revoke(db, "SXBREW", client=client) is False  # removed in Xero


def test_authorise_against_sandbox(db, clock) -> None:
    client = sandbox_client(db, clock)
    mark = last_log_id(db)
    connections = authorise(db, "WATTLE", client=client)
    assert [c.tenant_name for c in connections] == ["Wattle & Pine Homewares"]
    assert ensure_token(db, "WATTLE", client)  # the stored tokens work again
    rows = new_log_rows(db, "WATTLE", mark)
    assert ("info", 'Xero authorisation granted for 1 organisation: "Wattle & Pine Homewares"') in [
        r[:2] for r in rows
    ]


def test_authorise_after_uninstall_and_chart_of_other_tenant(db, clock) -> None:
    client = sandbox_client(db, clock)
    connections = authorise(db, "GREEN", client=client)
    greenfield = next(c for c in connections if c.tenant_name.startswith("Greenfield"))
    accounts, rates = tenant_chart(db, "GREEN", greenfield.tenant_id, client=client)
    assert "630" in {a.code for a in accounts} and "OUTPUT" in {r.tax_type for r in rates}
    assert authorise(db, "COPPER", client=client)[0].tenant_name == "Copperleaf Candles"


def test_authorise_real_api_needs_a_browser(db) -> None:
    client = XeroClient(
        client_id="c", client_secret="s", transport=httpx.MockTransport(lambda r: None)
    )
    with pytest.raises(XeroConsentRequired, match="reconnect WATTLE --auth-url"):
        authorise(db, "WATTLE", client=client)


# --- retry ----------------------------------------------------------------------------------


def test_retry_records_each_outcome(db, clock) -> None:
    client = sandbox_client(db, clock)
    mark = last_log_id(db)
    seen = []
    report = retry(db, "KAURI", client=client, progress=lambda *p: seen.append(p))
    assert report.before["failed"] == 9 and report.sent == 9
    assert report.exported + report.failed == 9 and report.failed > 0
    assert report.after["failed"] == report.failed
    assert report.after["exported"] == report.before["exported"] + report.exported
    assert [(d, n) for d, n, _ in seen] == [(i, 9) for i in range(10)]
    assert all(doing.startswith("sending ") for _, _, doing in seen[:-1]) and seen[-1][2] == ""
    assert report.stopped_reason is None
    rows = new_log_rows(db, "KAURI", mark)
    failures = [r for r in rows if r[0] == "error"]
    assert len(failures) == report.failed
    assert all(
        "failed: Account code '220' is not a valid code for this document." in r[1]
        and r[2] == "account_code_invalid"
        and r[3]
        for r in failures
    )
    failed = db.execute(
        "SELECT attempts, last_error FROM queue WHERE org_id = ? AND status = 'failed'",
        [org_id(db, "KAURI")],
    ).fetchall()
    assert all(r[1] == "Account code '220' is not a valid code for this document." for r in failed)
    last_export = db.execute(
        "SELECT last_export_at FROM integrations WHERE org_id = ?", [org_id(db, "KAURI")]
    ).fetchone()[0]
    assert last_export >= iso(NOW)
    # remap 220 and the rest goes through
    db.execute(
        "UPDATE mappings SET remote = '200' WHERE org_id = ? AND remote = '220'",
        [org_id(db, "KAURI")],
    )
    second = retry(db, "KAURI", client=client)
    assert (second.sent, second.exported, second.failed) == (report.failed, report.failed, 0)
    assert queue(db, "KAURI").get("failed", 0) == 0


def test_retry_waits_out_a_busy_tenant(db, clock) -> None:
    report = retry(db, "THISTLE", client=sandbox_client(db, clock))
    assert report.exported == 3 and report.stopped_reason is None
    assert 37 in clock.slept


def test_retry_stops_on_invalid_grant(db, clock) -> None:
    before = queue(db, "WATTLE")
    report = retry(db, "WATTLE", client=sandbox_client(db, clock))
    assert report.sent == 0 and report.stopped_kind == "refresh_token_invalid"
    assert "reconnect" in report.stopped_reason
    assert queue(db, "WATTLE") == before


def test_retry_stops_on_outage(db, clock) -> None:
    report = retry(db, "MERIDIAN", client=sandbox_client(db, clock, retries=1))
    assert report.sent == 0 and report.stopped_kind == "org_offline"


def test_retry_refuses_unless_active(db, clock) -> None:
    for code in ("SXBREW", "KELP", "COPPER"):
        with pytest.raises(RetryRefused):
            retry(db, code, client=sandbox_client(db, clock))


def test_retry_can_be_cancelled(db, clock) -> None:
    done = []
    report = retry(
        db,
        "KAURI",
        client=sandbox_client(db, clock),
        progress=lambda d, n, doing: done.append(d),
        cancelled=lambda: len(done) >= 2,
    )
    assert report.sent == 2 and report.stopped_reason == (
        "Cancelled after 2 of 9 documents; 7 not sent, still waiting in the queue."
    )
    assert report.after["failed"] + report.after.get("held", 0) >= 7


def test_retry_stops_after_repeated_server_errors(db, clock) -> None:
    client, _ = faulty_client(
        db,
        clock,
        lambda r: r.method == "PUT",
        lambda r: httpx.Response(500, text="oops", headers={"Xero-Correlation-Id": "c-500"}),
        retries=0,
    )
    report = retry(db, "KAURI", client=client)
    assert (report.sent, report.failed) == (3, 3)
    assert "3 server errors" in report.stopped_reason
    failed = db.execute(
        "SELECT count(*) FROM log WHERE correlation_id = 'c-500' AND kind = 'xero_server_error'"
    ).fetchone()[0]
    assert failed == 3


def test_retry_connection_removed_mid_run(db, clock) -> None:
    inner = SandboxTransport(db, clock=clock.time)
    puts = []

    class RemovedMidway(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "PUT":
                puts.append(1)
                if len(puts) == 2:  # the app is removed in Xero while the retry runs
                    db.execute(
                        "UPDATE sandbox_grants SET connections = '[]' WHERE org_id = ?",
                        [org_id(db, "BRIGHT")],
                    )
            return inner.handle_request(request)

    client = XeroClient(
        client_id="c",
        client_secret="s",
        transport=RemovedMidway(),
        sleep=clock.sleep,
        clock=clock.monotonic,
    )
    report = retry(db, "BRIGHT", client=client)
    assert report.sent == 1 and report.stopped_kind == "connection_removed"
    assert state(db, "BRIGHT")[0] == "disconnected"
    assert queue(db, "BRIGHT")["failed"] + queue(db, "BRIGHT").get("exported", 0) == 36


def test_retry_sales_journal_and_bill_shapes(db, clock) -> None:
    from store.xero.export import build_document

    oid = org_id(db, "TASMAN")
    mappings = [
        tuple(r)
        for r in db.execute(
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


def test_no_token_reaches_the_log_or_audit(db, clock) -> None:
    client = sandbox_client(db, clock)
    seen = set(secrets_of(db))
    for code in ("HARBOUR", "KAURI", "WATTLE", "THISTLE", "MERIDIAN", "GREEN"):
        check(db, code, client=client)
        seen |= set(secrets_of(db))
    retry(db, "KAURI", client=client)
    authorise(db, "WATTLE", client=client)
    revoke(db, "HARBOUR", client=client)
    seen |= set(secrets_of(db))
    text = json.dumps(
        [list(r) for r in db.execute("SELECT * FROM log").fetchall()]
        + [list(r) for r in db.execute("SELECT * FROM audit").fetchall()]
        + [list(r) for r in db.execute("SELECT * FROM queue").fetchall()]
    )
    assert seen and not [s for s in seen if s in text]
