"""What every screen and dialog looks like, pinned as SVG pictures (pytest-textual-snapshot).

Each scenario drives the console with the keyboard to one screen or dialog and the picture is
compared with the one in __snapshots__/, at 80×24 and at 160×48. Any layout change shows as a
failing test with a side-by-side report (snapshot_report.html); when the change is meant,
regenerate the pictures and review them in the diff:

    pytest tests/snapshots --snapshot-update

The pictures are deterministic on any machine, alone or under xdist: the store is a copy of
the demo store at a relative path (the title shows it), the clock is frozen at NOW, the login
name is fixed, packets go to a relative folder, notifications are not shown (a toast lasts
seconds of real time), animations are off and every text cursor is still.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from support import settle, until
from textual.app import App
from textual.widgets import Input

from store import clock as store_clock
from store import paths as store_paths
from store.db import open_store
from store.runs import start_run, take_over
from store.transitions import deactivate, uninstall
from tui.app import SyncdeskApp
from tui.screens import log_dialogs
from tui.screens.dashboard import DashboardScreen
from tui.screens.logs import LogsScreen
from tui.screens.org import OrgScreen
from tui.screens.wizard import WizardScreen
from tui.widgets.key_footer import KeyFooter

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
Scenario = Callable[[object], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


@pytest.fixture(autouse=True)
def fixed_world(monkeypatch: pytest.MonkeyPatch, store_path: Path) -> None:
    """Everything a picture shows that could differ between machines, held still."""
    monkeypatch.chdir(store_path.parent)  # the title shows the store's path: "store.db"
    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(name, "tester")  # who acts (getpass.getuser)
    monkeypatch.setattr(store_paths, "packets_dir", lambda: Path("packets"))
    monkeypatch.setattr(log_dialogs, "exports_dir", lambda: Path("exports"))  # named in x
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    # No screen reloads on its own (another session's write, polled): a reload landing just
    # before or after the picture would show the store before or after a token refresh.
    for screen in (DashboardScreen, OrgScreen, LogsScreen, WizardScreen):
        monkeypatch.setattr(screen, "WATCH_SECONDS", None)
    # A notification's toast lasts seconds of real time: under load it may be gone or not.
    monkeypatch.setattr(App, "notify", lambda *args, **kwargs: None)
    for name in ("SYNCDESK_XERO_CLIENT_ID", "SYNCDESK_XERO_API_URL", "SYNCDESK_DB"):
        monkeypatch.delenv(name, raising=False)


async def still(pilot) -> None:
    """Let every worker finish, then clear notifications and stop cursors blinking."""
    await settle(pilot)
    app = pilot.app
    app.animation_level = "none"  # an indeterminate progress bar stands still
    for screen in app.screen_stack:
        for field in screen.query(Input):
            field.cursor_blink = False
        # A footer redraws its keys a frame after the bindings change, and a screen under a
        # dialog may not have had that frame: draw every footer's keys as they are now.
        for footer in screen.query(KeyFooter):
            footer._bindings_ready = True
            await footer.recompose()
    await pilot.pause()


async def press(pilot, *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await settle(pilot)


async def org(pilot, code: str) -> OrgScreen:
    await settle(pilot)
    pilot.app.open_org(code)
    await settle(pilot)
    return pilot.app.screen


async def log(pilot, code: str | None = None) -> LogsScreen:
    await settle(pilot)
    pilot.app.open_logs(code)
    await settle(pilot)
    screen = pilot.app.screen
    await until(pilot, lambda: screen.source is not None and screen.source.started)
    return screen


async def wizard(pilot, code: str) -> WizardScreen:
    await settle(pilot)
    pilot.app.open_wizard(code)
    await settle(pilot)
    return pilot.app.screen


async def kauri_anyway(pilot) -> WizardScreen:
    """KAURI's verdict is a mapping fix: start, diagnose, then the refresh sequence anyway (f,
    with a reason), its deactivate step current."""
    screen = await wizard(pilot, "KAURI")
    await press(pilot, "enter", "enter", "f", *"customer insists", "enter")
    return screen


def show_progress(screen, label: str, done: int, total: int, doing: str) -> None:
    """The screen's progress display as long work shows it mid-way (no work runs: still)."""
    screen.begin_work(label).progress(done, total, doing)


# --- dashboard ---------------------------------------------------------------------------------


@scenario
async def dashboard(pilot) -> None:
    await settle(pilot)


@scenario
async def dashboard_filter_nothing(pilot) -> None:
    await press(pilot, "slash", *"kauri zzqx")


@scenario
async def dashboard_filter_expired(pilot) -> None:
    await press(pilot, "slash", *"expired", "enter")


@scenario
async def dashboard_overdue(pilot) -> None:
    with open_store(Path("store.db")) as db:  # due back yesterday: ⏰
        until = store_clock.now() - timedelta(days=1)
        deactivate(db, "HARBOUR", actor="alice", reason="bulk price edit", until=until)
    await press(pilot, "f5")


@scenario
async def dashboard_sorted_by_errors(pilot) -> None:
    await press(pilot, "s")


@scenario
async def help_dashboard(pilot) -> None:
    await press(pilot, "question_mark")


@scenario
async def palette(pilot) -> None:
    await press(pilot, "ctrl+p", *"kauri")


# --- organisation ------------------------------------------------------------------------------


@scenario
async def org_active(pilot) -> None:
    await org(pilot, "KAURI")


@scenario
async def org_active_checked(pilot) -> None:
    await org(pilot, "TASMAN")
    await press(pilot, "k")


@scenario
async def org_inactive(pilot) -> None:
    await org(pilot, "KELP")


@scenario
async def org_paused(pilot) -> None:
    with open_store(Path("store.db")) as db:  # due back yesterday: overdue
        until = store_clock.now() - timedelta(days=1)
        deactivate(db, "HARBOUR", actor="alice", reason="bulk price edit", until=until)
    await org(pilot, "HARBOUR")


@scenario
async def org_retry_progress(pilot) -> None:
    screen = await org(pilot, "TASMAN")
    show_progress(screen, "Retry", 3, 9, "sending INV-0042")


@scenario
async def org_disconnected(pilot) -> None:
    await org(pilot, "SXBREW")


@scenario
async def org_uninstalled(pilot) -> None:
    await org(pilot, "COPPER")


@scenario
async def help_org(pilot) -> None:
    await org(pilot, "KAURI")
    await press(pilot, "question_mark")


@scenario
async def org_confirm_deactivate(pilot) -> None:
    await org(pilot, "KAURI")
    await press(pilot, "d")


@scenario
async def org_confirm_uninstall(pilot) -> None:
    await org(pilot, "KAURI")
    await press(pilot, "u", *"KAU")


@scenario
async def org_reconnect(pilot) -> None:
    await org(pilot, "SXBREW")
    await press(pilot, "c")


@scenario
async def org_reconnect_different_tenant(pilot) -> None:
    with open_store(Path("store.db")) as db:  # GREEN's tenant changed unconfirmed
        uninstall(db, "GREEN", confirm="GREEN")
    await org(pilot, "GREEN")
    await press(pilot, "c", "down")


@scenario
async def org_fix_mapping(pilot) -> None:
    screen = await org(pilot, "KAURI")
    await until(pilot, lambda: screen.chart is not None)
    await press(pilot, "m")


# --- connection log ----------------------------------------------------------------------------


@scenario
async def log_list(pilot) -> None:
    await log(pilot)


@scenario
async def log_detail(pilot) -> None:
    await log(pilot, "KAURI")
    await press(pilot, "down", "enter")


@scenario
async def log_nothing_matches(pilot) -> None:
    screen = await log(pilot)
    screen.query_one("#log-search", Input).value = "org:green duplicate"
    await until(pilot, lambda: bool(screen.empty))


@scenario
async def log_oldest(pilot) -> None:
    screen = await log(pilot)
    await press(pilot, "end")
    await until(pilot, lambda: not screen.source.at_head)


@scenario
async def log_groups(pilot) -> None:
    await log(pilot)
    await press(pilot, "s")


@scenario
async def log_kind_picker(pilot) -> None:
    await log(pilot)
    await press(pilot, "K")


@scenario
async def log_export(pilot) -> None:
    await log(pilot)
    await press(pilot, "x")


@scenario
async def help_log(pilot) -> None:
    await log(pilot)
    await press(pilot, "question_mark")


# --- refresh wizard ----------------------------------------------------------------------------


@scenario
async def wizard_diagnosis(pilot) -> None:
    await wizard(pilot, "KAURI")


@scenario
async def wizard_step_diagnose(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter")


@scenario
async def wizard_step_map(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter", "enter")


@scenario
async def wizard_override_asks_why(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter", "enter", "f")


@scenario
async def wizard_step_deactivate(pilot) -> None:
    await kauri_anyway(pilot)


@scenario
async def wizard_step_verify(pilot) -> None:
    await kauri_anyway(pilot)
    await press(pilot, "enter")


@scenario
async def wizard_step_progress(pilot) -> None:
    screen = await kauri_anyway(pilot)
    await press(pilot, "enter")
    show_progress(screen, "Verify", 2, 9, "sending INV-0007")


@scenario
async def wizard_step_uninstall(pilot) -> None:
    await wizard(pilot, "SXBREW")
    await press(pilot, "enter", "enter")


@scenario
async def wizard_confirm_uninstall(pilot) -> None:
    await wizard(pilot, "SXBREW")
    await press(pilot, "enter", "enter", "enter")


@scenario
async def wizard_step_reconnect(pilot) -> None:
    await wizard(pilot, "SXBREW")
    await press(pilot, "enter", "enter", "enter", *"SXBREW", "enter")


@scenario
async def wizard_reconnect_dialog(pilot) -> None:
    await wizard(pilot, "SXBREW")
    await press(pilot, "enter", "enter", "enter", *"SXBREW", "enter", "enter")


@scenario
async def wizard_step_final_verify(pilot) -> None:
    await wizard(pilot, "SXBREW")
    await press(pilot, "enter", "enter", "enter", *"SXBREW", "enter", "enter", "enter")


@scenario
async def wizard_resolved(pilot) -> None:
    await wizard(pilot, "SXBREW")
    await press(pilot, "enter", "enter", "enter", *"SXBREW", "enter", "enter", "enter", "enter")


@scenario
async def wizard_failing_mappings(pilot) -> None:
    await kauri_anyway(pilot)  # deactivate, verify, uninstall, reconnect restores a bad one
    await press(pilot, "enter", "enter", "enter", *"KAURI", "enter")
    await press(pilot, "enter", "enter")


@scenario
async def wizard_note(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter", "n", *"called the customer")


@scenario
async def wizard_confirm_resolve(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter", "v")


@scenario
async def wizard_confirm_escalate(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter", "e")


@scenario
async def wizard_escalated(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "enter", "e", "y")


@scenario
async def wizard_claimed_by_someone_else(pilot) -> None:
    with open_store(Path("store.db")) as db:
        start_run(db, "KELP", actor="alice")
        take_over(db, "KELP", actor="carol")
    await wizard(pilot, "KELP")


@scenario
async def wizard_confirm_take_over(pilot) -> None:
    with open_store(Path("store.db")) as db:
        start_run(db, "KELP", actor="alice")
    await wizard(pilot, "KELP")
    await press(pilot, "o")


@scenario
async def help_wizard(pilot) -> None:
    await wizard(pilot, "KAURI")
    await press(pilot, "question_mark")


# --- the pictures ------------------------------------------------------------------------------


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_screen(snap_compare, name: str, size: str) -> None:
    async def run_before(pilot) -> None:
        await settle(pilot)  # every scenario starts on the dashboard with its rows shown
        await until(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen))
        await until(pilot, lambda: len(pilot.app.screen.orgs) == 12)
        await SCENARIOS[name](pilot)
        await still(pilot)

    app = SyncdeskApp(Path("store.db"))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before)
