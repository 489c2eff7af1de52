"""`syncdesk check` and `syncdesk retry`: output, exit codes, one clear line for every failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import one_error_line, query, run_cli
from xero_stub import FAILURES

from store.db import open_store  # noqa: E402
from store.orgs import org_id  # noqa: E402

HARBOUR_TENANT = "0b6c7f0e-3c1a-4d52-9a57-6f3f2a4e8d11"
KAURI_TENANT = "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


# The embedded sandbox unless a test points the env at the stub; no long backoffs.
pytestmark = pytest.mark.usefixtures("sandbox_env")


def run(capsys: pytest.CaptureFixture[str], path: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--db", str(path), *args)


# --- check ----------------------------------------------------------------------------------


def test_check_healthy_exits_0(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "check", "HARBOUR")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 6 and all(line.startswith("✓") for line in lines)
    assert "Harbourside Coffee Roasters" in out


def test_check_kauri_names_account_220(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "check", "KAURI")
    assert code == 1
    [line] = [line for line in out.splitlines() if line.startswith("✗ mapping")]
    assert "220" in line and "does not exist" in line
    assert "fix: Choose a replacement account" in out
    assert "220" in one_error_line(err)


def test_check_json(capsys, store_path) -> None:
    code, out, _ = run(capsys, store_path, "check", "KAURI", "--json")
    findings = json.loads(out)
    assert code == 1 and isinstance(findings, list)
    assert all({"check", "ok", "detail", "fix"} <= set(f) for f in findings)
    assert any(not f["ok"] and "220" in f["detail"] and f["fix"] for f in findings)


def test_check_removed_connection_becomes_disconnected(capsys, store_path) -> None:
    db = open_store(store_path)
    db.execute("UPDATE integrations SET state = 'active' WHERE org_id = ?", [org_id(db, "SXBREW")])
    db.conn.close()
    code, out, err = run(capsys, store_path, "check", "SXBREW", "--actor", "j.smith")
    assert code == 1
    assert "marked disconnected" in out
    assert query(
        store_path,
        "SELECT state FROM integrations i JOIN orgs o ON o.id = i.org_id WHERE o.code = 'SXBREW'",
    ) == [("disconnected",)]
    assert query(store_path, "SELECT actor FROM audit ORDER BY id DESC LIMIT 1") == [("j.smith",)]
    one_error_line(err)


def test_check_invalid_grant_one_line(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "check", "WATTLE")
    assert code == 1
    assert "invalid_grant" in one_error_line(err)
    assert "✗ token" in out


def test_check_unknown_org(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "check", "NOPE")
    assert code == 1 and out == ""
    assert err.strip() == one_error_line(err)
    assert "NOPE" in err


# --- retry ----------------------------------------------------------------------------------


def test_retry_prints_counts_and_progress(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "retry", "KAURI", "--actor", "j.smith")
    assert code == 1  # some still fail on account 220
    assert out.startswith("Before: pending 2  held 0  failed 9  exported 30")
    assert "After:" in out and "Account code '220'" in out
    assert "sent 9/9" in err
    assert "still failing" in one_error_line(err)
    [(message,)] = query(
        store_path, "SELECT message FROM log WHERE message LIKE 'Retry by j.smith%'"
    )
    assert "9 of 9" in message


def test_retry_all_exported_exits_0(capsys, store_path) -> None:
    code, out, _ = run(capsys, store_path, "retry", "IRONBARK")
    assert code == 0 and "Sent 2: 2 exported, 0 failed" in out


def test_retry_invalid_grant_stops(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "retry", "WATTLE")
    assert code == 1 and "Sent 0" in out
    assert "invalid_grant" in one_error_line(err)


def test_retry_refused_when_not_active(capsys, store_path) -> None:
    code, out, err = run(capsys, store_path, "retry", "SXBREW")
    assert code == 1 and out == ""
    assert "disconnected" in one_error_line(err)


def test_retry_outage_stops(capsys, store_path) -> None:
    code, _, err = run(capsys, store_path, "retry", "MERIDIAN")
    assert code == 1 and "offline" in one_error_line(err)


# --- every failure over real HTTP: one line, exit 1 ---------------------------------------------


@pytest.mark.parametrize("failure", FAILURES)
def test_check_failure_modes(capsys, store_path, stub_env, failure) -> None:
    stub_env.tenants = {HARBOUR_TENANT: "Harbourside Coffee Roasters"}
    stub_env.answer("GET", "/api/api.xro/2.0/Organisation", FAILURES[failure])
    code, out, err = run(capsys, store_path, "check", "HARBOUR")
    assert code == 1
    line = one_error_line(err)
    assert "connection" in line if failure == "403" else "xero:" in line


@pytest.mark.parametrize("failure", FAILURES)
def test_retry_failure_modes(capsys, store_path, stub_env, failure, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_TIMEOUT", "0.1")  # three documents time out in turn
    stub_env.tenants = {KAURI_TENANT: "Kauri Outdoor Supply Co"}
    for resource in ("Invoices", "CreditNotes", "ManualJournals"):
        stub_env.answer("PUT", f"/api/api.xro/2.0/{resource}", FAILURES[failure])
    code, out, err = run(capsys, store_path, "retry", "KAURI")
    assert code == 1 and "Before:" in out and "After:" in out
    one_error_line(err)


def test_check_identity_down(capsys, store_path, stub_env) -> None:
    stub_env.answer("POST", "/identity/connect/token", (503, {}, b""))
    code, out, err = run(capsys, store_path, "check", "HARBOUR")
    assert code == 1 and "✗ token" in out
    one_error_line(err)


def test_no_token_in_cli_output(capsys, store_path) -> None:
    def tokens() -> set[str]:
        rows = query(
            store_path,
            "SELECT access_token, refresh_token FROM credentials UNION ALL "
            "SELECT access_token, refresh_token FROM sandbox_grants",
        )
        return {v for row in rows for v in row if v}

    seen, printed = tokens(), ""
    for args in (
        ("check", "HARBOUR"),
        ("check", "WATTLE", "--json"),
        ("check", "THISTLE"),
        ("retry", "KAURI"),
        ("retry", "WATTLE"),
    ):
        _, out, err = run(capsys, store_path, *args)
        printed += out + err
        seen |= tokens()
    assert seen and not [t for t in seen if t in printed]
