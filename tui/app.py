"""The syncdesk console."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.worker import Worker, WorkerState

from store.db import read_only_reason, set_read_only
from tui.commands import OrgCommands
from tui.screens.base import FAILURE_SECONDS, failure_text
from tui.screens.dashboard import DashboardScreen


class SyncdeskApp(App):
    """Support staff's console for customers' Xero integrations."""

    CSS_PATH = ["styles/app.tcss", "styles/modals.tcss", "styles/logs.tcss", "styles/wizard.tcss"]
    TITLE = "syncdesk"
    COMMANDS = App.COMMANDS | {OrgCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", show=False),  # shown by the dashboard, where it matters
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("question_mark,f1", "help", "Keys"),
        Binding("ctrl+t", "toggle_theme", "Dark/light", show=False),
        # While a screen's long work runs (its WorkProgress), escape cancels that first; else
        # this binding is off and escape does what the screen says (a screen's own escape
        # binding would replace one inherited from StoreScreen, hence here).
        Binding("escape", "cancel_work", "Cancel", priority=True),
    ]

    def __init__(
        self, db_path: Path | str, *, theme: str | None = None, read_only: bool = False
    ) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        # Look, never change: --read-only, or the file system does not let this user write.
        if read_only:
            set_read_only("--read-only")  # and every store connection opens read-only
        self.read_only_reason = read_only_reason(self.db_path)
        self.read_only = self.read_only_reason is not None
        if theme:
            self.theme = theme

    def format_title(self, title: str, sub_title: str) -> Content:
        """The header, which says so on every screen when the session is read-only, and when
        syncdesk talks to the Xero sandbox (or its Xero configuration is not usable)."""
        from store.xero.config import load_settings

        settings = load_settings()
        if settings.problems:
            title += " · Xero configuration INVALID (syncdesk config)"
        elif settings.sandbox:
            title += " · Xero sandbox"
        shown = super().format_title(title, sub_title)
        if not self.read_only:
            return shown
        return Content.assemble(("READ-ONLY", "bold reverse"), " ", shown)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_work":
            gate = getattr(self.screen, "gate", None)
            return bool(gate and gate(action))
        return True

    def action_cancel_work(self) -> None:
        cancel = getattr(self.screen, "action_cancel_work", None)
        if cancel is not None:
            cancel()

    def action_toggle_theme(self) -> None:
        """Switch between the dark and the light theme."""
        self.theme = "textual-light" if self.theme != "textual-light" else "textual-dark"

    def on_mount(self) -> None:
        self.push_screen(DashboardScreen(self.db_path))

    def open_org(self, code: str) -> None:
        from tui.screens.org import OrgScreen

        self.push_screen(OrgScreen(self.db_path, code))

    def open_logs(self, code: str | None = None) -> None:
        from tui.screens.logs import LogsScreen

        self.push_screen(LogsScreen(self.db_path, code))

    def open_wizard(self, code: str) -> None:
        from tui.screens.wizard import WizardScreen

        self.push_screen(WizardScreen(self.db_path, code))

    def action_help(self) -> None:
        """Every key of the current screen, its own first (tui/screens/keys.py)."""
        from tui.screens.keys import KeysScreen

        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen.of(self.screen, self))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The App's own workers (the palette's); screens handle theirs (StoreScreen.failed),
        because Worker.StateChanged does not bubble."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            text = failure_text(event.worker.error)
            self.notify(text, severity="error", markup=False, timeout=FAILURE_SECONDS)
