"""Secrets never reach what syncdesk prints, logs or packs: URL credentials, Authorization
values Xero's answers echo, and the tokens and client secret the process handles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import run_cli
from xero_stub import XeroStub, problem

from store.redact import REDACTED, redact, remember

HARBOUR_TENANT = "0b6c7f0e-3c1a-4d52-9a57-6f3f2a4e8d11"


@pytest.mark.parametrize(
    ("text", "gone", "kept"),
    [
        ("Cannot reach https://ops:Hunter2pw@xero.example/api", "ops:Hunter2pw", "xero.example"),
        ("proxy http://user@10.0.0.1:8080 refused", "user@", "10.0.0.1:8080"),
        ("echo: Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-123", "eyJhbGciOi", "echo:"),
        ('{"Authorization": "Basic c3R1Yi1pZDpzdHViLXNlY3JldA=="}', "c3R1Yi1p", "Authorization"),
        ("header was bearer abc.def-123456 then", "abc.def-123456", "then"),
        ("basic c3R1Yi1pZDpzdHViLXNlY3JldA== sent", "c3R1Yi1p", "sent"),
        ("?grant_type=refresh_token&refresh_token=rt-98765-x&x=1", "rt-98765-x", "grant_type"),
        ('{"access_token": "at.12345.zz", "expires_in": 1800}', "at.12345.zz", "expires_in"),
        ("client_secret=sup3r-s3cret", "sup3r-s3cret", "client_secret="),
    ],
)
def test_patterns(text: str, gone: str, kept: str) -> None:
    out = redact(text)
    assert gone not in out and kept in out and REDACTED in out


def test_ordinary_text_is_left_alone() -> None:
    for text in (
        "Basic accounting plan; bearer of bad news",
        "Account code '220' has been removed",
        "Token refresh failed: invalid_grant (no refresh token stored)",
        "Xero API 401 Unauthorized: AuthenticationUnsuccessful",
    ):
        assert redact(text) == text


def test_known_secrets_and_callers_secrets() -> None:
    remember("sbx-at-known-0123456789", None, "short")
    assert redact("token sbx-at-known-0123456789 echoed") == f"token {REDACTED} echoed"
    assert redact("pasted org-rt-4242424242", also=["org-rt-4242424242"]) == f"pasted {REDACTED}"
    assert redact("short stays") == "short stays"


def test_nothing_xero_echoes_reaches_output_log_or_packet(
    capsys, store_path: Path, stub_env: XeroStub, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_RETRIES", "0")
    stub_env.tenants = {HARBOUR_TENANT: "Harbourside Coffee Roasters"}
    echo = problem(401, "Unauthorized", "AuthenticationUnsuccessful for {authorization} ({token})")
    stub_env.answer("GET", "/api/api.xro/2.0/Organisation", (401, {}, echo))
    db = ("--db", str(store_path))
    _, out, err = run_cli(capsys, *db, "check", "HARBOUR")
    sent = [h["Authorization"] for _, path, h in stub_env.seen if "Organisation" in path]
    token = sent[0].partition(" ")[2]
    assert token.startswith("stub-at-") and "AuthenticationUnsuccessful for" in out + err
    run_cli(capsys, *db, "run", "start", "HARBOUR", "--actor", "alice")
    packet = tmp_path / "packet.md"
    run_cli(capsys, *db, "run", "escalate", "HARBOUR", "--out", str(packet), "--actor", "alice")
    _, log_json, _ = run_cli(capsys, *db, "log", "HARBOUR", "--json", "--limit", "20")
    printed = out + err + log_json + packet.read_text() + packet.with_suffix(".json").read_text()
    assert token not in printed and "stub-secret" not in printed
    assert any(REDACTED in e["message"] for e in json.loads(log_json))


def test_url_credentials_are_not_printed_or_logged(capsys, store_path: Path, monkeypatch) -> None:
    for name, value in (
        ("SYNCDESK_XERO_CLIENT_ID", "real-id"),
        ("SYNCDESK_XERO_CLIENT_SECRET", "real-secret-value"),
        ("SYNCDESK_XERO_API_URL", "http://ops:Hunter2pw@127.0.0.1:9/api"),
        ("SYNCDESK_XERO_IDENTITY_URL", "http://ops:Hunter2pw@127.0.0.1:9/identity"),
        ("SYNCDESK_XERO_REDIRECT_URI", "http://localhost:8765/callback"),
        ("SYNCDESK_XERO_RETRIES", "0"),
    ):
        monkeypatch.setenv(name, value)
    db = ("--db", str(store_path))
    code, out, err = run_cli(capsys, *db, "check", "HARBOUR")
    assert code == 1 and "127.0.0.1:9" in out + err
    _, log_json, _ = run_cli(capsys, *db, "log", "HARBOUR", "--json", "--limit", "5")
    assert "Hunter2pw" not in out + err + log_json and "real-secret-value" not in out + err
