"""The organisation list and one organisation's details."""

from __future__ import annotations

from datetime import timedelta

import pytest

from store.errors import InvalidQuery, UnknownOrganisation
from store.orgs import list_orgs, show_org
from store.timeparse import iso


def test_list_has_every_org_with_24h_errors(db, now) -> None:
    orgs = {o.code: o for o in list_orgs(db, now=now)}
    assert len(orgs) == db.execute("SELECT count(*) FROM orgs").fetchone()[0]
    for code, org in orgs.items():
        expected = db.execute(
            "SELECT count(*) FROM log JOIN orgs ON orgs.id = log.org_id WHERE orgs.code = ? "
            "AND level = 'error' AND at >= ?",
            [code, iso(now - timedelta(hours=24))],
        ).fetchone()[0]
        assert org.errors_24h == expected, code
    assert orgs["THISTLE"].errors_24h > 0
    assert orgs["COPPER"].tenant_name is None


def test_list_filters_by_state_and_text(db, now) -> None:
    assert [o.code for o in list_orgs(db, state="disconnected", now=now)] == ["SXBREW"]
    assert [o.code for o in list_orgs(db, search="demo company", now=now)] == ["GREEN"]
    assert [o.code for o in list_orgs(db, search="kelp", now=now)] == ["KELP"]
    assert list_orgs(db, search="%", now=now) == []  # LIKE wildcards are literal


def test_list_rejects_unknown_state(db) -> None:
    with pytest.raises(InvalidQuery, match="Unknown state"):
        list_orgs(db, state="broken")


def test_show_org(db, now) -> None:
    detail = show_org(db, "kauri", now=now)
    assert detail.code == "KAURI" and detail.state == "active" and detail.version == 1
    assert ("sales_account", "group:Online", "220") in {
        (m.kind, m.local, m.remote) for m in detail.mappings
    }
    assert detail.settings["export_sales_invoices"] is True
    assert set(detail.queue) == {"pending", "held", "failed", "exported"}
    assert detail.queue["failed"] == 9


def test_show_uninstalled_org_has_nothing_left(db, now) -> None:
    detail = show_org(db, "COPPER", now=now)
    assert detail.settings == {} and detail.mappings == ()


def test_show_unknown_org(db) -> None:
    with pytest.raises(UnknownOrganisation, match="'ACME'"):
        show_org(db, "ACME")
