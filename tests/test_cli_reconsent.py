"""Granular scopes: what each connection was granted is recorded, and integrations still on
Xero's deprecated broad accounting.transactions are flagged (orgs --json, orgs
--needs-reconsent, the dashboard, a diagnose verdict that a live failure outranks)."""

from __future__ import annotations

import base64
import json

from support import plant, run_cli

from store.diagnose import diagnose
from store.models import OrgSummary
from store.orgs import list_orgs
from store.xero.models import TokenSet
from store.xero.tokens import granted_scopes
from tui.screens.dashboard import org_cells

BROAD = {"GREEN", "IRONBARK", "KELP"}  # xero.scopes: broad in sample_data/orgs.yaml


def test_orgs_json_and_the_campaign_list(capsys, store_path) -> None:
    code, out, _ = run_cli(capsys, "--db", str(store_path), "orgs", "--json")
    flags = {o["code"]: o["needs_reconsent"] for o in json.loads(out)}
    assert code == 0 and {c for c, due in flags.items() if due} == BROAD
    assert all(isinstance(v, bool) for v in flags.values())
    code, out, _ = run_cli(capsys, "--db", str(store_path), "orgs", "--needs-reconsent", "--json")
    assert code == 0 and {o["code"] for o in json.loads(out)} == BROAD
    code, out, _ = run_cli(capsys, "--db", str(store_path), "orgs", "--needs-reconsent")
    assert "IRONBARK" in out and "(reconsent)" in out and "HARBOUR" not in out


def test_fresh_consent_clears_the_flag(capsys, store_path) -> None:
    db = ("--db", str(store_path))
    run_cli(capsys, *db, "uninstall", "IRONBARK", "--confirm", "IRONBARK")
    code, _, err = run_cli(capsys, *db, "reconnect", "IRONBARK")
    assert code == 0, err
    _, out, _ = run_cli(capsys, *db, "orgs", "--needs-reconsent", "--json")
    assert {o["code"] for o in json.loads(out)} == BROAD - {"IRONBARK"}


def test_refresh_keeps_what_was_granted(db, xero) -> None:
    from store.xero.tokens import ensure_token

    ensure_token(db, "IRONBARK", xero, force=True)
    assert {o.code for o in list_orgs(db, reconsent=True)} == BROAD


def test_scopes_from_the_access_token_claims() -> None:
    claims = {"scope": ["openid", "offline_access", "accounting.transactions"]}
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tokens = TokenSet(access_token=f"h.{body}.s", refresh_token="r", expires_in=1800)
    assert granted_scopes(tokens) == "openid offline_access accounting.transactions"
    assert granted_scopes(TokenSet("opaque", "r", 1800)) is None
    assert granted_scopes(TokenSet("opaque", "r", 1800, scope="a  b")) == "a b"


def test_diagnose_says_fresh_consent_is_due_unless_something_is_failing(db, store_path) -> None:
    plant(
        store_path,
        "UPDATE integrations SET scopes = 'openid offline_access accounting.transactions' "
        "WHERE org_id = (SELECT id FROM orgs WHERE code = 'HARBOUR')",
    )
    found = diagnose(db, "HARBOUR", live=False)
    assert found.verdict.kind == "needs_reconsent" and "September 2027" in found.verdict.fix
    assert "syncdesk reconnect HARBOUR --auth-url" in found.verdict.fix
    failing = diagnose(db, "IRONBARK", live=False)  # errors in the last day outrank it
    assert failing.verdict.kind not in (None, "needs_reconsent")


def test_dashboard_marks_them() -> None:
    base = dict(
        code="X",
        name="X",
        state="active",
        tenant_name="t",
        errors_24h=0,
        last_export_at=None,
        region="NZ",
        held=0,
        failed=0,
        auth="ok",
    )
    assert org_cells(OrgSummary(**base, needs_reconsent=True))[3][0] == "ok ↻"
    assert org_cells(OrgSummary(**base))[3][0] == "ok"
