"""`syncdesk reconnect` against a real Xero (the loopback stub): consent with PKCE for a person
in a browser: --auth-url, --redirect-url, --listen, and one clear line for each way it fails."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from support import NOW, one_error_line, run_cli, wait_until

from store import clock as store_clock
from store.db import open_store
from store.timeparse import iso

GRANULAR = (
    "openid profile email offline_access accounting.settings accounting.contacts "
    "accounting.invoices accounting.payments accounting.manualjournals"
)


def _tenant(store_path: Path, code: str) -> tuple[str, str]:
    db = open_store(store_path)
    try:
        row = db.execute(
            "SELECT i.tenant_id, i.tenant_name FROM integrations i JOIN orgs o ON o.id = "
            "i.org_id WHERE o.code = ?",
            [code],
        ).fetchone()
        return row[0], row[1]
    finally:
        db.conn.close()


def _state_of(store_path: Path, code: str) -> str:
    db = open_store(store_path)
    try:
        return db.execute(
            "SELECT i.state FROM integrations i JOIN orgs o ON o.id = i.org_id WHERE o.code = ?",
            [code],
        ).fetchone()[0]
    finally:
        db.conn.close()


@pytest.fixture
def real(stub_env, store_path):
    """The stub as the real Xero, with SXBREW's Xero user able to connect its tenant."""
    tenant_id, name = _tenant(store_path, "SXBREW")
    stub_env.tenants = {tenant_id: name}
    return stub_env


def cli(capsys, store_path: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--db", str(store_path), *args)


def browse(url: str) -> str:
    """What a browser does with the consent link: Xero signs the user in, they allow access,
    and Xero redirects; the address it ends on."""
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def test_auth_url_json(capsys, store_path, real) -> None:
    code, out, err = cli(capsys, store_path, "reconnect", "SXBREW", "--auth-url", "--json")
    assert code == 0, err
    link = json.loads(out)
    assert set(link) == {"url", "state", "expires_at"}
    assert link["expires_at"] == iso(NOW + timedelta(minutes=10))
    parts = urlsplit(link["url"])
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert link["url"].startswith(real.login_url + "?")
    assert query["state"] == link["state"] and query["client_id"] == "stub-id"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == "http://localhost:8765/callback"
    assert query["scope"] == GRANULAR and query["response_type"] == "code"
    code, out, _ = cli(capsys, store_path, "reconnect", "SXBREW", "--auth-url")
    assert code == 0 and real.login_url in out and "--redirect-url" in out
    _, log, _ = cli(capsys, store_path, "log", "SXBREW", "--json", "--limit", "5")
    assert any("Xero consent link made by" in row["message"] for row in json.loads(log))


def test_consent_then_pasted_address_reconnects(capsys, store_path, real) -> None:
    _, out, _ = cli(capsys, store_path, "reconnect", "SXBREW", "--auth-url", "--json")
    ended_on = browse(json.loads(out)["url"])
    code, out, err = cli(
        capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["after"] == "active"
    assert result["tenant_id"] == next(iter(real.tenants))
    [exchange] = [f for f in real.token_forms if f.get("grant_type") == "authorization_code"]
    assert (
        exchange["code_verifier"] and exchange["redirect_uri"] == "http://localhost:8765/callback"
    )
    assert _state_of(store_path, "SXBREW") == "active"
    # The state was used: the same address again is refused, in one line.
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    assert code == 1 and "already active" in one_error_line(err)


def test_tenant_chosen_in_a_second_step_without_a_new_consent(capsys, store_path, real) -> None:
    real.tenants = {"aaaa-1": "First Ltd", "bbbb-2": "Second Ltd"}
    ended_on = browse(_link(capsys, store_path)["url"])
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    line = one_error_line(err)
    assert code == 1 and "--tenant-id" in line and "First Ltd (aaaa-1)" in line
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    assert code == 1 and "already used at" in one_error_line(err)
    code, out, err = cli(
        capsys, store_path, "reconnect", "SXBREW", "--tenant-id", "bbbb-2", "--accept-new-tenant"
    )
    assert code == 0, err
    assert "Second Ltd (bbbb-2)  ** DIFFERENT FROM BEFORE **" in out
    exchanges = [f for f in real.token_forms if f.get("grant_type") == "authorization_code"]
    assert len(exchanges) == 1


def test_public_client_without_a_secret(capsys, store_path, real, monkeypatch) -> None:
    monkeypatch.delenv("SYNCDESK_XERO_CLIENT_SECRET")
    _, out, _ = cli(capsys, store_path, "reconnect", "SXBREW", "--auth-url", "--json")
    ended_on = browse(json.loads(out)["url"])
    code, out, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    assert code == 0, err
    [exchange] = [f for f in real.token_forms if f.get("grant_type") == "authorization_code"]
    assert exchange["client_id"] == "stub-id" and "client_secret" not in exchange
    assert "SXBREW: disconnected -> active" in out


def _link(capsys, store_path) -> dict:
    _, out, _ = cli(capsys, store_path, "reconnect", "SXBREW", "--auth-url", "--json")
    return json.loads(out)


def test_wrong_state(capsys, store_path, real) -> None:
    ended_on = browse(_link(capsys, store_path)["url"])
    forged = ended_on.replace("state=", "state=x")
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", forged)
    assert code == 1 and "state matches no consent link" in one_error_line(err)
    assert "--auth-url" in one_error_line(err)
    assert _state_of(store_path, "SXBREW") == "disconnected"


def test_expired_state(capsys, store_path, real, monkeypatch) -> None:
    ended_on = browse(_link(capsys, store_path)["url"])
    store_clock.advance(11 * 60)
    monkeypatch.setenv(store_clock.ENV, iso(NOW + timedelta(minutes=11)))
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    line = one_error_line(err)
    assert code == 1 and "expired at 2026-11-24T12:10:00Z" in line and "10 minutes" in line
    assert not any(f.get("grant_type") == "authorization_code" for f in real.token_forms)


def test_state_for_another_organisation(capsys, store_path, real) -> None:
    ended_on = browse(_link(capsys, store_path)["url"])
    code, _, err = cli(capsys, store_path, "reconnect", "COPPER", "--redirect-url", ended_on)
    assert code == 1 and "made for SXBREW, not COPPER" in one_error_line(err)


def test_access_denied(capsys, store_path, real) -> None:
    real.consent_error = "access_denied"
    ended_on = browse(_link(capsys, store_path)["url"])
    assert "error=access_denied" in ended_on
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    assert code == 1 and "declined the consent (error=access_denied)" in one_error_line(err)
    # Xero's own error redirect without a state is just as clear
    bare = "http://localhost:8765/callback?" + urlencode({"error": "access_denied"})
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", bare)
    assert code == 1 and "declined" in one_error_line(err)


def test_consent_that_grants_no_organisation(capsys, store_path, real) -> None:
    real.tenants = {}
    ended_on = browse(_link(capsys, store_path)["url"])
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    assert code == 1 and "granted no organisation for SXBREW" in one_error_line(err)
    assert _state_of(store_path, "SXBREW") == "disconnected"


def test_address_without_state_or_code(capsys, store_path, real) -> None:
    code, _, err = cli(
        capsys, store_path, "reconnect", "SXBREW", "--redirect-url", "http://localhost:8765/x"
    )
    assert code == 1 and "no state parameter" in one_error_line(err)


def test_bare_reconnect_against_real_xero_names_the_options(capsys, store_path, real) -> None:
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW")
    line = one_error_line(err)
    assert code == 1 and "reconnect SXBREW --auth-url" in line and "--redirect-url" in line


def test_options_exclude_each_other(capsys, store_path, real) -> None:
    code, _, err = cli(
        capsys, store_path, "reconnect", "SXBREW", "--auth-url", "--redirect-url", "x"
    )
    assert code == 2 and "Choose one of --auth-url" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_listen_catches_the_browser_over_loopback(store_path, real, monkeypatch) -> None:
    """The whole flow in a real process: the link printed, the browser (here httpx) sent
    through Xero's consent to the listener on the redirect URI's port, the reconnect done."""
    port = _free_port()
    redirect = f"http://localhost:{port}/callback"
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", redirect)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui",
            "--db",
            str(store_path),
            "reconnect",
            "SXBREW",
            "--listen",
            "--wait",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    try:
        url = ""
        while not url:
            line = process.stdout.readline()
            assert line, process.stderr.read()
            if line.strip().startswith(real.login_url):
                url = line.strip()

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening)
        ended_on = browse(url)
        assert ended_on.startswith(redirect + "?")
        page = httpx.get(ended_on.replace("localhost", "127.0.0.1"))
        assert page.status_code == 200 and "you can close this tab" in page.text
        out, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "SXBREW: disconnected -> active" in out and "Traceback" not in err
    assert _state_of(store_path, "SXBREW") == "active"


def test_listen_needs_a_redirect_uri_on_this_machine(capsys, store_path, real, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", "https://support.example.com/cb")
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--listen")
    assert code == 1 and "cannot listen for it" in one_error_line(err)


def test_listen_gives_up_at_its_deadline(capsys, store_path, real, monkeypatch) -> None:
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", f"http://127.0.0.1:{_free_port()}/cb")
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--listen", "--wait", "1")
    assert code == 1 and "No browser arrived" in one_error_line(err)
    assert _state_of(store_path, "SXBREW") == "disconnected"


def test_refresh_run_reconnect_step_with_consent(capsys, store_path, real) -> None:
    """The run's reconnect step against the real Xero takes the consent's address."""
    db = ("--db", str(store_path))
    code, _, err = run_cli(capsys, *db, "run", "start", "SXBREW", "--actor", "alice")
    assert code == 0, err
    for _ in range(6):
        _, out, _ = run_cli(capsys, *db, "run", "show", "SXBREW", "--json")
        run = json.loads(out)
        current = None if run["current"] is None else run["steps"][run["current"]]
        if current is None or current["name"] == "reconnect":
            break
        run_cli(capsys, *db, "run", "next", "SXBREW", "--actor", "alice", "--confirm", "SXBREW")
    assert current is not None and current["name"] == "reconnect"
    code, _, err = run_cli(capsys, *db, "run", "next", "SXBREW", "--actor", "alice")
    assert code == 1 and "reconnect SXBREW --auth-url" in one_error_line(err)
    ended_on = browse(_link(capsys, store_path)["url"])
    code, out, err = run_cli(
        capsys,
        *db,
        "run",
        "next",
        "SXBREW",
        "--actor",
        "alice",
        "--redirect-url",
        ended_on,
        "--json",
    )
    assert code == 0, err
    reconnect_step = next(s for s in json.loads(out)["steps"] if s["name"] == "reconnect")
    assert reconnect_step["status"] == "done"
    assert _state_of(store_path, "SXBREW") == "active"


def test_a_code_xero_no_longer_takes(capsys, store_path, real) -> None:
    ended_on = browse(_link(capsys, store_path)["url"])
    real.codes.clear()  # five minutes passed at Xero, or the code was used elsewhere
    code, _, err = cli(capsys, store_path, "reconnect", "SXBREW", "--redirect-url", ended_on)
    line = one_error_line(err)
    assert code == 1 and "authorisation code (invalid_grant)" in line and "--auth-url" in line
    assert _state_of(store_path, "SXBREW") == "disconnected"
