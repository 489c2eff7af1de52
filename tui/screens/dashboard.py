"""The first screen: every organisation, filtered as you type."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from store.db import STATES, open_store
from store.models import OrgSummary
from store.orgs import list_orgs
from store.timeparse import age
from tui.widgets.row_table import Column, ListSource, RowTable

STATE_STYLE = {"active": "good", "inactive": "warn", "disconnected": "bad", "uninstalled": "muted"}
COLUMNS = (
    Column("CODE", 10),
    Column("ORGANISATION", None, min_width=12),
    Column("STATE", 12),
    Column("XERO TENANT", None, min_width=10),
    Column("ERR 24H", 7, align_right=True),
    Column("EXPORT", 8, align_right=True),
)


def parse_filter(text: str) -> tuple[str | None, str | None]:
    """'state:inactive kauri' -> ('inactive', 'kauri'); a state word alone filters by state."""
    state, words = None, []
    for word in text.split():
        value = word.split(":", 1)[1] if word.lower().startswith("state:") else word
        if value.lower() in STATES and (word.lower().startswith("state:") or state is None):
            state = value.lower()
        else:
            words.append(word)
    return state, " ".join(words) or None


def org_cells(org: OrgSummary) -> list[tuple[str, str]]:
    return [
        (org.code, ""),
        (org.name, ""),
        (org.state, STATE_STYLE.get(org.state, "")),
        (org.tenant_name or "-", "" if org.tenant_name else "muted"),
        (str(org.errors_24h), "bad" if org.errors_24h else "muted"),
        (age(org.last_export_at), "muted"),
    ]


class DashboardScreen(Screen):
    """Organisations with state, tenant, errors in 24 h and time since the last export."""

    AUTO_FOCUS = "#orgs"  # the table, not the filter: keys like q must not start typing

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("f5,ctrl+r", "reload", "Reload"),
    ]

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.orgs: list[OrgSummary] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filter-bar"):
            yield Static("Filter", id="filter-label")
            yield Input(placeholder="code, name or tenant; state:inactive…", id="filter")
        yield Static(id="summary")
        yield RowTable(COLUMNS, id="orgs")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "syncdesk"
        self.sub_title = str(self.db_path)
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="orgs")
    def load(self, text: str = "") -> None:
        state, search = parse_filter(text)
        db = open_store(self.db_path)  # one connection per thread
        try:
            found = list_orgs(db, state=state, search=search)
        finally:
            db.conn.close()
        self.app.call_from_thread(self.show_orgs, found, text)

    def show_orgs(self, orgs: list[OrgSummary], text: str) -> None:
        self.orgs = orgs
        self.query_one(RowTable).set_source(ListSource([org_cells(o) for o in orgs]))
        counts = Counter(o.state for o in orgs)
        failing = sum(1 for o in orgs if o.errors_24h)
        parts = [
            (f"{len(orgs)} shown", "bold"),
            (" · " + "  ".join(f"{counts.get(s, 0)} {s}" for s in STATES), ""),
            (f" · {failing} erroring (24h)", "bold $error" if failing else ""),
        ]
        self.query_one("#summary", Static).update(Content.assemble(*parts))

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.load(event.value)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one(RowTable).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter", Input)
        field.value = ""
        self.query_one(RowTable).focus()

    def action_reload(self) -> None:
        self.load(self.query_one("#filter", Input).value)

    @on(RowTable.RowChosen, "#orgs")
    def org_chosen(self, event: RowTable.RowChosen) -> None:
        org = self.orgs[event.index]
        from tui.screens.org import OrgScreen

        self.app.push_screen(OrgScreen(self.db_path, org.code))
