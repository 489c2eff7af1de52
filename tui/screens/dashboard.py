"""The first screen: every organisation, filtered as you type."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Header, Input, Static

from store.errors import InvalidQuery
from store.models import OrgSummary
from store.orgs import OrgMatch, find_orgs, list_orgs
from store.schema import STATES
from tui.safe import visible
from tui.screens.base import StoreScreen, store_work
from tui.widgets.key_footer import KeyFooter
from tui.widgets.marked import marked_age, marked_text
from tui.widgets.row_table import Column, RowTable

STATE_STYLE = {"active": "good", "inactive": "warn", "disconnected": "bad", "uninstalled": "muted"}
AUTH_STYLE = {"ok": "good", "expiring": "warn", "expired": "bad", "removed": "bad", "-": "muted"}
SPARK = " ▁▂▃▄▅▆▇█"
# (label, column, sort key); a sort key sorts descending by default where bigger is worse.
# Sortable columns are wide enough for their label and the sort arrow.
COLUMNS = (
    Column("CODE", 9),
    Column("ORGANISATION", None, min_width=10),
    Column("STATE", 12),
    Column("AUTH", 8),
    Column("XERO TENANT", None, min_width=10, hide_below=118),
    Column("HELD", 5, align_right=True),
    Column("FAIL", 5, align_right=True),
    Column("ERR24H", 7, align_right=True),
    Column("7 DAYS", 7, hide_below=96),
    Column("EXPORT", 7, align_right=True),
    Column("RUN BY", 10, hide_below=132),
    Column("TR", 2, show_below=96),  # the trend's narrow form: ↗ rising, ↘ falling
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


def trend_arrow(values: tuple[int, ...]) -> str:
    """The 7-day trend in one character: errors of the last 3 days against the 4 before."""
    if not any(values):
        return "·"
    recent, before = values[-3:], values[:-3]
    now_rate = sum(recent) / max(1, len(recent))
    then_rate = sum(before) / max(1, len(before))
    if now_rate > then_rate * 1.25:
        return "↗"
    if now_rate < then_rate * 0.75:
        return "↘"
    return "→"


def sparkline(values: tuple[int, ...]) -> str:
    """Seven days of error counts as block characters, scaled to the busiest day."""
    top = max(values, default=0)
    if not top:
        return "·" * len(values)
    return "".join(SPARK[min(8, round(v / top * 8))] if v else "·" for v in values)


def sort_key(name: str):
    # marked_text: a name stored as a BLOB sorts with the others instead of failing the sort
    return {
        "code": lambda o: marked_text(o.code),
        "errors": lambda o: (o.errors_24h, sum(o.trend)),
        "failed": lambda o: o.failed,
        "held": lambda o: o.held,
        "last export": lambda o: marked_text(o.last_export_at),
        "state": lambda o: (STATE_ORDER.get(o.state, 9), marked_text(o.code)),
        "name": lambda o: marked_text(o.name).lower(),
    }[name]


class OrgSource:
    """The table's rows, formatted only when drawn (the table shows ~20 of 5,000)."""

    def __init__(self, orgs: list[OrgSummary]) -> None:
        self.orgs = orgs

    def __len__(self) -> int:
        return len(self.orgs)

    def cells(self, index: int) -> list[tuple[str, str]]:
        return org_cells(self.orgs[index])


def org_cells(org: OrgSummary) -> list[tuple[str, str]]:
    arrow = trend_arrow(org.trend)
    return [
        (marked_text(org.code), ""),
        (marked_text(org.name), ""),
        (
            org.state + (" ⏰" if org.overdue else "") + (" ⚑" if org.claimed_by else ""),
            "bad" if org.overdue else STATE_STYLE.get(org.state, ""),
        ),
        (org.auth + (" ↻" if org.needs_reconsent else ""), AUTH_STYLE.get(org.auth, "")),
        (marked_text(org.tenant_name) or "-", "" if org.tenant_name else "muted"),
        (str(org.held), "warn" if org.held else "muted"),
        (str(org.failed), "bad" if org.failed else "muted"),
        (str(org.errors_24h), "bad" if org.errors_24h else "muted"),
        (sparkline(org.trend), "bad" if any(org.trend) else "muted"),
        (marked_age(org.last_export_at), "muted"),
        (org.claimed_by or "", "info"),
        (arrow, "bad" if arrow == "↗" else "muted"),
    ]


class DashboardScreen(StoreScreen):
    """Organisations with state, tenant, errors in 24 h and time since the last export."""

    KEYS_TITLE = "Organisations"  # the heading of its keys under ?

    AUTO_FOCUS = "#orgs"  # the table, not the filter: keys like q must not start typing
    # Another session's change (a transition, new log rows) shows up without a restart.
    WATCH_SECONDS = 1.0

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("s", "sort", "Sort"),
        Binding("l", "logs", "Log"),
        Binding("r", "wizard", "Refresh run"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("f5,ctrl+r", "reload", "Reload", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    AGE_SECONDS = 30.0  # EXPORT ages are redrawn from store.clock this often

    @dataclass
    class Loaded(Message, bubble=False):
        """Every organisation (the filter is applied in memory, as you type)."""

        orgs: list[OrgSummary]

    def __init__(self, db_path: Path) -> None:
        super().__init__(db_path)
        self.all_orgs: list[OrgSummary] | None = None  # the last load, unfiltered
        self.orgs: list[OrgSummary] = []
        self.sort_index = 0
        self.reverse = False
        self.unmatched: tuple[str, ...] = ()
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="filter-bar"):
            yield Static("Filter", id="filter-label")
            yield Input(placeholder="code, name, tenant, state or auth (expired)…", id="filter")
        yield Static(id="summary")
        yield RowTable(COLUMNS, id="orgs")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = "syncdesk"
        self.sub_title = str(self.db_path)
        self.load()
        self.follow_store()
        # Ages ("2h") are computed when a row is drawn: redrawing moves them on.
        self.set_interval(self.AGE_SECONDS, self.query_one(RowTable).refresh)

    def on_screen_resume(self) -> None:
        if self.all_orgs is not None:  # back from an organisation: its state may have changed
            self.action_reload()

    @store_work(group="orgs")
    def load(self) -> Loaded:
        # Every organisation; the filter is applied when shown. A newer load cancels this
        # one, and its result is dropped (a thread worker cannot be stopped mid-query, but its
        # answer can be).
        with self.store() as db:
            return self.Loaded(list_orgs(db))

    def on_dashboard_screen_loaded(self, message: Loaded) -> None:
        self.all_orgs = message.orgs
        self.show_filtered()

    def show_filtered(self) -> None:
        """The loaded organisations through the filter as typed now (no store query), and the
        words that matched none (or why the filter cannot be read yet: state:X being typed)."""
        if self.all_orgs is None:
            return
        try:  # ("reconsent": those on Xero's deprecated scopes, marked ↻)
            found = find_orgs(self.all_orgs, self.query_one("#filter", Input).value)
            self.problem = None
        except InvalidQuery as exc:
            found, self.problem = OrgMatch([], ()), str(exc)
        self.unmatched = found.unmatched
        self.show_orgs(found.orgs)

    def show_orgs(self, orgs: list[OrgSummary]) -> None:
        table = self.query_one(RowTable)
        current = self._highlighted()
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
        if not orgs:
            self.query_one("#summary", Static).update(self._nothing_found())
            return
        counts = Counter(o.state for o in orgs)
        failing = sum(1 for o in orgs if o.errors_24h)
        parts = [
            (f"{len(orgs)} shown", "bold"),
            (" · " + "  ".join(f"{counts.get(s, 0)} {s}" for s in STATES), ""),
            (f" · {failing} erroring (24h)", "bold $error" if failing else ""),
        ]
        self.query_one("#summary", Static).update(Content.assemble(*parts))

    def _nothing_found(self) -> Content:
        """An empty result says which part of the filter matched nothing, and how to clear it."""
        typed = self.query_one("#filter", Input).value.strip()
        if self.problem:
            why = self.problem
        elif not typed:
            why = "No organisations in this store."
        elif self.unmatched:
            words = ", ".join(f"“{visible(w)}”" for w in self.unmatched)
            why = f"Nothing matches {words}."
        else:
            why = f"No organisation matches every word of “{visible(typed)}” at once."
        clear = " escape clears the filter." if typed else ""
        return Content.assemble((why, "bold $warning"), clear)

    @on(Input.Changed, "#filter")
    def filter_changed(self) -> None:
        self.show_filtered()

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
        self.load()

    def action_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self.reverse = False
        self.show_orgs(self.orgs)
        self.notify(f"Sorted by {SORTS[self.sort_index][0]}", timeout=1.5)

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.show_orgs(self.orgs)

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
