"""The connection-log browser: filter, read, group by kind, export, and watch rows arrive.

Rows come from a PagedLogSource that the table asks for as it draws, and every SQL query runs
in a thread worker with its own connection. Each change of filter bumps `generation`; a worker
result from an older generation (or for a source no longer shown) is dropped, because thread
workers cannot be stopped mid-query and their answers may arrive late.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from store.clock import now as clock_now
from store.db import open_store
from store.errors import InvalidQuery, SyncdeskError, UnknownOrganisation
from store.kb import knowledge_by_kind
from store.logs import LogQuery, error_groups, page_log, resolve_since
from store.models import ErrorGroup, KnowledgeEntry, LogEntry, LogPage
from store.watch import count_log, data_version, newer_entries, stop_when, walk_log
from tui.safe import visible
from tui.widgets.log_source import (
    CSV_HEADER,
    LOG_COLUMNS,
    LOOKAHEAD,
    MAX_PAGES,
    PAGE_SIZE,
    PagedLogSource,
    csv_row,
)
from tui.widgets.row_table import Column, ListSource, RowTable

POLL_SECONDS = 1.0
COUNT_DELAY = 0.3  # count the filter once typing pauses, not on every keystroke
LEVELS = ("all", "error", "info")
TIME_SPANS = (None, "1h", "24h", "7d")
WIDE = 150  # from this many columns the detail pane sits beside the table
MUTED = "$text-muted"
KEY = "bold $accent"
# The screen and its modals load their stylesheet themselves, so the screen works in any App;
# Textual reads a given file once however many classes (or the App) name it.
CSS_FILE = Path(__file__).parent.parent / "styles" / "logs.tcss"  # absolute: subclasses too


def parse_search(text: str) -> tuple[str | None, str | None, str | None]:
    """'org:kauri kind:timeout expired' -> ('kauri', 'timeout', 'expired')."""
    org = kind = None
    words = []
    for word in text.split():
        key, colon, value = word.partition(":")
        if colon and key.lower() == "org":
            org = value or org
        elif colon and key.lower() == "kind":
            kind = value or kind
        else:
            words.append(word)
    return org, kind, " ".join(words) or None


def describe_entry(entry: LogEntry, kb: KnowledgeEntry | None) -> Content:
    """One log row in full, as literal text with the knowledge base's advice."""
    level_style = "bold $error" if entry.level == "error" else "bold $text-accent"
    lines = [
        Content.assemble(
            (entry.at, "bold"),
            "  ",
            (visible(entry.org), "bold"),
            "  ",
            (entry.level.upper(), level_style),
            (f"  row {entry.id}", MUTED),
        ),
        Content.assemble(
            ("Document ", MUTED),
            visible(entry.document or "-"),
            ("   Kind ", MUTED),
            visible(entry.kind or "-"),
        ),
        Content.assemble(("Xero correlation id ", MUTED), visible(entry.correlation_id or "-")),
        Content(visible(entry.message)),
    ]
    if kb is not None:
        lines += [
            Content.assemble(("Known error: ", "bold"), visible(kb.title)),
            Content.assemble(("Cause: ", "bold"), visible(kb.cause)),
            Content.assemble(("Fix: ", "bold $success"), visible(kb.fix)),
            Content.assemble(("Refresh step that helps: ", "bold"), visible(kb.refresh_step)),
        ]
    elif entry.kind:
        lines.append(Content("No knowledge base entry for this kind.").stylize(MUTED))
    return Content("\n").join(lines)


def _clickable(label: str, action: str, on: bool = False) -> Content:
    """A label that runs one of this screen's actions when clicked.

    The label goes in as a markup variable, so typed text such as `[/]` stays literal.
    """
    style = "reverse bold" if on else "underline"
    return Content.from_markup(f"[@click=screen.{action}][{style}]$label[/][/]", label=label)


# (title, help, LogsScreen method, arguments): the screen's actions in the command palette.
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


class LogCommands(Provider):
    """The log browser's actions, for the command palette opened on that screen."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        if not isinstance(screen, LogsScreen):
            return []
        return [
            (title, help, partial(getattr(screen, method), *args))
            for title, help, method, args in LOG_COMMANDS
        ]

    async def discover(self) -> Hits:
        for title, help, run in self._commands():
            yield DiscoveryHit(title, run, help=help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help)


class LogsScreen(Screen):
    """The connection log of every organisation, or of one, newest first."""

    CSS_PATH = CSS_FILE
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {LogCommands}

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
        Binding("c", "clear_filters", "Clear", show=False),
        Binding("f5,ctrl+r", "reload", "Reload", show=False),
    ]
    page_size = PAGE_SIZE  # rows per query
    max_pages = MAX_PAGES  # pages whose rows are kept in memory

    def __init__(
        self,
        db_path: Path,
        org: str | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self.org = org
        self.clock = clock or clock_now
        self.level = "all"
        self.span: str | None = None
        self.kind: str | None = None
        self.query_now = LogQuery(org=org, prefix=True)
        self.source: PagedLogSource | None = None
        self.generation = 0
        self.total: int | None = None
        self.problem: str | None = None
        self.kb: dict[str, KnowledgeEntry] = {}
        self._watch = None  # the UI thread's own connection, only for PRAGMA data_version
        self._version: int | None = None
        self._count_timer: Timer | None = None

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
            yield RowTable(LOG_COLUMNS, id="log")
            with VerticalScroll(id="log-detail"):
                yield Static(id="log-detail-text")
        yield Footer(compact=True)  # compact: every key fits at 80 columns

    def on_mount(self) -> None:
        self.title = f"syncdesk · log · {visible(self.org)}" if self.org else "syncdesk · log"
        self.sub_title = str(self.db_path)
        self._start_watching()
        self.load_kb()
        self.apply_filter()

    def on_unmount(self) -> None:
        self.generation += 1  # late worker results are dropped
        self.source = None
        if self._watch is not None:
            self._watch.conn.close()
            self._watch = None

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
        self.generation += 1
        self.query_now = self.build_query()
        self.total = None
        self.problem = None
        self.show_filters()
        self.show_count(loading=True)
        self.load_first(self.query_now, self.generation)
        if self._count_timer is not None:
            self._count_timer.stop()
        query, generation = self.query_now, self.generation
        self._count_timer = self.set_timer(COUNT_DELAY, lambda: self.count_rows(query, generation))

    def show_filters(self) -> None:
        """One line: each filter with its key (the footer has no room for them at 80 columns)."""
        q = self.query_now
        parts: list[Content | str | tuple[str, str]] = [("l", KEY), (" Level ", MUTED)]
        for level in LEVELS:
            parts += [_clickable(level.capitalize(), f"level('{level}')", q.level == level), " "]
        parts += [("· ", MUTED), ("t", KEY), (" Time ", MUTED)]
        parts += [_clickable(self.span or "all", "cycle_time")]
        parts += [(" · ", MUTED), ("K", KEY), (" Kind ", MUTED)]
        parts += [_clickable(visible(q.kind) if q.kind else "any", "pick_kind")]
        if self.org:
            parts += [(" · Org ", MUTED), visible(self.org)]
        else:
            parts += [(" · ", MUTED), ("o", KEY), (" Org ", MUTED)]
            parts += [_clickable(visible(q.org) if q.org else "all", "pick_org")]
        if q.search:
            parts += [(" · ", MUTED), Content(f"“{visible(q.search)}”")]
        self.query_one("#log-filters", Static).update(Content.assemble(*parts))

    def show_count(self, *, loading: bool = False) -> None:
        source = self.source
        if self.problem:
            text = Content(visible(self.problem)).stylize("$error")
        elif loading or source is None or not source.started:
            text = Content("searching…").stylize(MUTED)
        elif not source.more:
            text = Content(f"{len(source):,} rows")
        elif self.total is not None:
            text = Content(f"{len(source):,} of {self.total:,} rows loaded")
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

    @work(thread=True, exclusive=True, exit_on_error=False, group="log-first")
    def load_first(self, query: LogQuery, generation: int) -> None:
        worker = get_current_worker()
        db = open_store(self.db_path)  # one connection per thread
        try:
            # A newer keystroke cancels this worker; stop_when then stops a slow search (a
            # one-letter prefix, punctuation scanned with LIKE) inside SQLite.
            with stop_when(db, lambda: worker.is_cancelled):
                page = page_log(db, query, limit=self.page_size)
        except (UnknownOrganisation, InvalidQuery) as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._filter_refused, generation, str(exc))
            return
        finally:
            db.conn.close()
        if not worker.is_cancelled:
            self.app.call_from_thread(self._first_loaded, generation, query, page)

    def _filter_refused(self, generation: int, message: str) -> None:
        """A filter that cannot match (an unknown org while typing): say so, show nothing."""
        if generation != self.generation:
            return
        self.problem = message
        self._first_loaded(generation, self.query_now, LogPage(()))

    def _first_loaded(self, generation: int, query: LogQuery, page: LogPage) -> None:
        if generation != self.generation:
            return
        source = self._new_source(query)
        source.add_page(page.entries, page.before_id)
        self.source = source
        self.table.set_source(source)
        self.show_count()
        self.show_detail(0)

    def _fetch_more(self, source: PagedLogSource) -> None:
        if source is self.source:
            self.load_more(source, source.next_before)

    @work(thread=True, exit_on_error=False, group="log-pages")
    def load_more(self, source: PagedLogSource, before_id: int | None) -> None:
        db = open_store(self.db_path)
        try:
            page = page_log(db, source.query, limit=self.page_size, before_id=before_id)
        finally:
            db.conn.close()
        self.app.call_from_thread(self._more_loaded, source, page)

    def _more_loaded(self, source: PagedLogSource, page: LogPage) -> None:
        if source is not self.source:
            return
        source.add_page(page.entries, page.before_id)
        self.table.set_source(source, keep_cursor=True)
        self.show_count()

    @work(thread=True, exit_on_error=False, group="log-pages")
    def load_page(self, source: PagedLogSource, high: int, size: int) -> None:
        """Fetch again the rows of a page the source dropped to keep memory flat."""
        db = open_store(self.db_path)
        try:
            page = page_log(db, source.query, limit=size, before_id=high)
        finally:
            db.conn.close()
        self.app.call_from_thread(self._page_loaded, source, high, page)

    def _page_loaded(self, source: PagedLogSource, high: int, page: LogPage) -> None:
        if source is self.source and source.fill_page(high, page.entries):
            self.table.set_source(source, keep_cursor=True)
            self.show_detail(self.table.cursor)

    @work(thread=True, exclusive=True, exit_on_error=False, group="log-count")
    def count_rows(self, query: LogQuery, generation: int) -> None:
        """The filter's total, stopped inside SQLite when a newer filter replaces it."""
        worker = get_current_worker()
        db = open_store(self.db_path)
        try:
            total = count_log(db, query, cancelled=lambda: worker.is_cancelled)
        except SyncdeskError:
            return  # load_first reports the same problem
        finally:
            db.conn.close()
        if total is not None and not worker.is_cancelled:
            self.app.call_from_thread(self._counted, generation, total)

    def _counted(self, generation: int, total: int) -> None:
        if generation == self.generation:
            self.total = total
            self.show_count()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load_kb(self) -> None:
        db = open_store(self.db_path)
        try:
            kb = knowledge_by_kind(db)
        finally:
            db.conn.close()
        self.app.call_from_thread(self._kb_loaded, kb)

    def _kb_loaded(self, kb: dict[str, KnowledgeEntry]) -> None:
        self.kb = kb
        if self.source is not None:
            self.show_detail(self.table.cursor)

    # --- live: rows written by other processes -----------------------------------------------

    def _start_watching(self) -> None:
        try:
            self._watch = open_store(self.db_path)
            self._version = data_version(self._watch)
        except SyncdeskError as exc:
            self.notify(f"Not following new rows: {exc}", severity="warning", markup=False)
            return
        self.set_interval(POLL_SECONDS, self.poll)

    def poll(self) -> None:
        """Look at data_version (microseconds); query only when another process wrote."""
        if self._watch is None:
            return
        version = data_version(self._watch)
        if version == self._version:
            return
        self._version = version
        source = self.source
        if source is None or not source.started or self.problem:
            return
        if source.newest_id is None:  # nothing was shown: simply start again
            self.apply_filter()
        else:
            self.load_newer(source, source.newest_id)

    @work(thread=True, exclusive=True, exit_on_error=False, group="log-head")
    def load_newer(self, source: PagedLogSource, newest_id: int) -> None:
        db = open_store(self.db_path)
        try:
            page = newer_entries(db, source.query, newest_id, limit=self.page_size * 5)
        finally:
            db.conn.close()
        self.app.call_from_thread(self._newer_loaded, source, page)

    def _newer_loaded(self, source: PagedLogSource, page: LogPage | None) -> None:
        if source is not self.source:
            return
        if page is None:  # a flood: more than we would prepend, so start from the top
            self.apply_filter()
            return
        table = self.table
        at_top = table.cursor == 0 and table.scroll_offset.y == 0
        cursor, top = table.cursor, table.scroll_offset.y
        added = source.prepend(page.entries)
        if not added:
            return
        if self.total is not None:
            self.total += added
        table.set_source(source, keep_cursor=True)
        if at_top:  # following the newest rows, like tail -f
            table.cursor = 0
        else:  # stay on the row the person is reading
            table.scroll_to(y=top + added, animate=False)
            table.cursor = cursor + added
        self.show_count()

    # --- the detail pane ---------------------------------------------------------------------

    @on(RowTable.RowHighlighted, "#log")
    def row_highlighted(self, event: RowTable.RowHighlighted) -> None:
        self.show_detail(event.index)
        if self.source is not None and event.index >= len(self.source) - LOOKAHEAD:
            self.source.want_more()

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
            text = Content("No rows match this filter." if empty else "…").stylize(MUTED)
        else:
            text = describe_entry(entry, self.kb.get(entry.kind or ""))
        self.query_one("#log-detail-text", Static).update(text)

    # --- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
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
        search.focus()

    @on(Input.Changed, "#log-search")
    def search_changed(self) -> None:
        self.apply_filter()

    @on(Input.Submitted, "#log-search")
    def search_done(self) -> None:
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


class KindPickerScreen(ModalScreen[str | None]):
    """Choose an error kind to filter by: known kinds, the ones seen most first."""

    CSS_PATH = CSS_FILE

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, db_path: Path, query: LogQuery, current: str | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.log_query = query
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="kind-picker", classes="log-modal"):
            yield Static("Filter by kind (enter chooses, escape closes)", classes="log-modal-title")
            yield OptionList(Option("any kind", id=""), id="kind-options", markup=False)

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        db = open_store(self.db_path)
        try:
            groups = error_groups(db, org=self.log_query.org, since=self.log_query.since)
            kb = knowledge_by_kind(db)
        except UnknownOrganisation:
            groups, kb = [], knowledge_by_kind(db)
        finally:
            db.conn.close()
        self.app.call_from_thread(self.show_kinds, groups, kb)

    def show_kinds(self, groups: list[ErrorGroup], kb: dict[str, KnowledgeEntry]) -> None:
        counts = {g.kind: g.count for g in groups}
        kinds = sorted(set(counts) | set(kb), key=lambda k: (-counts.get(k, 0), k))
        options = [Option("any kind", id="")]
        for kind in kinds:
            title = kb[kind].title if kind in kb else ""
            count = f"{counts[kind]:>7,}" if kind in counts else "      -"
            prompt = Content.assemble(
                (count, MUTED), "  ", visible(kind).ljust(24), (f" {visible(title)}", MUTED)
            )
            options.append(Option(prompt, id=kind))
        option_list = self.query_one(OptionList)
        option_list.set_options(options)
        ids = [o.id for o in options]
        option_list.highlighted = ids.index(self.current) if self.current in ids else 0
        option_list.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id or "")

    def action_close(self) -> None:
        self.dismiss(None)


GROUP_COLUMNS = (
    Column("KIND", 24),
    Column("ERRORS", 8, align_right=True),
    Column("ORGS", 6, align_right=True),
    Column("FIRST SEEN", 11),
    Column("LAST SEEN", 11),
    Column("WHAT IT IS", None, min_width=10, hide_below=90),  # and under the table anyway
)


def group_cells(group: ErrorGroup) -> list[tuple[str, str]]:
    return [
        (group.kind, "bad"),
        (f"{group.count:,}", ""),
        (f"{group.orgs:,}", ""),
        (group.first_at[5:16].replace("T", " "), "muted"),
        (group.last_at[5:16].replace("T", " "), "muted"),
        (group.title or "-", "muted" if not group.title else ""),
    ]


class ErrorGroupsScreen(ModalScreen[str | None]):
    """Errors grouped by kind for the log's organisation and time range; enter filters."""

    CSS_PATH = CSS_FILE

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,s", "close", "Close"),
    ]

    def __init__(self, db_path: Path, query: LogQuery) -> None:
        super().__init__()
        self.db_path = db_path
        self.log_query = query
        self.groups: list[ErrorGroup] = []

    def compose(self) -> ComposeResult:
        scope = f"org {self.log_query.org}" if self.log_query.org else "all organisations"
        since = f"since {self.log_query.since}" if self.log_query.since else "all time"
        with Vertical(id="error-groups", classes="log-modal"):
            yield Static(
                Content.assemble(
                    ("Errors by kind", "bold"),
                    f" · {visible(scope)} · {since}",
                    (" (enter filters the log, escape closes)", MUTED),
                ),
                classes="log-modal-title",
            )
            yield RowTable(GROUP_COLUMNS, id="group-table")
            yield Static(id="group-advice")

    def on_mount(self) -> None:
        self.load()

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        db = open_store(self.db_path)
        try:
            groups = error_groups(db, org=self.log_query.org, since=self.log_query.since)
        except UnknownOrganisation:
            groups = []
        finally:
            db.conn.close()
        self.app.call_from_thread(self.show_groups, groups)

    def show_groups(self, groups: list[ErrorGroup]) -> None:
        self.groups = groups
        table = self.query_one(RowTable)
        table.set_source(ListSource([group_cells(g) for g in groups]))
        table.focus()
        self.show_advice(0)

    @on(RowTable.RowHighlighted)
    def highlighted(self, event: RowTable.RowHighlighted) -> None:
        self.show_advice(event.index)

    def show_advice(self, index: int) -> None:
        advice = self.query_one("#group-advice", Static)
        if not self.groups:
            advice.update(Content("No errors in this range.").stylize(MUTED))
            return
        g = self.groups[index]
        advice.update(
            Content.assemble(
                (visible(g.title or g.kind), "bold"),
                ("\nFix: ", "bold $success"),
                visible(g.fix or "no knowledge base entry"),
            )
        )

    @on(RowTable.RowChosen)
    def group_chosen(self, event: RowTable.RowChosen) -> None:
        if self.groups:
            self.dismiss(self.groups[event.index].kind)

    def action_close(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[Path | None]):
    """Write every row of the current filter to CSV, with progress; escape cancels."""

    CSS_PATH = CSS_FILE

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, db_path: Path, query: LogQuery, now: datetime) -> None:
        super().__init__()
        self.db_path = db_path
        self.log_query = query
        self.default_name = f"syncdesk-log-{now.strftime('%Y%m%dT%H%M%S')}.csv"
        self.running = False

    def compose(self) -> ComposeResult:
        with Vertical(id="log-export", classes="log-modal"):
            yield Static(
                Content.assemble(
                    ("Export the current filter to CSV", "bold"),
                    (" (enter writes, escape cancels)", MUTED),
                ),
                classes="log-modal-title",
            )
            yield Input(self.default_name, id="export-path")
            yield ProgressBar(total=None, show_eta=False, id="export-progress")
            yield Static(id="export-status")

    @on(Input.Submitted, "#export-path")
    def start(self, event: Input.Submitted) -> None:
        if self.running or not event.value.strip():
            return
        self.running = True
        event.input.disabled = True
        self.query_one("#export-status", Static).update(Content("Counting rows…"))
        self.export(Path(event.value.strip()).expanduser())

    @work(thread=True, exclusive=True, exit_on_error=False, group="export")
    def export(self, path: Path) -> None:
        worker = get_current_worker()
        part = path.with_name(path.name + ".part")
        written = 0
        db = open_store(self.db_path)
        try:
            total = count_log(db, self.log_query, cancelled=lambda: worker.is_cancelled)
            if worker.is_cancelled:
                return
            self.app.call_from_thread(self._progress, 0, total)
            with part.open("w", newline="", encoding="utf-8") as fh:
                writer = csv.writer(fh, lineterminator="\n")
                writer.writerow(CSV_HEADER)
                for page in walk_log(db, self.log_query):
                    if worker.is_cancelled:
                        break
                    writer.writerows(csv_row(e) for e in page.entries)
                    written += len(page.entries)
                    self.app.call_from_thread(self._progress, written, total)
            if worker.is_cancelled:
                part.unlink(missing_ok=True)
                return
            part.replace(path)
        except OSError as exc:
            part.unlink(missing_ok=True)
            self.app.call_from_thread(self._failed, f"Cannot write {path}: {exc.strerror}.")
            return
        finally:
            db.conn.close()
        self.app.call_from_thread(self._done, path, written)

    def _progress(self, written: int, total: int | None) -> None:
        if not self.running:  # cancelled: the modal is closing
            return
        self.query_one(ProgressBar).update(total=total or None, progress=written)
        of = f" of {total:,}" if total is not None else ""
        self.query_one("#export-status", Static).update(Content(f"{written:,}{of} rows written"))

    def _failed(self, message: str) -> None:
        if not self.running:
            return
        self.running = False
        field = self.query_one("#export-path", Input)
        field.disabled = False
        field.focus()
        self.query_one("#export-status", Static).update(Content(visible(message)).stylize("$error"))

    def _done(self, path: Path, written: int) -> None:
        if not self.running:
            return
        self.running = False
        self.app.notify(f"Exported {written:,} rows to {path.resolve()}", markup=False)
        self.dismiss(path)

    def action_cancel(self) -> None:
        if self.running:
            self.running = False
            self.workers.cancel_group(self, "export")
            self.app.notify("Export cancelled; no file written.", markup=False)
        self.dismiss(None)
