"""One organisation, read-only: what its state means, tenant, queue, mappings, error groups."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static

from store.db import open_store
from store.logs import error_groups
from store.models import ErrorGroup, OrgDetail
from store.orgs import show_org
from tui.safe import visible

MEANING = {
    "active": "Exports and syncs flow to Xero. Settings and mappings are in place.",
    "inactive": "Switched off here: exports wait in the queue (held, not lost); settings and "
    "mappings are kept.",
    "disconnected": "The app was removed inside Xero: nothing reaches Xero; settings and "
    "mappings are kept until a reconnect.",
    "uninstalled": "Settings and mappings were removed; nothing flows. A reconnect can restore "
    "them from a snapshot.",
}


def _section(title: str, lines: list[str]) -> Content:
    body = "\n".join(visible(line) for line in lines) or "(none)"
    return Content.assemble((title, "bold"), "\n", body)


def describe(detail: OrgDetail, groups: list[ErrorGroup]) -> list[Content]:
    """The organisation as sections of literal text."""
    integration = [
        f"{detail.code}  {detail.name} ({detail.region})",
        f"State: {detail.state} since {detail.state_changed_at or '-'} by {detail.updated_by}"
        f" (version {detail.version})",
        MEANING.get(detail.state, ""),
        f"Xero tenant: {detail.tenant_name or '-'} {detail.tenant_id or ''}",
        f"Access token expires {detail.token_expires_at or '-'}; refresh token expires "
        f"{detail.refresh_expires_at or '-'}",
        f"Last export: {detail.last_export_at or 'never'}; errors in 24 h: {detail.errors_24h}",
    ]
    queue = ["  ".join(f"{k} {v}" for k, v in detail.queue.items())]
    mappings = [f"{m.kind:18} {m.local:24} -> {m.remote}" for m in detail.mappings]
    settings = [f"{k:30} {json.dumps(v)}" for k, v in detail.settings.items()]
    errors = []
    for g in groups:
        errors.append(f"{g.kind}: {g.count} (last {g.last_at})")
        if g.fix:
            errors.append(f"  fix: {g.fix}")
    return [
        _section("Integration", integration),
        _section("Queue", queue),
        _section("Error groups, last 7 days", errors),
        _section("Mappings", mappings),
        _section("Settings", settings),
    ]


class OrgScreen(Screen):
    """Everything about one organisation's integration."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
    ]

    def __init__(self, db_path: Path, code: str) -> None:
        super().__init__()
        self.db_path = db_path
        self.code = code

    def compose(self) -> ComposeResult:
        yield Header()
        yield VerticalScroll(id="org-body")
        yield Footer()

    def on_mount(self) -> None:
        self.title = f"syncdesk · {self.code}"
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        db = open_store(self.db_path)
        try:
            sections = describe(show_org(db, self.code), error_groups(db, org=self.code))
        finally:
            db.conn.close()
        self.app.call_from_thread(self.show_sections, sections)

    def show_sections(self, sections: list[Content]) -> None:
        body = self.query_one("#org-body", VerticalScroll)
        body.remove_children()
        body.mount_all(Static(s, classes="section") for s in sections)
        body.focus()
