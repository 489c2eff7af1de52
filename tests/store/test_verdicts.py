"""Every verdict class, on organisations built inside the test (tests/builders.py): what
happened, why, what fixes it, whether the refresh sequence helps and the next step."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from builders import build_org, tenant_id
from support import NOW

from store.checks import retry
from store.diagnose import diagnose
from store.errors import RetryRefused
from store.kb import knowledge_by_kind
from store.orgs import list_orgs, show_org
from store.timeparse import iso
from store.transitions import deactivate, integration
from store.verdicts import REMEDIES

RATE_MINUTE = "Xero API 429 Too Many Requests (X-Rate-Limit-Problem: minute, Retry-After: 20)"
DUPLICATE = "Sales Invoice SI-00000901 failed: Invoice # must be unique."
ARCHIVED_CONTACT = (
    "Sales Invoice SI-00000902 failed: The contact with the specified contact details has been "
    "archived. The contact must be un-archived before creating new invoices or credit notes."
)


def verdict_of(db, xero_later, code: str, **kwargs):
    return diagnose(db, code, now=NOW, client=xero_later(), **kwargs)


def assert_complete(verdict) -> None:
    """Every verdict says what happened, why, what fixes it, and the next step."""
    assert verdict.what and verdict.cause and verdict.next_step
    assert verdict.remedy in (*REMEDIES, "none")
    assert verdict.problems and verdict.problems[0].endswith("[blocking]")


def test_app_removed_in_xero(db, xero_later, tmp_path: Path) -> None:
    build_org(db, tmp_path, "ZAPP", xero={"connection": "removed"}, queue={"failed": 2})
    found = verdict_of(db, xero_later, "ZAPP")
    v = found.verdict
    assert found.state == "disconnected"  # the live check recorded it
    assert v.kind in ("disconnected_in_xero", "connection_removed") and v.remedy == "reconnect"
    assert v.refresh_helps is True and v.refresh_step == "reconnect"
    assert "syncdesk run start ZAPP" in v.next_step and "deactivate is skipped" in v.next_step
    assert_complete(v)


def test_refresh_token_expired_or_revoked(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZTOKEN",
        xero={"refresh_token": "expired", "access_token": "expired"},
        queue={"failed": 3},
    )
    v = verdict_of(db, xero_later, "ZTOKEN").verdict
    assert (v.kind, v.remedy, v.refresh_helps, v.refresh_step) == (
        "refresh_token_invalid",
        "reconnect",
        True,
        "reconnect",
    )
    assert "invalid_grant" in v.what
    assert_complete(v)


def test_reconnected_to_a_different_real_organisation(db, xero_later, tmp_path: Path) -> None:
    """Not a demo company: any organisation other than the previous one, unconfirmed."""
    build_org(
        db,
        tmp_path,
        "ZMOVED",
        xero={"previous_tenant": "zmoved-books", "other_tenants": ["zmoved-books"]},
        more_tenants=({"key": "zmoved-books", "name": "Zmoved Books Ltd"},),
        queue={"failed": 2},
    )
    current = integration(db, "ZMOVED")
    assert current.previous_tenant_id == tenant_id("zmoved-books") != current.tenant_id
    with pytest.raises(RetryRefused, match="nobody confirmed"):
        retry(db, "ZMOVED", client=xero_later())  # retry refuses for this reason...
    found = verdict_of(db, xero_later, "ZMOVED")
    v = found.verdict  # ...and the diagnosis says so too
    assert v.kind == "tenant_changed" and v.remedy == "reconnect" and v.refresh_helps is True
    assert v.refresh_step == "uninstall"
    assert "Zmoved Books Ltd" in v.next_step and "--accept-new-tenant" in v.next_step
    assert_complete(v)


def test_account_missing_in_the_tenant(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZACCT",
        mappings=[{"kind": "sales_account", "local": "group:Web", "remote": "299"}],
        queue={"failed": 4},
        errors=(
            (
                30,
                "Sales Invoice SI-00000903 failed: Account code '299' has been removed as "
                "it does not match a recognised account.",
            ),
        ),
    )
    v = verdict_of(db, xero_later, "ZACCT").verdict
    assert v.kind == "account_code_removed" and v.remedy == "map"
    assert v.refresh_helps is False and v.refresh_step == "none"
    assert "syncdesk map ZACCT" in v.next_step and "299" in v.next_step
    assert_complete(v)


def test_tax_rate_archived_in_the_tenant(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZTAX",
        tenant={"tax_rates": [{"tax_type": "ZERORATED", "status": "ARCHIVED"}]},
        mappings=[{"kind": "tax_rate", "local": "Zero Rated", "remote": "ZERORATED"}],
        queue={"failed": 1},
    )
    v = verdict_of(db, xero_later, "ZTAX").verdict
    assert v.kind == "tax_type_invalid" and v.remedy == "map" and v.refresh_helps is False
    assert "ZERORATED" in v.next_step
    assert_complete(v)


@pytest.mark.parametrize(
    ("problem", "retry_after", "kind"),
    [
        ("minute", 50, "rate_limited_minute"),
        ("day", 3600, "rate_limited_day"),
        ("appminute", 40, "rate_limited_app"),
    ],
)
def test_rate_limits_wait_until_a_stated_time(
    db, xero_later, tmp_path: Path, problem: str, retry_after: int, kind: str
) -> None:
    code = f"ZRATE{problem.upper()[:3]}"
    build_org(
        db,
        tmp_path,
        code,
        tenant={"rate_limit": {"problem": problem, "retry_after": retry_after}},
        queue={"pending": 5},
    )
    v = verdict_of(db, xero_later, code).verdict
    assert v.kind == kind and v.remedy == "wait"
    # The knowledge base's action: wait wins; refreshing is not the verdict.
    assert v.refresh_helps is False and v.refresh_step == "none"
    assert v.wait_until == iso(NOW + timedelta(seconds=retry_after))
    assert v.wait_until in v.next_step and "no uninstall" in v.next_step
    assert knowledge_by_kind(db)[kind].action == "wait"
    assert_complete(v)


def test_tenant_outage_waits(db, xero_later, tmp_path: Path) -> None:
    build_org(db, tmp_path, "ZDOWN", tenant={"outage": {"status": 503}}, queue={"pending": 3})
    v = verdict_of(db, xero_later, "ZDOWN").verdict
    assert v.kind == "org_offline" and v.remedy == "wait" and v.refresh_helps is False
    assert v.wait_until == iso(NOW + timedelta(minutes=15))  # Xero gives no time: look again
    assert_complete(v)


def test_xero_outage_seen_in_the_log_waits(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZXERO",
        errors=((2, "Xero API 503 Service Unavailable"),),
        queue={"failed": 1},
    )
    v = diagnose(db, "ZXERO", now=NOW, client=xero_later(), live=False).verdict
    assert v.remedy == "wait" and v.refresh_helps is False
    assert v.wait_until == iso(NOW - timedelta(minutes=2) + timedelta(minutes=15))


@pytest.mark.parametrize("message", [DUPLICATE, ARCHIVED_CONTACT])
def test_data_errors_say_fix_the_data(db, xero_later, tmp_path: Path, message: str) -> None:
    build_org(db, tmp_path, "ZDATA", queue={"failed": 2}, errors=((20, message), (10, message)))
    v = verdict_of(db, xero_later, "ZDATA").verdict
    entry = knowledge_by_kind(db)[v.kind]
    assert v.remedy == "fix_data" and entry.action in ("fix_in_xero", "fix_in_inventory")
    assert v.refresh_helps is False and v.next_step.startswith("Refreshing will not help.")
    assert "Fix the data" in v.next_step and entry.fix in v.next_step
    assert_complete(v)


def test_paused_by_a_person_says_turn_it_back_on(db, xero_later, tmp_path: Path) -> None:
    build_org(db, tmp_path, "ZPAUSE", queue={"pending": 4})
    deactivate(db, "ZPAUSE", actor="mia", reason="bulk price edit", until=NOW + timedelta(hours=2))
    v = verdict_of(db, xero_later, "ZPAUSE").verdict
    assert v.kind == "integration_deactivated" and v.remedy == "activate"
    assert v.refresh_helps is False
    assert "Turn it back on and send what was held" in v.next_step
    assert "syncdesk activate ZPAUSE" in v.next_step and "bulk price edit" in v.next_step
    assert_complete(v)


def test_healthy_with_only_old_errors_is_nothing_to_do(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZOLD",
        errors=((300, RATE_MINUTE), (290, "Xero API 500 Internal Error (Xero-Correlation-Id x)")),
    )
    found = verdict_of(db, xero_later, "ZOLD")
    v = found.verdict
    assert {g.kind for g in found.groups} >= {"rate_limited_minute"}
    assert v.kind is None and v.title == "Healthy (only old errors)" and v.remedy == "none"
    assert v.refresh_helps is False and v.next_step.startswith("Nothing to fix")
    assert "rate_limited_minute" in v.old and v.problems == ()


def test_several_problems_all_named_blocking_first(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZTWO",
        xero={"refresh_token": "expired", "access_token": "expired"},
        mappings=[{"kind": "sales_account", "local": "group:Web", "remote": "299"}],
        queue={"failed": 3},
        errors=(
            (
                40,
                "Sales Invoice SI-00000904 failed: Account code '299' has been removed as it "
                "does not match a recognised account.",
            ),
            *((n, RATE_MINUTE) for n in (1, 2, 3, 4, 5, 6)),
        ),
    )
    found = verdict_of(db, xero_later, "ZTWO")
    v = found.verdict
    assert v.kind == "refresh_token_invalid" and v.remedies[:2] == ("reconnect", "map")
    assert v.problems[0].startswith("refresh_token_invalid") and "[blocking]" in v.problems[0]
    mapping = next(p for p in v.problems if p.startswith("account_code_removed"))
    assert "the reconnect restores this mapping" in mapping and "will still fail" in mapping
    # The group behind the verdict comes first, ahead of six rate-limit rows.
    counts = {g.kind: g.count for g in found.groups}
    assert counts["rate_limited_minute"] > counts.get("refresh_token_invalid", 0)
    assert found.groups[0].kind == "refresh_token_invalid"


def test_a_wait_blocks_before_a_mapping(db, xero_later, tmp_path: Path) -> None:
    build_org(
        db,
        tmp_path,
        "ZBOTH",
        tenant={"rate_limit": {"problem": "minute", "retry_after": 30}},
        mappings=[{"kind": "sales_account", "local": "group:Web", "remote": "299"}],
        queue={"failed": 2},
        errors=(
            (
                5,
                "Sales Invoice SI-00000905 failed: Account code '299' has been removed as it "
                "does not match a recognised account.",
            ),
        ),
    )
    v = verdict_of(db, xero_later, "ZBOTH").verdict
    assert v.remedy == "wait" and v.remedies == ("wait", "map")
    assert len(v.problems) == 2


def test_overdue_pause(db, tmp_path: Path) -> None:
    build_org(db, tmp_path, "ZLATE")
    build_org(db, tmp_path, "ZNODUE")
    deactivate(db, "ZLATE", actor="mia", reason="stocktake", until=NOW + timedelta(hours=1))
    deactivate(db, "ZNODUE", actor="mia")
    by_code = {o.code: o for o in list_orgs(db, now=NOW)}
    assert not by_code["ZLATE"].overdue and not by_code["ZNODUE"].overdue
    later = {o.code: o for o in list_orgs(db, now=NOW + timedelta(hours=2))}
    assert later["ZLATE"].overdue and not later["ZNODUE"].overdue
    much_later = {o.code: o for o in list_orgs(db, now=NOW + timedelta(hours=25))}
    assert much_later["ZNODUE"].overdue
    detail = show_org(db, "ZLATE", now=NOW + timedelta(hours=2))
    assert (detail.pause_reason, detail.paused_by, detail.overdue) == ("stocktake", "mia", True)
    assert detail.pause_due_at == iso(NOW + timedelta(hours=1))
    assert not by_code["HARBOUR"].overdue
