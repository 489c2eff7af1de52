"""Dialogs driven by the keyboard, each saying which keys confirm and cancel; transient text
that always ends; the take-over wording; nothing stale after a run ends or an organisation
is left."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import notified, settle, until
from textual.widgets import Static
from wizard_pilot import confirm_uninstall, open_and_diagnose, open_wizard, perform

from store.db import open_store
from store.runs import start_run, take_over
from store.transitions import integration
from tui.app import SyncdeskApp
from tui.screens.keys import KeysScreen
from tui.screens.log_dialogs import ErrorGroupsScreen, ExportScreen, KindPickerScreen
from tui.screens.org import OrgScreen
from tui.screens.wizard import WizardScreen
from tui.widgets.modals import (
    AskText,
    ChooseCode,
    Confirm,
    ConfirmTyped,
    ReconnectAnswer,
    ReconnectChoice,
)


@pytest.fixture(autouse=True)
def packets_in_tmp(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def state(path: Path, code: str) -> str:
    with open_store(path) as db:
        return integration(db, code).state


def wizard_text(app: SyncdeskApp) -> str:
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, WizardScreen))
    return "\n".join(str(screen.query_one(f"#{i}").render()) for i in ("step", "result"))


async def reloaded(pilot, app: SyncdeskApp) -> None:
    """The wizard reloads its run, as when another session's commit is noticed."""
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, WizardScreen))
    screen.store_changed()
    await settle(pilot)


def last_line(dialog) -> str:
    """The dialog's key line, checked to be its last line on screen."""
    keys = dialog.query_one(".dialog-keys", Static)
    inside = keys.parent.content_region
    assert keys.region.height and inside.y <= keys.region.y < keys.region.bottom <= inside.bottom
    siblings = [w for w in keys.parent.children if w.display and w.region.height]
    assert keys.region.bottom == max(w.region.bottom for w in siblings)
    return str(keys.render())


async def test_every_dialog_says_which_keys_confirm_and_cancel(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        dialogs = [
            (Confirm("Deactivate KAURI?", "Held, not lost.", yes="Deactivate"), "escape"),
            (ConfirmTyped("Uninstall?", "KAURI", ["a"], ["b"]), "escape"),
            (ChooseCode("sales", "gone", [("200", "Sales")]), "escape"),
            (AskText("Note:"), "escape"),
            (KeysScreen.of(app.screen, app), "escape"),
        ]
        for dialog, cancel in dialogs:
            app.push_screen(dialog)
            await settle(pilot)
            line = last_line(dialog)
            assert cancel in line, (type(dialog).__name__, line)
            assert "enter" in line or "y " in line or "closes" in line, line
            await pilot.press(cancel)
            await settle(pilot)
            assert app.screen is not dialog
        app.open_org("SXBREW")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReconnectChoice)
        assert last_line(dialog) == "enter chooses and reconnects · escape cancels"


@pytest.mark.parametrize("dialog", [KindPickerScreen, ErrorGroupsScreen, ExportScreen])
async def test_log_dialogs_say_their_keys(store_path: Path, dialog: type) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_logs(None)
        await settle(pilot)
        await pilot.press(
            {KindPickerScreen: "K", ErrorGroupsScreen: "s", ExportScreen: "x"}[dialog]
        )
        await settle(pilot)
        assert isinstance(app.screen, dialog)
        line = last_line(app.screen)
        assert "escape" in line and "enter" in line, line


async def test_enter_on_the_tenant_list_chooses_and_reconnects(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    answers: list[ReconnectAnswer | None] = []
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_org("SXBREW")
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ReconnectChoice)
        original = dialog.dismiss
        dialog.dismiss = lambda result=None: (answers.append(result), original(result))[1]
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OrgScreen)
    (answer,) = answers
    assert isinstance(answer, ReconnectAnswer) and not answer.accept_new_tenant
    assert state(store_path, "SXBREW") == "active"


async def test_authorising_ends_with_cancelled(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_diagnose(pilot, store_path, "SXBREW")
        await confirm_uninstall(pilot, "SXBREW")
        await perform(pilot)  # reconnect: authorise, then the dialog
        assert isinstance(app.screen, ReconnectChoice)
        await pilot.press("escape")
        await settle(pilot)
        text = wizard_text(app)
        assert "Authorising" not in text and "Reconnect cancelled" in text
        await reloaded(pilot, app)  # another session's commit reloads the same run
        assert "Reconnect cancelled" in wizard_text(app)


async def test_cancelled_uninstall_says_so(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_and_diagnose(pilot, store_path, "SXBREW")
        await perform(pilot)  # the typed confirmation
        assert isinstance(app.screen, ConfirmTyped)
        await pilot.press("escape")
        await settle(pilot)
        assert "Uninstall cancelled: nothing changed." in wizard_text(app)
        await reloaded(pilot, app)  # a reload of the same run keeps how the step ended
        assert "Uninstall cancelled: nothing changed." in wizard_text(app)
        assert state(store_path, "SXBREW") == "disconnected"


async def test_take_over_dialog_names_who_holds_it_not_who_started(store_path: Path) -> None:
    with open_store(store_path) as db:
        start_run(db, "KELP", actor="alice")
        take_over(db, "KELP", actor="carol")
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_wizard(pilot, store_path, "KELP", actor="bob")
        await pilot.press("o")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, Confirm)
        assert "They started it" not in dialog.detail
        assert dialog.detail.startswith("carol has held it since")


async def check_org(pilot, code: str) -> None:
    """Open the organisation screen on code and press k (Check)."""
    await settle(pilot)
    pilot.app.open_org(code)
    await settle(pilot)
    await pilot.press("k")
    await settle(pilot)


async def test_no_pop_up_from_the_last_organisation_on_the_next(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await check_org(pilot, "KAURI")
        assert any(text.startswith("Check:") for text in notified(app))
        await pilot.press("escape")
        await settle(pilot)
        app.open_org("HARBOUR")
        await settle(pilot)
        assert not any(text.startswith("Check:") for text in notified(app))


async def test_org_messages_name_keys_not_commands(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await check_org(pilot, "KAURI")
        screen = app.screen
        await until(pilot, lambda: screen.query_one("#org-check").display)
        shown = "\n".join(str(s.render()) for s in screen.query("#org-body Static"))
        assert "syncdesk " not in shown
        assert "the t key (Retry)" in shown


async def reconnect_kauri_anyway(pilot, store_path: Path) -> None:
    """KAURI's verdict is a mapping fix; the refresh sequence run anyway (f, with a reason)
    reconnects and restores the mapping that fails."""
    await open_wizard(pilot, store_path, "KAURI")
    await perform(pilot)  # start
    await perform(pilot)  # diagnose: plans map, then verify
    await pilot.press("f")
    await settle(pilot)
    await pilot.press(*"customer insists", "enter")
    await settle(pilot)
    for _ in range(2):  # deactivate, verify (still failing)
        await perform(pilot)
    await confirm_uninstall(pilot, "KAURI")
    await perform(pilot)  # the reconnect dialog
    await pilot.press("enter")  # the previous organisation: reconnect
    await settle(pilot)


async def test_a_resolved_run_no_longer_asks_to_fix_restored_mappings(store_path: Path) -> None:
    """KAURI: the reconnect restores a mapping that fails; once resolved, nothing asks for m."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await reconnect_kauri_anyway(pilot, store_path)
        screen = app.screen
        diagnosis = screen.query_one("#diagnosis", Static)
        assert "1 restored mapping fails validation" in str(diagnosis.render())
        assert screen.check_action("fix_mapping", ()) is True
        await pilot.press("v")
        await settle(pilot)
        await pilot.press("y")  # close the run as resolved
        await settle(pilot)
        assert "Resolved." in wizard_text(app)
        assert "restored mapping" not in str(diagnosis.render())
        assert "Press m" not in str(diagnosis.render())
        assert screen.problems == []  # (m stays while the verdict calls for a mapping fix:
        # it asks Xero afresh which mappings fail)


async def test_fixing_the_restored_mapping_clears_the_list(store_path: Path) -> None:
    """After the reconnect, m fixes the restored mapping that fails; the wizard then says every
    restored mapping is fixed and stops offering m for them."""
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await reconnect_kauri_anyway(pilot, store_path)
        screen = app.screen
        diagnosis = screen.query_one("#diagnosis", Static)
        assert "1 restored mapping fails validation" in str(diagnosis.render())
        await pilot.press("m")
        await settle(pilot)
        assert isinstance(app.screen, ChooseCode)
        await pilot.press("down", "enter")  # 210
        await settle(pilot)
        await until(pilot, lambda: "Every restored mapping is fixed" in str(diagnosis.render()))
        assert "Press m" not in str(diagnosis.render())
        assert screen.problems == []


async def test_after_a_step_the_next_steps_kept_and_lost_are_in_view(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_wizard(pilot, store_path, "KAURI")
        await perform(pilot)  # start
        body = app.screen.query_one("#step-body")
        body.scroll_end(animate=False)  # reading the diagnosis below
        await pilot.pause()
        assert body.scroll_offset.y > 0
        await perform(pilot)  # diagnose: the next step is deactivate
        assert body.scroll_offset.y == 0
        assert "Kept:" in wizard_text(app) and "Lost:" in wizard_text(app)
