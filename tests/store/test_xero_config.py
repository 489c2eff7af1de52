"""Configuration that cannot be half-right: the environment and the config file, the sandbox
only when nothing is set, and every problem named before any call to Xero."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import run_cli

from store.db import open_store
from store.errors import InvalidConfig
from store.xero.client import SCOPES
from store.xero.config import client_from_env, load_settings

REDIRECT = "http://localhost:8765/callback"


def _config(text: str) -> Path:
    path = Path(os.environ["SYNCDESK_CONFIG"])
    path.write_text(text)
    return path


def test_nothing_set_is_the_sandbox() -> None:
    settings = load_settings()
    assert settings.mode == "sandbox" and settings.problems == ()
    assert settings.scopes == SCOPES and "accounting.transactions" not in settings.scopes
    assert settings.timeout == 30.0


@pytest.mark.parametrize(
    "name",
    ["CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "API_URL", "IDENTITY_URL", "LOGIN_URL"],
)
def test_any_connection_key_means_real_xero_and_names_what_is_missing(
    db, monkeypatch, name: str
) -> None:
    value = "https://example.test/x" if name.endswith(("URL", "URI")) else "something"
    monkeypatch.setenv(f"SYNCDESK_XERO_{name}", value)
    settings = load_settings()
    assert settings.mode == "real"
    missing = {"CLIENT_ID", "REDIRECT_URI"} - {name}
    with pytest.raises(InvalidConfig) as caught:
        client_from_env(db)
    message = str(caught.value)
    assert all(f"SYNCDESK_XERO_{m}" in message for m in missing)
    assert "\n" not in message


def test_secret_is_optional_public_client(db, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "abc")
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", REDIRECT)
    client = client_from_env(db)
    assert client.sandbox is None and client.api_url == "https://api.xero.com"
    assert client.identity_url == "https://identity.xero.com"
    assert client.login_url == "https://login.xero.com/identity/connect/authorize"
    assert client._secret is None and client.redirect_uri == REDIRECT


def test_config_file_and_environment_wins(db, monkeypatch) -> None:
    path = _config(
        '[xero]\nclient_id = "from-file"\nredirect_uri = "http://127.0.0.1:9999/cb"\n'
        'scopes = ["openid", "offline_access", "accounting.settings"]\ntimeout = 5\n'
    )
    settings = load_settings()
    assert (settings.mode, settings.client_id, settings.timeout) == ("real", "from-file", 5.0)
    assert settings.scopes == "openid offline_access accounting.settings"
    assert settings.sources["client_id"] == f"config file {path}"
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "from-env")
    settings = load_settings()
    assert settings.client_id == "from-env"
    assert settings.sources["client_id"] == "env SYNCDESK_XERO_CLIENT_ID"
    assert settings.sources["redirect_uri"] == f"config file {path}"
    assert client_from_env(db).client_id == "from-env"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[xero\n", "not valid TOML"),
        ('[xero]\nclient_idd = "x"\n', "unknown keys in [xero]: client_idd"),
        ('[xero]\nclient_id = "x"\nredirect_uri = "http://example.com/cb"\n', "must use https"),
        ('[xero]\nclient_id = "x"\nredirect_uri = "ftp://h/cb"\n', "http(s) URL"),
        ('[xero]\nclient_id = 5\nredirect_uri = "http://localhost/cb"\n', "must be text"),
        ('[xero]\ntimeout = "abc"\n', "timeout in"),
        ("[xero]\nretries = 1.5\n", "whole number"),
        ('[xero]\nscopes = "openid accounting.settings"\n', "offline_access"),
    ],
)
def test_bad_config_file_is_named(db, text: str, named: str) -> None:
    _config(text)
    with pytest.raises(InvalidConfig, match="correct or unset it") as caught:
        client_from_env(db)
    assert named in str(caught.value)


@pytest.mark.parametrize(
    "args",
    [
        ("check", "HARBOUR"),
        ("retry", "HARBOUR"),
        ("diagnose", "HARBOUR"),
        ("reconnect", "SXBREW"),
        ("reconnect", "SXBREW", "--auth-url"),
        ("activate", "KELP"),
        ("map", "HARBOUR", "sales_account", "default", "200"),
        ("uninstall", "HARBOUR", "--confirm", "HARBOUR"),
    ],
)
def test_every_xero_command_refuses_a_partial_configuration(
    capsys, store_path, monkeypatch, args
) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_API_URL", "https://api.example.test")
    code, out, err = run_cli(capsys, "--db", str(store_path), *args)
    assert code == 1
    lines = [line for line in err.splitlines() if line.startswith("syncdesk:")]
    assert len(lines) == 1 and "SYNCDESK_XERO_CLIENT_ID" in lines[0], err
    assert "SYNCDESK_XERO_REDIRECT_URI" in lines[0]
    db = open_store(store_path)
    try:  # nothing changed
        states = dict(
            db.execute(
                "SELECT o.code, i.state FROM integrations i JOIN orgs o ON o.id = i.org_id"
            ).fetchall()
        )
    finally:
        db.conn.close()
    assert (states["HARBOUR"], states["SXBREW"], states["KELP"]) == (
        "active",
        "disconnected",
        "inactive",
    )


def test_config_command_shows_which_xero(capsys, monkeypatch) -> None:
    code, out, _ = run_cli(capsys, "config", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["xero"] == "sandbox" and shown["valid"] is True
    code, out, _ = run_cli(capsys, "config")
    assert code == 0 and "Xero: sandbox" in out
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "the-id")
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_SECRET", "very-secret-value")
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", REDIRECT)
    monkeypatch.setenv("SYNCDESK_XERO_API_URL", "http://ops:pw123@127.0.0.1:9/api")
    code, out, err = run_cli(capsys, "config", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["xero"] == "real" and shown["client_id"] == "the-id"
    assert shown["client_secret"] == "********" and "very-secret-value" not in out + err
    assert "pw123" not in out and shown["api_url"] == "http://***@127.0.0.1:9/api"
    assert shown["sources"]["client_secret"] == "env SYNCDESK_XERO_CLIENT_SECRET"
    assert shown["sources"]["identity_url"] == "default"
    assert set(shown) >= {"login_url", "redirect_uri", "scopes", "timeout", "retries"}
    code, out, err = run_cli(capsys, "config")
    assert code == 0 and "Xero: real" in out and "very-secret-value" not in out
    monkeypatch.delenv("SYNCDESK_XERO_REDIRECT_URI")
    code, out, err = run_cli(capsys, "config", "--json")
    shown = json.loads(out)
    assert code == 1 and shown["valid"] is False and shown["sources"]["redirect_uri"] == "MISSING"
    assert "SYNCDESK_XERO_REDIRECT_URI" in err


def test_config_warns_when_the_file_with_the_secret_is_readable_by_others(capsys) -> None:
    path = _config(
        '[xero]\nclient_id = "a"\nclient_secret = "s3cr3t"\n'
        'redirect_uri = "http://localhost:8765/cb"\n'
    )
    path.chmod(0o644)
    code, out, err = run_cli(capsys, "config")
    assert code == 0 and "chmod 600" in err and "s3cr3t" not in out + err
    path.chmod(0o600)
    code, out, err = run_cli(capsys, "config")
    assert code == 0 and "chmod" not in err
