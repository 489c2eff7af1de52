"""`End` and `Home` in the log browser: the filter's oldest row in one step, and back.

The browser pages from the newest row down (keyset on the id), so `End` used to reach only the
end of what was loaded: the oldest of a million rows took ~5,000 presses. Now `End` on a
filter that is not all loaded asks the store for the filter's oldest page (store.watch.
oldest_entries: keyset from the other end, as cheap as the first page) and shows it with the
cursor on the oldest row; scrolling up loads the rows above, a page at a time, until the
newest; `Home` there starts again from the newest. LogsScreen mixes this in.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from store.logs import LogQuery
from store.models import LogPage
from store.watch import oldest_entries
from tui.screens.base import store_work
from tui.widgets.log_source import LOOKAHEAD, PagedLogSource
from tui.widgets.row_table import RowTable


class LogTable(RowTable):
    """The log's table: `End`/`Home` go to the filter's ends, not only the loaded rows'."""

    @dataclass
    class EndWanted(Message):
        oldest: bool  # True: the oldest row of the filter; False: the newest

    def action_jump(self, where: int) -> None:
        source = self.source
        if isinstance(source, PagedLogSource) and source.started:
            if where < 0 and not source.exhausted:
                self.post_message(self.EndWanted(True))
                return
            if where == 0 and not source.at_head:
                self.post_message(self.EndWanted(False))
                return
        super().action_jump(where)


class LogEnds:
    """The workers and handlers of the oldest end (for LogsScreen, a StoreScreen)."""

    @dataclass
    class OldestLoaded(Message, bubble=False):
        query: LogQuery
        page: LogPage

    @dataclass
    class AboveLoaded(Message, bubble=False):
        source: PagedLogSource
        page: LogPage

    def on_log_table_end_wanted(self, message: LogTable.EndWanted) -> None:
        message.stop()
        if message.oldest:
            self.load_oldest(self.query_now)
        else:
            self.apply_filter()

    @store_work(group="log-first")  # a new filter cancels it, and it the first page's load
    def load_oldest(self, query: LogQuery) -> OldestLoaded:
        with self.store() as db:
            page = oldest_entries(db, query, limit=self.page_size)
        return self.OldestLoaded(query, page)

    def on_log_ends_oldest_loaded(self, message: OldestLoaded) -> None:
        screen = self  # a LogsScreen
        if message.query != screen.query_now:
            return
        source = screen._new_source(message.query)
        source.add_page(message.page.entries, None)  # nothing is older
        source.at_head = message.page.before_id is None
        screen.source = source
        table = screen.table
        table.set_source(source)
        table.cursor = max(0, len(source) - 1)
        screen.show_count()
        screen.show_detail(table.cursor)

    def want_above(self) -> None:
        """The cursor is near the top of rows shown from the oldest end: load newer ones."""
        source: PagedLogSource | None = self.source
        if source is None or source.at_head or source.loading_above:
            return
        if self.table.cursor >= LOOKAHEAD:  # (where it is now, not where a message said)
            return
        source.loading_above = True
        self.load_above(source, source.newest_id)

    @store_work(group="log-above", exclusive=False)
    def load_above(self, source: PagedLogSource, newest_id: int | None) -> AboveLoaded:
        with self.store() as db:
            page = oldest_entries(
                db,
                source.query,
                limit=self.page_size,
                after_id=newest_id,
            )
        return self.AboveLoaded(source, page)

    def on_log_ends_above_loaded(self, message: AboveLoaded) -> None:
        source, page = message.source, message.page
        if source is not self.source:
            return
        source.loading_above = False
        source.at_head = page.before_id is None
        table = self.table
        cursor, top = table.cursor, table.scroll_offset.y
        added = source.prepend(page.entries)
        table.set_source(source, keep_cursor=True)
        table.scroll_to(y=top + added, animate=False)  # stay on the row being read
        table.cursor = cursor + added
        self.show_count()
