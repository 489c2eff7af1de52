"""The console's consent step against a real Xero (the loopback stub): the link in full as an
OSC 8 link, `y` copies it, and the step completes from a pasted address or through the
listener on the redirect URI's port; the header says when syncdesk talks to the sandbox."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from support import notified, settle, until
from textual.widgets import Input, Static

from store.db import open_store
from store.transitions import integration
from tui.app import SyncdeskApp
from tui.screens.org import OrgScreen
from tui.widgets.consent import ConsentDialog
from tui.widgets.modals import ReconnectChoice


def _tenant(store_path: Path, code: str) -> tuple[str, str]:
    db = open_store(store_path)
    try:
        current = integration(db, code)
        return current.tenant_id, current.tenant_name
    finally:
        db.conn.close()


def _state(store_path: Path, code: str) -> str:
    db = open_store(store_path)
    try:
        return integration(db, code).state
    finally:
        db.conn.close()


@pytest.fixture
def real(stub_env, store_path):
    tenant_id, name = _tenant(store_path, "SXBREW")
    stub_env.tenants = {tenant_id: name}
    return stub_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _consent_dialog(pilot) -> ConsentDialog:
    await settle(pilot)
    pilot.app.open_org("SXBREW")
    await settle(pilot)
    assert isinstance(pilot.app.screen, OrgScreen)
    await pilot.press("c")
    await until(pilot, lambda: isinstance(pilot.app.screen, ConsentDialog))
    return pilot.app.screen


def _browse(url: str) -> str:
    response = httpx.get(url, follow_redirects=False)
    assert response.status_code == 302
    return response.headers["Location"]


async def _finish(pilot, store_path: Path) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, ReconnectChoice))
    await pilot.press("enter")
    await pilot.press("enter")
    await until(pilot, lambda: _state(store_path, "SXBREW") == "active")


async def test_consent_link_copied_and_address_pasted(store_path, real) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await _consent_dialog(pilot)
        url = dialog.link.url
        assert url.startswith(real.login_url) and "code_challenge_method=S256" in url
        shown = dialog.query_one("#consent-url", Static).render()
        assert str(shown) == url  # in full
        assert any(span.style.link == url for span in shown.spans)  # an OSC 8 link
        await pilot.press("y")
        assert app.clipboard == url
        assert "Consent link copied (OSC 52)." in notified(app)
        pasted = dialog.query_one("#pasted", Input)
        pasted.value = _browse(url)
        pasted.focus()
        await pilot.press("enter")
        await _finish(pilot, store_path)


async def test_consent_caught_by_the_listener(store_path, real, monkeypatch) -> None:
    port = _free_port()
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", f"http://localhost:{port}/callback")
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await _consent_dialog(pilot)
        status = str(dialog.query_one("#consent-status", Static).render())
        assert f"ssh -L {port}:localhost:{port}" in status

        def listening() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        await until(pilot, listening)
        ended_on = _browse(dialog.link.url).replace("localhost", "127.0.0.1")
        async with httpx.AsyncClient() as browser:
            page = await browser.get(ended_on)
        assert page.status_code == 200
        await _finish(pilot, store_path)


async def test_cancelled_consent_changes_nothing(store_path, real) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await _consent_dialog(pilot)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, OrgScreen))
        assert any("no consent was given" in m for m in notified(app))
        assert _state(store_path, "SXBREW") == "disconnected"


async def test_declined_consent_is_one_clear_line(store_path, real) -> None:
    real.consent_error = "access_denied"
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = await _consent_dialog(pilot)
        pasted = dialog.query_one("#pasted", Input)
        pasted.value = _browse(dialog.link.url)
        pasted.focus()
        await pilot.press("enter")
        await until(pilot, lambda: any("declined" in m for m in notified(app)))
        assert _state(store_path, "SXBREW") == "disconnected"


def test_header_says_sandbox(store_path, monkeypatch) -> None:
    app = SyncdeskApp(store_path)
    assert "Xero sandbox" in str(app.format_title("syncdesk", ""))
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "id")
    assert "INVALID" in str(app.format_title("syncdesk", ""))
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", "http://localhost:8765/cb")
    assert "sandbox" not in str(app.format_title("syncdesk", ""))


async def test_dashboard_filter_reconsent(store_path) -> None:
    from tui.screens.dashboard import DashboardScreen

    app = SyncdeskApp(store_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await pilot.press("slash")
        await pilot.press(*"reconsent")
        await until(pilot, lambda: {o.code for o in screen.orgs} == {"GREEN", "IRONBARK", "KELP"})
        assert all(o.needs_reconsent for o in screen.orgs)


async def test_refresh_wizard_reconnect_step_asks_for_consent(store_path, real) -> None:
    from tui.screens.wizard import WizardScreen

    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(WizardScreen(store_path, "SXBREW", actor="tester"))
        await settle(pilot)
        for _ in range(2):  # start, diagnose
            await pilot.press("enter")
            await settle(pilot)
        await pilot.press("enter")  # uninstall: typed confirmation
        await settle(pilot)
        await pilot.press(*"SXBREW", "enter")
        await until(pilot, lambda: _state(store_path, "SXBREW") == "uninstalled")
        await settle(pilot)
        await pilot.press("enter")  # reconnect: the consent step first
        await until(pilot, lambda: isinstance(app.screen, ConsentDialog))
        dialog = app.screen
        pasted = dialog.query_one("#pasted", Input)
        pasted.value = _browse(dialog.link.url)
        pasted.focus()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ReconnectChoice))
        app.screen.query_one("#go").press()
        await until(pilot, lambda: _state(store_path, "SXBREW") == "active")


async def test_consent_dialog_fits_80x24_and_lets_the_app_settle(store_path, real) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await _consent_dialog(pilot)
        await settle(pilot)  # the listener waits for a person; everything else settles
        assert app.screen is dialog
        for selector in ("#consent-url", "#consent-status", "#pasted", "#go", "#copy"):
            region = dialog.query_one(selector).region
            assert region.width > 0 and region.bottom <= 24 and region.right <= 80
        assert dialog.query_one("#pasted").region.width > 60  # a whole address fits
