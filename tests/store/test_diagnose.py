"""Diagnose: state + live check + the last day's error groups -> the verdict for each sample
organisation, as of the demo store's NOW."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from support import NOW

from store.checks import check  # noqa: E402
from store.diagnose import diagnose  # noqa: E402
from store.kb import knowledge_by_kind  # noqa: E402
from store.logs import error_groups  # noqa: E402
from store.timeparse import iso  # noqa: E402
from store.transitions import integration  # noqa: E402
from store.verdicts import WAITS  # noqa: E402
from store.xero.client import XeroClient  # noqa: E402

MAPPING_KINDS = {
    "account_code_removed",
    "account_code_invalid",
    "account_code_missing",
    "account_invalid",
}


class Untouchable(httpx.BaseTransport):
    def __init__(self) -> None:
        self.hits = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hits += 1
        raise AssertionError(f"diagnose asked Xero: {request.method} {request.url}")


@pytest.fixture
def untouchable() -> Iterator[tuple[XeroClient, Untouchable]]:
    transport = Untouchable()
    client = XeroClient(
        client_id="c", client_secret="s", transport=transport, retries=0, sleep=lambda s: None
    )
    yield client, transport
    client.close()


@pytest.mark.parametrize(
    ("code", "kinds", "helps", "step"),
    [
        ("SXBREW", {"disconnected_in_xero"}, True, "reconnect"),
        ("WATTLE", {"refresh_token_invalid"}, True, "reconnect"),
        ("GREEN", {"tenant_changed"}, True, None),
        ("KAURI", {"account_code_removed"}, False, "none"),
        ("BRIGHT", {"tax_type_invalid"}, False, "none"),
        ("TASMAN", MAPPING_KINDS, False, "none"),
        ("IRONBARK", {"duplicate_email", "contact_name_duplicate"}, False, "none"),
    ],
)
def test_verdict_for_each_broken_organisation(
    db, xero, code: str, kinds: set[str], helps: bool, step: str | None
) -> None:
    found = diagnose(db, code, now=NOW, client=xero)
    verdict = found.verdict
    assert verdict.kind in kinds, verdict
    assert verdict.refresh_helps is helps, verdict
    if step is not None:
        assert verdict.refresh_step == step
    else:
        assert verdict.refresh_step != "none"
    entry = knowledge_by_kind(db)[verdict.kind]
    assert (verdict.title, verdict.cause, verdict.fix) == (entry.title, entry.cause, entry.fix)
    assert verdict.kind not in found.other_kinds
    if helps:
        assert f"syncdesk run start {code}" in verdict.next_step
    else:
        assert verdict.next_step.startswith("Refreshing will not help.")


@pytest.mark.parametrize(
    ("code", "what"),
    [("KAURI", "220"), ("BRIGHT", "TAX001"), ("TASMAN", "630")],
)
def test_mapping_verdicts_point_at_map(db, xero, code: str, what: str) -> None:
    verdict = diagnose(db, code, now=NOW, client=xero).verdict
    assert verdict.refresh_helps is False and verdict.refresh_step == "none"
    assert f"syncdesk map {code}" in verdict.next_step
    assert what in verdict.next_step  # names the mapping to fix


def test_kauri_live_check_and_log_agree(db, xero) -> None:
    found = diagnose(db, "KAURI", now=NOW, client=xero)
    bad = [f for f in found.findings if not f.ok and f.kind == "account_code_removed"]
    assert len(bad) == 1 and "220" in bad[0].detail and "200, 210" in bad[0].detail
    assert "account_code_removed" in {g.kind for g in found.groups}
    assert found.check_error is None and found.state == "active"


def test_sxbrew_is_disconnected_and_reconnect_helps(db, xero) -> None:
    found = diagnose(db, "SXBREW", now=NOW, client=xero)
    assert found.state == "disconnected"
    assert "deactivate is skipped" in found.verdict.next_step


def test_thistle_is_rate_limited_consistently_with_the_knowledge_base(db, xero, clock) -> None:
    found = diagnose(db, "THISTLE", now=NOW, client=xero)
    verdict = found.verdict
    assert verdict.kind.startswith("rate_limited"), verdict
    entry = knowledge_by_kind(db)[verdict.kind]
    assert verdict.refresh_step == entry.refresh_step
    assert verdict.refresh_helps is (entry.refresh_step != "none")
    # The live check meets the 429 and reports it instead of sitting through Retry-After.
    assert any(not f.ok and "429" in f.detail for f in found.findings), found.findings
    assert sum(clock.slept) < 37


def test_meridian_verdict_is_the_outage(db, xero) -> None:
    verdict = diagnose(db, "MERIDIAN", now=NOW, client=xero).verdict
    assert verdict.kind in ("org_offline", "xero_server_error"), verdict
    assert verdict.refresh_helps is False


def test_meridian_outage_is_seen_and_refreshing_will_not_help(db, xero) -> None:
    found = diagnose(db, "MERIDIAN", now=NOW, client=xero)
    assert found.verdict.refresh_helps is False and found.verdict.refresh_step == "none"
    assert any(not f.ok and "offline" in f.detail for f in found.findings), found.findings
    assert {"org_offline", "xero_server_error"} <= {g.kind for g in found.groups}


def test_copper_uninstalled_needs_reconnect_without_asking_xero(db, untouchable) -> None:
    client, transport = untouchable
    found = diagnose(db, "COPPER", now=NOW, client=client)
    assert transport.hits == 0
    assert found.state == "uninstalled" and found.findings == ()
    assert "syncdesk reconnect COPPER" in found.verdict.next_step


def test_copper_verdict_says_reconnect_helps(db, xero) -> None:
    verdict = diagnose(db, "COPPER", now=NOW, client=xero).verdict
    assert verdict.refresh_helps is True
    assert verdict.refresh_step == "reconnect"
    assert verdict.title != "Healthy"


def test_harbour_is_healthy(db, xero) -> None:
    since = iso(NOW - timedelta(hours=24))
    assert error_groups(db, org="HARBOUR", since=since) == []  # the demo data's premise
    found = diagnose(db, "HARBOUR", now=NOW, client=xero)
    verdict = found.verdict
    assert (verdict.kind, verdict.title) == (None, "Healthy")
    assert verdict.refresh_helps is False and verdict.refresh_step == "none"
    assert found.groups == () and found.other_kinds == ()
    assert found.findings and all(f.ok for f in found.findings)


def test_kelp_inactive_is_diagnosed_from_the_log(db, xero) -> None:
    found = diagnose(db, "KELP", now=NOW, client=xero)
    assert found.state == "inactive"
    assert "integration_deactivated" in (found.verdict.kind, *found.other_kinds)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("KAURI", "account_code_removed"),
        ("SXBREW", "disconnected_in_xero"),
        ("WATTLE", "refresh_token_invalid"),
    ],
)
def test_live_false_never_touches_xero(db, untouchable, code: str, kind: str) -> None:
    client, transport = untouchable
    version = integration(db, code).version
    found = diagnose(db, code, now=NOW, live=False, client=client)
    assert transport.hits == 0
    assert found.findings == () and found.check_error is None
    assert found.verdict.kind == kind
    assert integration(db, code).version == version


def test_live_false_uses_only_the_window_before_now(db, untouchable) -> None:
    client, _ = untouchable
    later = diagnose(db, "KAURI", now=NOW + timedelta(days=30), live=False, client=client)
    assert later.groups == () and later.verdict.kind is None


def test_unreachable_xero_is_a_finding_not_an_exception(db, clock) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = XeroClient(
        client_id="c",
        client_secret="s",
        transport=httpx.MockTransport(refuse),
        retries=0,
        sleep=clock.sleep,
        clock=clock.monotonic,
    )
    # Make the stored access token look expired so the check must reach Xero.
    with db.conn:
        db.execute(
            "UPDATE integrations SET token_expires_at = '2000-01-01T00:00:00Z' WHERE org_id = ?",
            [integration(db, "HARBOUR").org_id],
        )
    found = diagnose(db, "HARBOUR", now=NOW, client=client)
    assert found.check_error is not None or any(not f.ok for f in found.findings)
    assert integration(db, "HARBOUR").state == "active"  # unreachable is not "removed"
    if found.verdict.kind is not None:
        assert found.verdict.kind in WAITS or found.verdict.refresh_helps is False


def test_looking_again_does_not_add_rows(db, xero) -> None:
    """A check or diagnose records a failure once per window, not once per look."""

    def errors() -> int:
        return db.execute(
            "SELECT count(*) FROM log WHERE level = 'error' AND org_id = ?",
            [integration(db, "WATTLE").org_id],
        ).fetchone()[0]

    first = diagnose(db, "WATTLE", now=NOW, client=xero)
    after_first = errors()
    for _ in range(3):
        again = diagnose(db, "WATTLE", now=NOW, client=xero)
        check(db, "WATTLE", client=xero)
    assert errors() == after_first
    assert again.verdict.title == first.verdict.title
