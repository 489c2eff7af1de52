"""The first screen: every organisation, filtered as you type."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static

from store.db import open_store
from store.models import OrgSummary
from store.orgs import list_orgs
from store.schema import STATES
from store.timeparse import age
from store.watch import data_version
from tui.widgets.row_table import Column, RowTable

STATE_STYLE = {"active": "good", "inactive": "warn", "disconnected": "bad", "uninstalled": "muted"}
AUTH_STYLE = {"ok": "good", "expiring": "warn", "expired": "bad", "removed": "bad", "-": "muted"}
SPARK = " ▁▂▃▄▅▆▇█"
# (label, column, sort key); a sort key sorts descending by default where bigger is worse.
COLUMNS = (
    Column("CODE", 9),
    Column("ORGANISATION", None, min_width=10),
    Column("STATE", 12),
    Column("AUTH", 8),
    Column("XERO TENANT", None, min_width=10, hide_below=118),
    Column("HELD", 4, align_right=True),
    Column("FAIL", 4, align_right=True),
    Column("ERR24H", 7, align_right=True),
    Column("7 DAYS", 7, hide_below=96),
    Column("EXPORT", 6, align_right=True),
    Column("RUN BY", 10, hide_below=132),
)
SORTS: tuple[tuple[str, int, bool], ...] = (
    # (name, column index, reverse)
    ("code", 0, False),
    ("errors", 7, True),
    ("failed", 6, True),
    ("held", 5, True),
    ("last export", 9, False),
    ("state", 2, False),
    ("name", 1, False),
)
STATE_ORDER = {"disconnected": 0, "uninstalled": 1, "inactive": 2, "active": 3}


def sparkline(values: tuple[int, ...]) -> str:
    """Seven days of error counts as block characters, scaled to the busiest day."""
    top = max(values, default=0)
    if not top:
        return "·" * len(values)
    return "".join(SPARK[min(8, round(v / top * 8))] if v else "·" for v in values)


def sort_key(name: str):
    return {
        "code": lambda o: o.code,
        "errors": lambda o: (o.errors_24h, sum(o.trend)),
        "failed": lambda o: o.failed,
        "held": lambda o: o.held,
        "last export": lambda o: o.last_export_at or "",
        "state": lambda o: (STATE_ORDER.get(o.state, 9), o.code),
        "name": lambda o: o.name.lower(),
    }[name]


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


class OrgSource:
    """The table's rows, formatted only when drawn (the table shows ~20 of 5,000)."""

    def __init__(self, orgs: list[OrgSummary]) -> None:
        self.orgs = orgs

    def __len__(self) -> int:
        return len(self.orgs)

    def cells(self, index: int) -> list[tuple[str, str]]:
        return org_cells(self.orgs[index])


def org_cells(org: OrgSummary) -> list[tuple[str, str]]:
    return [
        (org.code, ""),
        (org.name, ""),
        (org.state + (" ⚑" if org.claimed_by else ""), STATE_STYLE.get(org.state, "")),
        (org.auth, AUTH_STYLE.get(org.auth, "")),
        (org.tenant_name or "-", "" if org.tenant_name else "muted"),
        (str(org.held), "warn" if org.held else "muted"),
        (str(org.failed), "bad" if org.failed else "muted"),
        (str(org.errors_24h), "bad" if org.errors_24h else "muted"),
        (sparkline(org.trend), "bad" if any(org.trend) else "muted"),
        (age(org.last_export_at), "muted"),
        (org.claimed_by or "", "info"),
    ]


class DashboardScreen(Screen):
    """Organisations with state, tenant, errors in 24 h and time since the last export."""

    AUTO_FOCUS = "#orgs"  # the table, not the filter: keys like q must not start typing

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("s", "sort", "Sort"),
        Binding("l", "logs", "Log"),
        Binding("r", "wizard", "Refresh run"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f5,ctrl+r", "reload", "Reload"),
    ]

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.orgs: list[OrgSummary] = []
        self.sort_index = 0
        self.reverse = False
        self._watch_db = None
        self._seen_version: int | None = None

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
        # Another session's change (a transition, new log rows) shows up without a restart:
        # a PRAGMA data_version poll is microseconds, and only a change triggers a reload.
        self._watch_db = open_store(self.db_path)
        self._seen_version = data_version(self._watch_db)
        self.set_interval(2.0, self._poll)

    def on_unmount(self) -> None:
        if self._watch_db is not None:
            self._watch_db.conn.close()

    def _poll(self) -> None:
        version = data_version(self._watch_db)
        if version != self._seen_version:
            self._seen_version = version
            self.action_reload()

    def on_screen_resume(self) -> None:
        if self.orgs:  # back from an organisation: its state may have changed
            self.action_reload()

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
        if text != self.query_one("#filter", Input).value:
            # A slower load for an earlier keystroke finished after a later one: the results
            # for the last keystroke win (a thread worker cannot be stopped mid-query).
            return
        table = self.query_one(RowTable)
        current = self.orgs[table.cursor].code if self.orgs and table.row_count else None
        name, column, reverse = SORTS[self.sort_index]
        self.orgs = sorted(orgs, key=sort_key(name), reverse=reverse != self.reverse)
        arrow = "▼" if reverse != self.reverse else "▲"
        table.columns = tuple(
            replace(c, label=c.label + arrow) if i == column else c for i, c in enumerate(COLUMNS)
        )
        codes = [o.code for o in self.orgs]
        table.set_source(OrgSource(self.orgs), keep_cursor=True)
        if current in codes:  # keep the cursor on the same organisation
            table.cursor = codes.index(current)
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

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.reverse = False
        self.show_orgs(self.orgs, self.query_one("#filter", Input).value)
        self.notify(f"Sorted by {SORTS[self.sort_index][0]}", timeout=1.5)

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.show_orgs(self.orgs, self.query_one("#filter", Input).value)

    @on(RowTable.RowChosen, "#orgs")
    def org_chosen(self, event: RowTable.RowChosen) -> None:
        self.app.open_org(self.orgs[event.index].code)

    def _highlighted(self) -> str | None:
        table = self.query_one(RowTable)
        return self.orgs[table.cursor].code if self.orgs and table.row_count else None

    def action_logs(self) -> None:
        self.app.open_logs(None)

    def action_wizard(self) -> None:
        code = self._highlighted()
        if code:
            self.app.open_wizard(code)
