"""The connection-log browser: filter, read, group by kind, export, and watch rows arrive.

Rows come from a PagedLogSource that the table asks for as it draws, and every SQL query runs
in a thread worker with its own connection (StoreScreen), whose answer arrives as a message. A
new filter cancels the first-page and count workers of the old one, so their late answers are
dropped; a page fetched for a source no longer shown is dropped by the source's identity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import Provider
from textual.containers import Container, Horizontal, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Header, Input, Static
from textual.worker import get_current_worker

from store.clock import now as clock_now
from store.errors import InvalidQuery, SyncdeskError, UnknownOrganisation
from store.kb import knowledge_by_kind
from store.logs import LogQuery, page_log, resolve_since
from store.logsearch import words_of
from store.models import KnowledgeEntry, LogPage
from store.watch import count_log, stop_when
from tui.commands import ScreenCommands
from tui.safe import visible
from tui.screens.base import StoreScreen, store_work
from tui.screens.log_dialogs import CSS_FILE, ErrorGroupsScreen, ExportScreen, KindPickerScreen
from tui.screens.log_ends import LogEnds, LogTable
from tui.screens.log_live import LogLive
from tui.widgets.key_footer import KeyFooter
from tui.widgets.log_empty import why_empty
from tui.widgets.log_source import LOG_COLUMNS, LOOKAHEAD, MAX_PAGES, PAGE_SIZE, PagedLogSource
from tui.widgets.log_text import LEVELS, MUTED, describe_entry, filter_line, parse_search
from tui.widgets.row_table import RowTable
from tui.widgets.words import plural

POLL_SECONDS = 0.5  # with ingest --follow committing every 0.5 s, new rows show within a second
COUNT_DELAY = 0.3  # count the filter once typing pauses, not on every keystroke
# A search of punctuation only ("[/]", "#") has no index to use (FTS keeps words): it scans
# the log (about 150 ms on 1M rows), so it runs once typing pauses, or at enter, never per key.
PUNCTUATION_PAUSE = 0.4
COUNT_CAP = 10_000  # counted first (about 1 ms); past it the line says "≥ 10,000" until the
# exact total (up to ~70 ms on 1M rows) arrives
TIME_SPANS = (None, "1h", "24h", "7d")
WIDE = 150  # from this many columns the detail pane sits beside the table


# (title, help, method, arguments): the screen's actions in the command palette.
LOG_COMMANDS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("Log: errors only", "Show error rows (e)", "action_level", ("error",)),
    ("Log: info only", "Show info rows (i)", "action_level", ("info",)),
    ("Log: all levels", "Show every row (a)", "action_level", ("all",)),
    ("Log: next time range", "All, last hour, 24 hours, 7 days (t)", "action_cycle_time", ()),
    ("Log: filter by error kind", "Pick a kind from a list (K)", "action_pick_kind", ()),
    ("Log: errors by kind", "Counts, organisations, first and last seen (s)", "action_summary", ()),
    ("Log: export to CSV", "Every row of the current filter (x)", "action_export", ()),
    ("Log: show or hide details", "The highlighted row in full (d)", "action_toggle_detail", ()),
    ("Log: search", "Words, org:CODE, kind:NAME (/)", "action_focus_search", ()),
    ("Log: clear filters", "Level, time, kind and search (c)", "action_clear_filters", ()),
)


class LogsScreen(LogEnds, LogLive, StoreScreen):
    """The connection log of every organisation, or of one, newest first."""

    KEYS_TITLE = "Connection log"  # the heading of its keys under ?

    CSS_PATH = CSS_FILE
    WATCH_SECONDS = POLL_SECONDS  # rows written by other processes appear live
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {ScreenCommands}
    PALETTE = LOG_COMMANDS

    AUTO_FOCUS = "#log"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "focus_search", "Search"),
        # Filter keys are shown in the filter line above the table, not in the footer.
        Binding("l", "cycle_level", "Level", show=False),
        Binding("a", "level('all')", "All levels", show=False),
        Binding("e", "level('error')", "Errors only", show=False),
        Binding("i", "level('info')", "Info only", show=False),
        Binding("t", "cycle_time", "Time range", show=False),
        Binding("K", "pick_kind", "Kind", show=False),
        Binding("o", "pick_org", "Org", show=False),
        Binding("s", "summary", "Groups"),
        Binding("d", "toggle_detail", "Detail"),
        Binding("x", "export", "CSV"),
        Binding("w", "whole_message", "Whole message", show=False),
        Binding("c", "clear_filters", "Clear", show=False),
        Binding("f5,ctrl+r", "reload", "Reload", show=False),
    ]
    page_size = PAGE_SIZE  # rows per query
    max_pages = MAX_PAGES  # pages whose rows are kept in memory

    @dataclass
    class FirstLoaded(Message, bubble=False):
        """The first page of a filter; `problem` says why a filter cannot match."""

        query: LogQuery
        page: LogPage
        problem: str | None = None
        empty: str | None = None  # no row: which part of the filter matched nothing

    @dataclass
    class PageLoaded(Message, bubble=False):
        """Rows for `source`: the next older page (high None) or a dropped page again."""

        source: PagedLogSource
        page: LogPage
        high: int | None = None

    @dataclass
    class Counted(Message, bubble=False):
        """The filter's total; `exact` False: at least this many (still counting)."""

        total: int
        exact: bool = True
        query: LogQuery | None = None

    @dataclass
    class KnowledgeLoaded(Message, bubble=False):
        kb: dict[str, KnowledgeEntry]

    def __init__(
        self,
        db_path: Path,
        org: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(db_path)
        self.org = org
        self.clock = clock or clock_now
        self.level = "all"
        self.span: str | None = None
        self.kind: str | None = None
        self.query_now = LogQuery(org=org, prefix=True)
        self.source: PagedLogSource | None = None
        self.total: int | None = None
        self.total_exact = True
        self.problem: str | None = None
        self.empty: str | None = None  # why the filter shows no row
        self.whole_row: int | None = None  # the row whose long message is shown uncut
        self.kb: dict[str, KnowledgeEntry] = {}
        self._count_timer: Timer | None = None
        self._scan_timer: Timer | None = None

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="log-search-bar"):
            yield Static("Search", id="log-search-label")
            hint = "words" if self.org else "words, org:CODE"
            yield Input(placeholder=f"{hint}, kind:NAME", id="log-search")
            yield Static("loading…", id="log-count")
        yield Static(id="log-filters")
        with Container(id="log-body"):
            yield LogTable(LOG_COLUMNS, id="log")  # End: the oldest row (log_ends.py)
            with VerticalScroll(id="log-detail"):
                yield Static(id="log-detail-text")
        yield KeyFooter(compact=True)  # fits any width: the rest under ?

    def on_mount(self) -> None:
        self.title = f"syncdesk · log · {visible(self.org)}" if self.org else "syncdesk · log"
        self.sub_title = str(self.db_path)
        self.follow_store()
        self.load_kb()
        self.apply_filter()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= WIDE, "-wide")

    @property
    def table(self) -> RowTable:
        return self.query_one("#log", RowTable)

    # --- the filter --------------------------------------------------------------------------

    def build_query(self) -> LogQuery:
        """The filter as the widgets show it; time spans are fixed to a moment here."""
        org, kind, words = parse_search(self.query_one("#log-search", Input).value)
        since = resolve_since(self.span, now=self.clock()) if self.span else None
        return LogQuery(
            org=self.org or org,
            level=self.level,
            search=words,
            since=since,
            kind=kind or self.kind,
            prefix=True,
        )

    def apply_filter(self) -> None:
        """Query the first page for the current filter (the old rows stay until it arrives)."""
        self.query_now = query = self.build_query()
        self.total = None
        self.problem = None
        self.show_filters()
        self.show_count(loading=True)
        self.load_first(query)  # cancels the first page of the old filter
        self.workers.cancel_group(self, "log-count")  # and its count
        if self._count_timer is not None:
            self._count_timer.stop()
        self._count_timer = self.set_timer(COUNT_DELAY, lambda: self.count_rows(query))

    def show_filters(self) -> None:
        """One line: each filter with its key (the footer has no room for them at 80 columns)."""
        line = filter_line(self.query_now, self.span, self.org)
        self.query_one("#log-filters", Static).update(line)

    def show_count(self, *, loading: bool = False) -> None:
        source = self.source
        if self.problem:
            text = Content(visible(self.problem)).stylize("$error")
        elif loading or source is None or not source.started:
            text = Content("searching…").stylize(MUTED)
        elif not source.more and source.at_head:
            text = Content(plural(len(source), "row"))
        elif self.total is not None:
            total = plural(self.total, "row") if self.total_exact else f"≥ {self.total:,} rows"
            text = Content(f"{len(source):,} of {total} loaded")
        else:
            text = Content(f"{len(source):,} rows loaded, more…")
        self.query_one("#log-count", Static).update(text)

    # --- loading rows ------------------------------------------------------------------------

    def _new_source(self, query: LogQuery) -> PagedLogSource:
        source = PagedLogSource(query, page_size=self.page_size, max_pages=self.max_pages)
        source.on_more = lambda: self.call_later(self._fetch_more, source)
        source.on_missing = lambda high, low, size: self.call_later(
            self.load_page, source, high, size
        )
        return source

    @store_work(group="log-first")
    def load_first(self, query: LogQuery) -> FirstLoaded:
        worker = get_current_worker()
        with self.store() as db:
            try:
                # A newer keystroke cancels this worker; stop_when then stops a slow search (a
                # one-letter prefix, punctuation scanned with LIKE) inside SQLite.
                with stop_when(db, lambda: worker.is_cancelled):
                    page = page_log(db, query, limit=self.page_size)
                    empty = None if page.entries else why_empty(db, query, self.org)
                    return self.FirstLoaded(query, page, empty=empty)
            except (UnknownOrganisation, InvalidQuery) as exc:
                # A filter that cannot match (an unknown org while typing): say so, show nothing.
                return self.FirstLoaded(query, LogPage(()), str(exc))

    def on_logs_screen_first_loaded(self, message: FirstLoaded) -> None:
        self.problem = message.problem
        self.empty = message.empty
        source = self._new_source(message.query)
        source.add_page(message.page.entries, message.page.before_id)
        self.source = source
        self.table.set_source(source)
        self.show_count()
        self.show_detail(0)

    def _fetch_more(self, source: PagedLogSource) -> None:
        if source is self.source:
            self.load_more(source, source.next_before)

    @store_work(group="log-pages", exclusive=False)
    def load_more(self, source: PagedLogSource, before_id: int | None) -> PageLoaded:
        with self.store() as db:
            page = page_log(db, source.query, limit=self.page_size, before_id=before_id)
        return self.PageLoaded(source, page)

    @store_work(group="log-pages", exclusive=False)
    def load_page(self, source: PagedLogSource, high: int, size: int) -> PageLoaded:
        """Fetch again the rows of a page the source dropped to keep memory flat."""
        with self.store() as db:
            page = page_log(db, source.query, limit=size, before_id=high)
        return self.PageLoaded(source, page, high)

    def on_logs_screen_page_loaded(self, message: PageLoaded) -> None:
        source, page = message.source, message.page
        if source is not self.source:  # a page of a filter no longer shown
            return
        if message.high is None:
            source.add_page(page.entries, page.before_id)
            self.table.set_source(source, keep_cursor=True)
            self.show_count()
        elif source.fill_page(message.high, page.entries):
            self.table.set_source(source, keep_cursor=True)
            self.show_detail(self.table.cursor)

    @store_work(group="log-count")
    def count_rows(self, query: LogQuery) -> Counted | None:
        """The filter's total, stopped inside SQLite when a newer filter replaces it: first
        up to COUNT_CAP (shown as "≥ N" when reached), then, if that was reached, exactly."""
        worker = get_current_worker()
        with self.store() as db:
            try:
                total = count_log(db, query, cancelled=lambda: worker.is_cancelled, cap=COUNT_CAP)
                if total is None or total < COUNT_CAP:
                    return None if total is None else self.Counted(total, True, query)
                self.post_message(self.Counted(total, False, query))
                total = count_log(db, query, cancelled=lambda: worker.is_cancelled)
            except SyncdeskError:
                return None  # load_first reports the same problem
        return None if total is None else self.Counted(total, True, query)

    def on_logs_screen_counted(self, message: Counted) -> None:
        if message.query is not None and message.query != self.query_now:
            return  # the count of a filter no longer shown
        if not message.exact and self.total is not None and self.total_exact:
            return  # the exact total arrived first
        self.total, self.total_exact = message.total, message.exact
        self.show_count()

    @store_work(group="log-kb")
    def load_kb(self) -> KnowledgeLoaded:
        with self.store() as db:
            return self.KnowledgeLoaded(knowledge_by_kind(db))

    def on_logs_screen_knowledge_loaded(self, message: KnowledgeLoaded) -> None:
        self.kb = message.kb
        if self.source is not None:
            self.show_detail(self.table.cursor)

    # --- the detail pane ---------------------------------------------------------------------

    @on(RowTable.RowHighlighted, "#log")
    def row_highlighted(self, event: RowTable.RowHighlighted) -> None:
        self.show_detail(event.index)
        if self.source is not None and event.index >= len(self.source) - LOOKAHEAD:
            self.source.want_more()
        self.want_above()

    @on(RowTable.RowChosen, "#log")
    def row_chosen(self) -> None:
        if self.has_class("-no-detail"):
            self.remove_class("-no-detail")
        else:
            self.query_one("#log-detail").focus()

    def show_detail(self, index: int) -> None:
        if self.has_class("-no-detail"):
            return
        entry = self.source.entry(index) if self.source is not None else None
        if entry is None:
            empty = self.source is not None and self.source.started and not len(self.source)
            text = (
                Content(visible(self.empty or "No rows match this filter.")).stylize("$warning")
                if empty
                else Content("…").stylize(MUTED)
            )
        else:
            whole = self.whole_row == entry.id  # w: this row's message uncut
            text = describe_entry(entry, self.kb.get(entry.kind or ""), whole)
        self.query_one("#log-detail-text", Static).update(text)

    # --- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if (verdict := self.gate(action)) is not None:
            return verdict
        if action == "pick_org":
            return self.org is None
        return True

    def action_back(self) -> None:
        """Escape: clear the search, or leave the detail pane, or close the screen."""
        search = self.query_one("#log-search", Input)
        if self.focused is search:
            if search.value:
                search.value = ""
            self.table.focus()
        elif self.focused is not None and self.focused.id == "log-detail":
            self.table.focus()
        else:
            self.app.pop_screen()

    def action_focus_search(self) -> None:
        self.query_one("#log-search", Input).focus()

    def action_pick_org(self) -> None:
        """Start an org:CODE word in the search box (all-organisations view only)."""
        search = self.query_one("#log-search", Input)
        _, kind, words = parse_search(search.value)
        parts = ([f"kind:{kind}"] if kind else []) + ([words] if words else []) + ["org:"]
        search.value = " ".join(parts)
        search.cursor_position = len(search.value)
        search.select_on_focus = False  # typing goes on after "org:" (until the box is left)
        search.focus()

    @on(Input.Blurred, "#log-search")
    def search_left(self) -> None:
        self.query_one("#log-search", Input).select_on_focus = True

    @on(Input.Changed, "#log-search")
    def search_changed(self) -> None:
        self._stop_scan_timer()
        _, _, words = parse_search(self.query_one("#log-search", Input).value)
        if words and not words_of(words):  # punctuation only: wait for a pause, not per key
            self.query_now = self.build_query()
            self.show_filters()
            waiting = "punctuation is searched when you pause typing (enter: now)"
            self.query_one("#log-count", Static).update(Content(waiting).stylize(MUTED))
            self._scan_timer = self.set_timer(PUNCTUATION_PAUSE, self._scan_now)
            return
        self.apply_filter()

    def _scan_now(self) -> None:
        self._scan_timer = None
        self.apply_filter()

    def _stop_scan_timer(self) -> bool:
        timer, self._scan_timer = self._scan_timer, None
        if timer is not None:
            timer.stop()
        return timer is not None

    @on(Input.Submitted, "#log-search")
    def search_done(self) -> None:
        if self._stop_scan_timer():
            self.apply_filter()
        self.table.focus()

    def action_level(self, level: str) -> None:
        if level in LEVELS and level != self.level:
            self.level = level
            self.apply_filter()

    def action_cycle_level(self) -> None:
        self.action_level(LEVELS[(LEVELS.index(self.level) + 1) % len(LEVELS)])

    def action_cycle_time(self) -> None:
        self.span = TIME_SPANS[(TIME_SPANS.index(self.span) + 1) % len(TIME_SPANS)]
        self.apply_filter()

    def action_clear_filters(self) -> None:
        self.level, self.span, self.kind = "all", None, None
        search = self.query_one("#log-search", Input)
        if search.value:
            search.value = ""  # Input.Changed applies the filter
        else:
            self.apply_filter()

    def action_reload(self) -> None:
        self.apply_filter()

    def action_whole_message(self) -> None:
        entry = self.source.entry(self.table.cursor) if self.source is not None else None
        self.whole_row = None if entry is None or self.whole_row == entry.id else entry.id
        self.show_detail(self.table.cursor)

    def action_toggle_detail(self) -> None:
        self.toggle_class("-no-detail")
        if self.focused is not None and self.focused.id == "log-detail":
            self.table.focus()
        self.show_detail(self.table.cursor)

    def action_pick_kind(self) -> None:
        screen = KindPickerScreen(self.db_path, self.query_now, current=self.kind)
        self.app.push_screen(screen, self._kind_picked)

    def action_summary(self) -> None:
        self.app.push_screen(ErrorGroupsScreen(self.db_path, self.query_now), self._kind_picked)

    def _kind_picked(self, kind: str | None) -> None:
        """'' clears the kind, None means the modal was closed without a choice."""
        if kind is None:
            return
        self.kind = kind or None
        search = self.query_one("#log-search", Input)
        org, typed_kind, words = parse_search(search.value)
        if typed_kind:  # a kind:NAME word would override the choice: drop it
            parts = ([f"org:{org}"] if org and not self.org else []) + ([words] if words else [])
            search.value = " ".join(parts)  # Input.Changed applies the filter
        else:
            self.apply_filter()

    def action_export(self) -> None:
        self.app.push_screen(ExportScreen(self.db_path, self.query_now, self.clock()))
