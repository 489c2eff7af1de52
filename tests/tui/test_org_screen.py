"""The organisation screen: what the state means, mappings checked live, and every action
through its modal and the store, against the embedded Xero sandbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from support import notified, plant, settle, until
from textual.widgets import Button, Checkbox, Input, OptionList, Static

from store.db import open_store
from store.errors import StoreBusy, VersionConflict
from store.history import audit_trail, snapshots
from store.orgs import show_org
from store.transitions import deactivate, integration, uninstall
from tui.app import SyncdeskApp
from tui.screens.dashboard import DashboardScreen
from tui.screens.org import OrgScreen
from tui.widgets.modals import ChooseCode, Confirm, ConfirmTyped, ReconnectChoice

SIZES = [(80, 24), (120, 40)]
SECTIONS = (
    "#org-status",
    "#org-check",
    "#org-queue",
    "#org-errors",
    "#org-mappings",
    "#org-settings",
    "#org-audit",
)
HOSTILE = ("[bold]x[/]", "[@click=app.quit]y[/]", "\x1b[2J")


@pytest.fixture(autouse=True)
def sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything talks to the embedded sandbox: no network, no long backoffs."""
    for name in (
        "SYNCDESK_XERO_CLIENT_ID",
        "SYNCDESK_XERO_CLIENT_SECRET",
        "SYNCDESK_XERO_API_URL",
        "SYNCDESK_XERO_IDENTITY_URL",
        "SYNCDESK_XERO_RETRIES",
        "SYNCDESK_XERO_TIMEOUT",
        "SYNCDESK_DB",
    ):
        monkeypatch.delenv(name, raising=False)


async def _open(pilot, code: str) -> OrgScreen:
    await settle(pilot)
    pilot.app.open_org(code)
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, OrgScreen) and screen.code == code
    return screen


def _text(screen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


def _active_keys(screen) -> set[str]:
    return set(screen.active_bindings)


def _state(path: Path, code: str):
    db = open_store(path)
    try:
        return integration(db, code)
    finally:
        db.conn.close()


def _detail(path: Path, code: str):
    db = open_store(path)
    try:
        return show_org(db, code)
    finally:
        db.conn.close()


# --- what the screen shows -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
async def test_status_says_what_the_state_means_and_what_is_allowed(
    store_path: Path, size: tuple[int, int]
) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=size) as pilot:
        screen = await _open(pilot, "SXBREW")
        status = _text(screen, "#org-status")
        assert "State: disconnected" in status
        assert "nothing reaches Xero; settings and mappings are kept" in status
        assert "Southern Cross Brewing Pty Ltd  2a9d4c1e-7b3f-4e8a-b6d2-1c5f9e7a3b40" in status
        assert "Allowed from here: uninstall, reconnect" in status
        assert "pending 6  held 0  failed 4" in _text(screen, "#org-queue")
        errors = _text(screen, "#org-errors")
        assert "connection_removed: 1 in 1 org" in errors and "fix: Treat the integration" in errors
        assert "export_trigger" in _text(screen, "#org-settings")
        assert "mark_disconnected active->disconnected" in _text(screen, "#org-audit")
        assert not screen.query_one("#org-check").display
        for selector in SECTIONS:  # laid out at this size, scrolled into view or not
            if selector != "#org-check":
                assert screen.query_one(selector).size.width > size[0] // 2


@pytest.mark.parametrize("size", SIZES)
async def test_mappings_are_checked_against_the_tenant(
    store_path: Path, size: tuple[int, int]
) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=size) as pilot:
        screen = await _open(pilot, "KAURI")
        lines = _text(screen, "#org-mappings").splitlines()[1:]
        bad = [line for line in lines if "group:Online" in line]
        assert len(bad) == 1 and bad[0].startswith("✗") and "-> 220" in bad[0]
        assert "does not exist in Xero" in bad[0]
        good = [line for line in lines if "->" in line and "group:Online" not in line]
        assert len(good) == 11 and all(line.startswith("✓") for line in good)
        assert "1 to fix: press m" in lines
        assert "?" not in "".join(line[0] for line in lines if "->" in line)


async def test_status_offers_retry_only_when_active(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "SXBREW")
        allowed = next(
            line for line in _text(screen, "#org-status").splitlines() if "Allowed" in line
        )
        assert "retry" not in allowed and "t" not in _active_keys(screen)


async def test_unchecked_mappings_do_not_claim_a_check_is_running(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "SXBREW")
        assert "checking" not in _text(screen, "#org-mappings")


async def test_only_the_allowed_actions_are_active(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "SXBREW")
        keys = _active_keys(screen)
        assert {"c", "u", "k", "l", "r", "escape"} <= keys
        assert not {"d", "a", "t", "m"} & keys
        assert screen.check_action("deactivate", ()) is False
        await pilot.press("d", "a", "t", "m")
        await settle(pilot)
        assert app.screen is screen
        assert _state(store_path, "SXBREW").state == "disconnected"

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        screen = await _open(pilot, "HARBOUR")
        keys = _active_keys(screen)
        assert {"d", "u", "t", "k"} <= keys
        assert not {"a", "c", "m"} & keys  # HARBOUR's mappings are all valid: nothing to fix

        await pilot.press("escape")
        screen = await _open(pilot, "COPPER")
        assert {"c"} <= _active_keys(screen)
        assert not {"d", "a", "u", "t", "m"} & _active_keys(screen)

        await pilot.press("escape")
        screen = await _open(pilot, "KELP")
        assert {"a", "u"} <= _active_keys(screen)
        assert not {"d", "c", "t"} & _active_keys(screen)


# --- actions -------------------------------------------------------------------------------


async def test_deactivate_asks_then_activate_switches_back(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "HARBOUR")
        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        assert _state(store_path, "HARBOUR").state == "active"

        await pilot.press("d")
        await settle(pilot)
        assert isinstance(app.screen, Confirm)
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is screen
        after = _state(store_path, "HARBOUR")
        assert (after.state, after.version) == ("inactive", 2)
        db = open_store(store_path)
        trail = audit_trail(db, "HARBOUR", limit=5)
        db.conn.close()
        assert (trail[0].action, trail[0].before_state, trail[0].after_state) == (
            "deactivate",
            "active",
            "inactive",
        )
        assert "State: inactive" in _text(screen, "#org-status")
        assert "deactivate active->inactive" in _text(screen, "#org-audit")
        assert "a" in _active_keys(screen) and "d" not in _active_keys(screen)

        await pilot.press("a")
        await settle(pilot)
        after = _state(store_path, "HARBOUR")
        assert (after.state, after.version) == ("active", 3)
        assert "State: active" in _text(screen, "#org-status")
        assert "d" in _active_keys(screen) and "a" not in _active_keys(screen)


async def test_uninstall_needs_the_code_typed(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KAURI")
        await pilot.press("u")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmTyped)
        body = "\n".join(str(s.render()) for s in modal.query(Static))
        assert "Removed:" in body and "Kept:" in body
        assert "12 mappings" in body and "Type KAURI to confirm" in body
        assert modal.query_one("#go", Button).disabled
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and _state(store_path, "KAURI").state == "active"

        await pilot.press("u")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ConfirmTyped)
        assert app.focused is modal.query_one("#typed", Input)
        await pilot.press(*"KAUR")
        assert modal.query_one("#go", Button).disabled
        await pilot.press("enter")  # not yet the code: enter does nothing
        await pilot.pause()
        assert app.screen is modal
        await pilot.press("I")
        assert not modal.query_one("#go", Button).disabled
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        assert _state(store_path, "KAURI").state == "uninstalled"
        db = open_store(store_path)
        found = snapshots(db, "KAURI")
        db.conn.close()
        assert len(found) == 1 and len(found[0].mappings) == 12
        assert "State: uninstalled" in _text(screen, "#org-status")


async def test_nothing_to_fix_after_an_uninstall(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KAURI")
        assert "m" in _active_keys(screen)
        await pilot.press("u")
        await settle(pilot)
        await pilot.press(*"KAURI", "enter")
        await settle(pilot)
        assert _state(store_path, "KAURI").state == "uninstalled"
        assert _text(screen, "#org-mappings") == "Mappings\n(none)"
        assert "m" not in _active_keys(screen)


async def test_reconnect_to_the_previous_tenant(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "SXBREW")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, ReconnectChoice)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and _state(store_path, "SXBREW").state == "disconnected"

        await pilot.press("c")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ReconnectChoice)
        tenants = modal.query_one("#tenants", OptionList)
        chosen = tenants.get_option_at_index(tenants.highlighted)
        assert chosen.id == modal.previous_id == "2a9d4c1e-7b3f-4e8a-b6d2-1c5f9e7a3b40"
        assert "(previous)" in str(chosen.prompt)
        assert not modal.query_one("#accept", Checkbox).display
        assert not modal.query_one("#go", Button).disabled
        assert str(modal.query_one("#warning", Static).render()) == ""
        await pilot.press("enter")  # enter chooses the highlighted tenant and reconnects
        await settle(pilot)
        assert app.screen is screen
        after = _state(store_path, "SXBREW")
        assert after.state == "active" and after.tenant_id == modal.previous_id
        assert "State: active" in _text(screen, "#org-status")


async def test_a_different_tenant_needs_the_box_ticked(store_path: Path) -> None:
    db = open_store(store_path)
    # GREEN is on Demo Company (AU), an unconfirmed change: its own organisation stays previous
    uninstall(db, "GREEN", confirm="GREEN")
    db.conn.close()
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "GREEN")
        await pilot.press("c")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ReconnectChoice)
        assert modal.previous_name == "Greenfield Garden Centre Pty Ltd"
        tenants = modal.query_one("#tenants", OptionList)
        assert tenants.get_option_at_index(tenants.highlighted).id == modal.previous_id
        go = modal.query_one("#go", Button)
        accept = modal.query_one("#accept", Checkbox)
        assert not go.disabled and not accept.display

        await pilot.press("down")  # Demo Company (AU): a different Xero organisation
        warning = modal.query_one("#warning", Static)
        assert "DIFFERENT XERO ORGANISATION" in str(warning.render())
        assert warning.has_class("-loud")
        assert accept.display and not accept.value
        assert go.disabled
        await pilot.press("enter")  # choosing it moves the focus to the box, not the button
        assert app.focused is accept
        await pilot.press("space")
        assert accept.value and not go.disabled
        assert app.focused is go  # ticked: enter now reconnects
        tenants.focus()
        await pilot.press("up")  # back to the previous tenant: no warning, box hidden
        assert str(warning.render()) == "" and not accept.display and not go.disabled
        await pilot.press("down")
        assert accept.display and accept.value and not go.disabled
        go.press()
        await settle(pilot)
        assert app.screen is screen
        after = _state(store_path, "GREEN")
        assert after.state == "active"
        assert after.tenant_name == "Demo Company (AU)"
        assert "TENANT CHANGED" in _text(screen, "#org-audit")


async def test_fix_a_mapping_then_retry_the_failed_exports(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await _open(pilot, "KAURI")
        assert "m" in _active_keys(screen)
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ChooseCode)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        mappings = {(m.kind, m.local): m.remote for m in _detail(store_path, "KAURI").mappings}
        assert mappings[("sales_account", "group:Online")] == "220"  # escape changed nothing
        await pilot.press("m")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ChooseCode)
        codes = modal.query_one("#codes", OptionList)
        ids = [codes.get_option_at_index(i).id for i in range(codes.option_count)]
        assert ids == ["200", "210"]
        assert app.focused is codes
        codes.highlighted = ids.index("210")
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is screen
        mappings = {(m.kind, m.local): m.remote for m in _detail(store_path, "KAURI").mappings}
        assert mappings[("sales_account", "group:Online")] == "210"
        lines = _text(screen, "#org-mappings").splitlines()[1:]
        assert any(line.startswith("✓") and "group:Online" in line for line in lines)
        assert not any(line.startswith("✗") for line in lines)
        assert "m" not in _active_keys(screen)

        assert _detail(store_path, "KAURI").queue["failed"] == 9
        await pilot.press("t")
        await settle(pilot)
        assert _detail(store_path, "KAURI").queue.get("failed", 0) == 0
        assert "failed 0" in _text(screen, "#org-queue")


async def test_check_shows_the_live_findings(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KAURI")
        assert not screen.query_one("#org-check").display
        await pilot.press("k")
        await settle(pilot)
        check = screen.query_one("#org-check", Static)
        assert check.display
        text = str(check.render())
        assert text.startswith("Live check")
        assert "✗" in text and "220" in text and "fix:" in text


# --- hostile strings -------------------------------------------------------------------------


def _plant_hostile(path: Path) -> None:
    name, tenant, local = HOSTILE
    conn = sqlite3.connect(path)
    with conn:
        harbour = conn.execute("SELECT id FROM orgs WHERE code = 'HARBOUR'").fetchone()[0]
        conn.execute("UPDATE orgs SET name = ? WHERE id = ?", (" ".join(HOSTILE), harbour))
        conn.execute(
            "UPDATE integrations SET tenant_name = ? WHERE org_id = ?", (" ".join(HOSTILE), harbour)
        )
        for value in HOSTILE:
            conn.execute(
                "INSERT INTO mappings(org_id, kind, local, remote) VALUES (?, 'tax_rate', ?, ?)",
                (harbour, value, value),
            )
        sx = conn.execute("SELECT id FROM orgs WHERE code = 'SXBREW'").fetchone()[0]
        conn.execute(
            "UPDATE integrations SET tenant_name = ? WHERE org_id = ?", (" ".join(HOSTILE), sx)
        )
    conn.close()


def _rendered(widget) -> str:
    """What the widget puts on the screen, line by line, segments and all."""
    return "\n".join(
        "".join(segment.text for segment in widget.render_line(y))
        for y in range(widget.size.height)
    )


@pytest.mark.parametrize("size", SIZES)
async def test_hostile_strings_are_shown_literally(store_path: Path, size: tuple[int, int]) -> None:
    _plant_hostile(store_path)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=size) as pilot:
        screen = await _open(pilot, "HARBOUR")
        status = _text(screen, "#org-status")
        mappings = _text(screen, "#org-mappings")
        shown = [r"[bold]x[/]", r"[@click=app.quit]y[/]", r"\x1b[2J"]
        for text in shown:
            assert status.count(text) == 2  # organisation name and tenant name
            assert text in mappings
        for selector in SECTIONS:
            content = _text(screen, selector)
            assert "\x1b" not in content
            assert "\x1b" not in _rendered(screen.query_one(selector))
        # the mapping lines are shown exactly, with no style picked up from the markup
        body = screen.query_one("#org-mappings", Static).render()
        assert not any("bold" in str(span.style) for span in getattr(body, "spans", [])[1:])
        await pilot.press("f5", "k")
        await settle(pilot)
        assert app.is_running and app.screen is screen

        await pilot.press("escape")
        screen = await _open(pilot, "SXBREW")
        assert _text(screen, "#org-status").count(r"[@click=app.quit]y[/]") == 1
        await pilot.press("c")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ReconnectChoice)
        body = "\n".join(str(s.render()) for s in modal.query(Static))
        assert r"Previously connected to [bold]x[/] [@click=app.quit]y[/] \x1b[2J" in body
        for widget in modal.query(Static):
            assert "\x1b" not in _rendered(widget)
        await pilot.press("escape")
        await settle(pilot)
        assert app.is_running and app.screen is screen


# --- other sessions, failures, bad rows ------------------------------------------------------


async def test_a_stale_deactivate_says_who_changed_it_and_reloads(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two consoles on HARBOUR: A deactivates; B, still showing active, presses d, y."""
    monkeypatch.setenv("LOGNAME", "alice")  # who A is (and B; the store tells them apart)
    monkeypatch.setattr(OrgScreen, "WATCH_SECONDS", 3600)  # B does not notice by itself
    app_a, app_b = SyncdeskApp(store_path), SyncdeskApp(store_path)
    async with app_a.run_test(size=(80, 24)) as a, app_b.run_test(size=(80, 24)) as b:
        screen_b = await _open(b, "HARBOUR")
        await _open(a, "HARBOUR")
        await a.press("d", "y")
        await settle(a)
        assert _state(store_path, "HARBOUR").state == "inactive"
        assert "State: active" in _text(screen_b, "#org-status")  # B is stale

        db = open_store(store_path)
        with pytest.raises(VersionConflict) as stale:  # what the command line says
            deactivate(db, "HARBOUR", expected_version=1)
        db.conn.close()
        await b.press("d")
        await settle(b)
        await b.press("y")
        await settle(b)
        assert f"{stale.value} The screen has been reloaded." in notified(app_b)
        assert "alice" in str(stale.value) and "2026-11-24" in str(stale.value)  # who, when
        assert "State: inactive" in _text(screen_b, "#org-status")
        assert "alice: deactivate active->inactive" in _text(screen_b, "#org-audit")
        assert "a" in _active_keys(screen_b) and "d" not in _active_keys(screen_b)
        assert _state(store_path, "HARBOUR").version == 2  # B changed nothing


async def test_another_sessions_change_reloads_the_screen(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OrgScreen, "WATCH_SECONDS", 0.05)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KELP")
        assert "State: inactive" in _text(screen, "#org-status")
        other = open_store(store_path)
        uninstall(other, "KELP", confirm="KELP", actor="bob")
        other.conn.close()
        await until(pilot, lambda: "State: uninstalled" in _text(screen, "#org-status"))
        assert "bob: uninstall inactive->uninstalled" in _text(screen, "#org-audit")
        assert "c" in _active_keys(screen) and "a" not in _active_keys(screen)


async def test_a_settings_value_that_is_not_json_leaves_the_rest_shown(store_path: Path) -> None:
    plant(
        store_path,
        "UPDATE settings SET value = '{not json' WHERE key = 'export_trigger' "
        "AND org_id = (SELECT id FROM orgs WHERE code = 'HARBOUR')",
        "INSERT INTO audit(at, org_id, actor, action) "
        "SELECT 'yesterday', id, 'carol', 'deactivate' FROM orgs WHERE code = 'HARBOUR'",
    )
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "HARBOUR")
        # The one bad setting is marked (store/badvalues.py); the integration reads as usual.
        assert "State: active" in _text(screen, "#org-status")
        assert "⚠ unreadable (not JSON): {not json" in _text(screen, "#org-settings")
        assert "export_sales_invoices" in _text(screen, "#org-settings")
        assert "⚠ yesterday carol: deactivate" in _text(screen, "#org-audit")
        assert _text(screen, "#org-errors").startswith("Error groups (7 days)")
        assert app.is_running


async def test_a_busy_store_is_said_and_nothing_changes(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("store.db.BUSY_TIMEOUT_MS", 200)  # wait 0.2 s for the lock, not 5 s
    monkeypatch.setattr("tui.screens.base.STORE_PATIENCE", 0.2)  # the console, not 10 s
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "HARBOUR")
        holder = sqlite3.connect(store_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another session is writing, and takes its time
        try:
            with pytest.raises(StoreBusy) as busy:  # what the command line says meanwhile
                deactivate(open_store(store_path), "HARBOUR")
            await pilot.press("d")
            await settle(pilot)
            await pilot.press("y")
            await settle(pilot)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert str(busy.value) in notified(app)
        assert app.screen is screen and "State: active" in _text(screen, "#org-status")
    assert _state(store_path, "HARBOUR").state == "active"


async def test_a_bad_time_or_blob_text_is_marked_in_the_status(store_path: Path) -> None:
    plant(
        store_path,
        "UPDATE integrations SET state_changed_at = 'last Tuesday', "
        "tenant_name = X'4B656C70FF626F6F6B73' "  # 'Kelp?books' with a byte that is not UTF-8
        "WHERE org_id = (SELECT id FROM orgs WHERE code = 'KELP')",
    )
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KELP")
        status = _text(screen, "#org-status")
        assert "State: inactive since ⚠ last Tuesday by" in status
        assert "Xero organisation: Kelp\\xffbooks" in status  # the bad byte shown, not a crash
        assert "a" in _active_keys(screen)  # the actions that do not need them still work
