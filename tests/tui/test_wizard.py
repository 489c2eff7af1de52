"""The refresh wizard driven end to end with the keyboard, for each broken sample org."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import notified, settle, until
from wizard_pilot import confirm_uninstall, open_and_diagnose, open_wizard, perform

from store.db import open_store
from store.errors import RunClaimed, UnknownOrganisation
from store.history import snapshots
from store.orgs import show_org
from store.runs import latest_run, start_run, take_over
from store.transitions import integration
from tui.app import SyncdeskApp
from tui.screens.wizard import WizardScreen
from tui.widgets.modals import ChooseCode, ReconnectChoice


@pytest.fixture(autouse=True)
def packets_in_tmp(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))  # escalation packets go here


def wizard_text(app: SyncdeskApp) -> str:
    screen = app.screen_stack[-1]
    if not isinstance(screen, WizardScreen):
        screen = next(s for s in app.screen_stack if isinstance(s, WizardScreen))
    return "\n".join(
        str(screen.query_one(f"#{i}").render())
        for i in ("stepper", "claim", "step", "result", "diagnosis")
    )


async def reconnect(pilot, *, other_tenant: bool = False) -> None:
    await perform(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ReconnectChoice)
    if other_tenant:
        ids = [t.tenant_id for t in dialog.tenants]
        target = next(i for i, t in enumerate(ids) if t != dialog.previous_id)
        dialog.query_one("#tenants").highlighted = target
        await pilot.pause()
        assert dialog.query_one("#go").disabled  # loud warning: not without the tick
        assert "DIFFERENT" in str(dialog.query_one("#warning").render())
        dialog.query_one("#accept").value = True
        await pilot.pause()
    dialog.query_one("#go").press()
    await settle(pilot)


def state(path: Path, code: str) -> str:
    db = open_store(path)
    try:
        return integration(db, code).state
    finally:
        db.conn.close()


def run_status(path: Path, code: str) -> str:
    db = open_store(path)
    try:
        return latest_run(db, code).status
    finally:
        db.conn.close()


async def test_diagnosis_comes_first_and_nothing_changes(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_wizard(pilot, store_path, "KAURI")
        text = wizard_text(app)
        assert "Diagnosis" in text and "Verdict" in text
        assert "unlikely to help" in text and "with the m key (Fix mapping)" in text
        assert "syncdesk " not in text  # the console names its keys, not shell commands
        assert "Press enter to start" in text
    db = open_store(store_path)
    assert latest_run(db, "KAURI") is None and integration(db, "KAURI").version == 1


async def test_app_removed_in_xero_resolves(store_path: Path) -> None:
    """SXBREW: deactivate and the first verify are skipped; uninstall, reconnect, verify."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "SXBREW")
        assert "refresh sequence will likely help" in wizard_text(app)
        assert app.screen.check_action("override", ()) is False  # the verdict plans it: no f
        await perform(pilot)  # start
        await perform(pilot)  # diagnose
        text = wizard_text(app)
        assert "– 2 Deactivate" in text and "▶ 4 Uninstall" in text
        await confirm_uninstall(pilot, "SXBREW")
        assert state(store_path, "SXBREW") == "uninstalled"
        text = wizard_text(app)  # the run's own next step reconnects, not the org screen's c
        assert "the next step (enter: Reconnect) restores it" in text
        assert "c key" not in text and "organisation screen" not in text
        assert app.screen.check_action("override", ()) is not True  # planned: no f
        await reconnect(pilot)
        assert state(store_path, "SXBREW") == "active"
        await perform(pilot)  # verify
        text = wizard_text(app)
        assert "Resolved" in text
        # the diagnosis on show is from before the run: it says so
        assert "Diagnosis made at 2026-11-24T12:00:00Z, before the run ended" in text
        run = latest_run(open_store(store_path), "SXBREW")
        await pilot.press("enter")  # a closed run is not restarted by enter
        await settle(pilot)
        assert latest_run(open_store(store_path), "SXBREW").id == run.id
        assert any("was resolved; press s to start a new one" in n for n in notified(app))
    assert run_status(store_path, "SXBREW") == "resolved"


async def test_expired_token_resolves_after_reconnect(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_diagnose(pilot, store_path, "WATTLE")
        await perform(pilot)  # deactivate, cannot switch back on (invalid_grant)
        assert "could not be switched back on" in wizard_text(app)
        assert state(store_path, "WATTLE") == "inactive"
        # verify was skipped (nothing can be exported while inactive): uninstall is next
        await confirm_uninstall(pilot, "WATTLE")
        await reconnect(pilot)
        await perform(pilot)
    assert run_status(store_path, "WATTLE") == "resolved"
    db = open_store(store_path)
    assert show_org(db, "WATTLE").queue["failed"] == 0


async def test_wrong_tenant_goes_back_to_its_own_books(store_path: Path) -> None:
    """GREEN was reconnected to a demo company; the wizard moves it back to its own books."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "GREEN")
        for _ in range(4):  # start, diagnose, deactivate, verify (still failing)
            await perform(pilot)
        await confirm_uninstall(pilot, "GREEN")
        await reconnect(pilot)  # the default: its own organisation, no warning
        await perform(pilot)
    db = open_store(store_path)
    current = integration(db, "GREEN")
    assert current.tenant_name == "Greenfield Garden Centre Pty Ltd"
    assert current.previous_tenant_name == "Greenfield Garden Centre Pty Ltd"
    assert latest_run(db, "GREEN").status == "resolved"


async def test_choosing_another_organisation_is_a_loud_explicit_choice(store_path: Path) -> None:
    """GREEN moved on purpose to another organisation: the dialog warns and wants the tick."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "GREEN")
        for _ in range(4):
            await perform(pilot)
        await confirm_uninstall(pilot, "GREEN")
        await reconnect(pilot, other_tenant=True)
    db = open_store(store_path)
    current = integration(db, "GREEN")
    assert current.tenant_name == "Demo Company (AU)" and current.tenant_confirmed_by


async def test_missing_account_fixed_before_any_uninstall(store_path: Path) -> None:
    """KAURI: the verdict is a mapping; m picks 210 from the tenant's list before anything is
    uninstalled, and the run never offers an uninstall."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "KAURI")
        assert "m fixes a failing mapping now" in wizard_text(app)
        await perform(pilot)  # start
        await perform(pilot)  # diagnose: plans map, then verify
        text = wizard_text(app)
        assert "▶ 2 Fix mappings" in text and "Uninstall" not in text
        await perform(pilot)  # map, before the fix: refused, and the run says why
        assert any("valid codes: 200, 210" in n for n in notified(app))
        assert "1 mapping of KAURI still fails" in wizard_text(app)
        assert "syncdesk " not in wizard_text(app)  # the console names its keys
        assert any("the m key (Fix mapping)" in n for n in notified(app))
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ChooseCode)
        codes = [o.id for o in app.screen.query_one("#codes")._options]
        assert codes == ["200", "210"]
        await pilot.press("down", "enter")
        await settle(pilot)
        await perform(pilot)  # map: every mapping valid now
        await perform(pilot)  # verify: clean
        assert "Resolved" in wizard_text(app)
        # the diagnosis from before the run no longer offers its mapping fix or an override
        assert app.screen.check_action("fix_mapping", ()) is False
        assert app.screen.check_action("override", ()) is False
        assert app.screen.check_action("start_new", ()) is True
    db = open_store(store_path)
    remote = {(m.kind, m.local): m.remote for m in show_org(db, "KAURI").mappings}
    assert remote[("sales_account", "group:Online")] == "210"
    assert latest_run(db, "KAURI").status == "resolved"
    assert snapshots(db, "KAURI") == []  # nothing was uninstalled


async def test_refresh_anyway_asks_why(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_diagnose(pilot, store_path, "KAURI")
        await pilot.press("f")
        await settle(pilot)
        await pilot.press(*"customer insists", "enter")
        await settle(pilot)
        text = wizard_text(app)
        assert "Uninstall" in text and "customer insists" in text
    run = latest_run(open_store(store_path), "KAURI")
    assert run.override_reason == "customer insists" and run.override_by == "tester"


async def test_after_an_escalation_enter_does_not_start_a_run(store_path: Path) -> None:
    """BRIGHT: the archived tax rate is left alone, the run escalated; the packet is shown
    and a new run needs s."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "BRIGHT")
        assert "unlikely to help" in wizard_text(app)
        await perform(pilot)  # start
        await perform(pilot)  # diagnose
        await pilot.press("n")
        await settle(pilot)
        await pilot.press(*"TAX001 archived by the customer's accountant", "enter")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        await pilot.press("y")  # yes in the confirm dialog
        await settle(pilot)
        text = wizard_text(app)
        assert "Escalated" in text and "Press s to start a new run" in text
        screen = app.screen
        assert screen.summary and "BRIGHT" in screen.summary
        run = latest_run(open_store(store_path), "BRIGHT")
        assert f"Packet: {run.packet}" in text
        await pilot.press("enter")  # not a new run
        await settle(pilot)
        assert latest_run(open_store(store_path), "BRIGHT").id == run.id
        assert any("press s to start a new one" in n for n in notified(app))
        await pilot.press("s")
        await settle(pilot)
        assert latest_run(open_store(store_path), "BRIGHT").id == run.id + 1
    packet = Path(run.packet).read_text()
    assert "TAX001 archived by the customer's accountant" in packet
    assert "tax_type_invalid" in packet and "## Verdict" in packet


async def test_killed_mid_run_resumes_at_its_step(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_and_diagnose(pilot, store_path, "WATTLE")
        await perform(pilot)  # diagnose and deactivate done
    # the session dropped; a new one opens the wizard on the same organisation
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "WATTLE")
        text = wizard_text(app)
        assert "✓ 1 Diagnose" in text and "✓ 2 Deactivate" in text
        assert "▶ 4 Uninstall" in text and "Step 4: Uninstall" in text


async def test_someone_elses_run_is_shown_and_taken_over_explicitly(store_path: Path) -> None:
    db = open_store(store_path)
    start_run(db, "KELP", actor="alice")
    db.conn.close()
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "KELP", actor="bob")
        text = wizard_text(app)
        assert "claimed by alice since" in text and "Press o to take it over" in text
        await pilot.press("enter")  # not bob's run: nothing happens
        await settle(pilot)
        assert latest_run(open_store(store_path), "KELP").steps[0].status == "todo"
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert "claimed by" not in wizard_text(app)
    run = latest_run(open_store(store_path), "KELP")
    assert run.claimed_by == "bob" and any("took the run over" in n.text for n in run.notes)


# --- other sessions and failures -------------------------------------------------------------


async def test_a_run_started_meanwhile_by_someone_else_is_said_and_shown(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WizardScreen, "WATCH_SECONDS", 3600)  # bob's screen stays as it was
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "KELP", actor="bob")
        assert "Press enter to start" in wizard_text(app)
        db = open_store(store_path)
        start_run(db, "KELP", actor="alice")
        with pytest.raises(RunClaimed) as refused:  # what the command line says to bob
            start_run(db, "KELP", actor="bob")
        db.conn.close()
        await perform(pilot)  # bob starts one too: alice was first
        # the command line's sentence, its commands named as the wizard's keys
        said = str(refused.value).replace("`syncdesk run show KELP`", "the stepper on the left")
        said = said.replace("--take-over", "the o key (Take over)")
        assert f"{said} The screen has been reloaded." in notified(app)
        assert "alice" in str(refused.value)
        text = wizard_text(app)
        assert "claimed by alice since" in text and "Press o to take it over" in text
        assert not app.screen.busy
    assert latest_run(open_store(store_path), "KELP").claimed_by == "alice"


async def test_a_colleagues_run_appears_without_a_key(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(WizardScreen, "WATCH_SECONDS", 0.05)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "KELP", actor="bob")
        db = open_store(store_path)
        start_run(db, "KELP", actor="alice")
        db.conn.close()
        await until(pilot, lambda: "claimed by alice since" in wizard_text(app))
        assert "o" in app.screen.active_bindings


async def test_a_failed_load_is_notified(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "NOPE")
        assert str(UnknownOrganisation("NOPE")) in notified(app)
        assert app.is_running


async def test_a_take_over_from_another_session_is_seen_and_named(store_path: Path) -> None:
    """bob's wizard holds the run; alice takes it over from another session: within the
    wizard's 2 s poll bob sees who took it, and is not left waiting on "Working…"."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "KELP", actor="bob")
        await perform(pilot)  # bob starts the run
        assert latest_run(open_store(store_path), "KELP").claimed_by == "bob"
        db = open_store(store_path)
        take_over(db, "KELP", actor="alice")
        db.conn.close()
        assert WizardScreen.WATCH_SECONDS <= 2
        await until(pilot, lambda: "alice took this run over" in wizard_text(app), timeout=3)
        assert any("alice took this run over" in n for n in notified(app))
        assert "claimed by alice since" in wizard_text(app)
        assert not app.screen.busy and "o" in app.screen.active_bindings


async def test_an_empty_choice_of_codes_says_why(store_path: Path, tmp_path: Path) -> None:
    """An organisation built here whose tenant archived every revenue account: m opens the
    picker, which says there is nothing to choose and what to do, instead of a dead end."""
    from builders import build_org

    db = open_store(store_path)
    archived = [{"code": c, "status": "ARCHIVED"} for c in ("200", "210", "220", "260")]
    build_org(
        db,
        tmp_path / "built",
        "ZNONE",
        tenant={"accounts": archived},
        mappings=[{"kind": "sales_account", "local": "default", "remote": "200"}],
        queue={"failed": 1},
    )
    db.conn.close()
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "ZNONE")
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ChooseCode)
        assert app.screen.query_one("#codes").option_count == 0
        said = str(app.screen.query_one("#empty").render())
        assert "nothing to choose" in said and "unarchive" in said
