"""Rows other processes write appear at the top of the log browser as they arrive (like
tail -f): the store's poll (StoreScreen.follow_store) calls `store_changed`, which fetches only
the rows newer than the newest shown. LogsScreen mixes this in.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from store.models import LogPage
from store.watch import newer_entries
from tui.screens.base import store_work
from tui.widgets.log_source import PagedLogSource


class LogLive:
    """The worker and handler of the newest end (for LogsScreen, a StoreScreen)."""

    @dataclass
    class NewerLoaded(Message, bubble=False):
        """Rows written since the newest shown; None when so many that we start again."""

        source: PagedLogSource
        page: LogPage | None

    def store_changed(self) -> None:
        """Another process wrote: fetch only the rows newer than the newest shown."""
        source = self.source
        if source is None or not source.started or self.problem or not source.at_head:
            return  # (shown from the oldest end: newer rows load as the person scrolls up)
        if source.newest_id is None:  # nothing was shown: simply start again
            self.apply_filter()
        else:
            self.load_newer(source, source.newest_id)

    @store_work(group="log-head")
    def load_newer(self, source: PagedLogSource, newest_id: int) -> NewerLoaded:
        with self.store() as db:
            page = newer_entries(db, source.query, newest_id, limit=self.page_size * 5)
        return self.NewerLoaded(source, page)

    def on_log_live_newer_loaded(self, message: NewerLoaded) -> None:
        source, page = message.source, message.page
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
            self.total += added  # (a lower bound stays one)
        table.set_source(source, keep_cursor=True)
        if at_top:  # following the newest rows, like tail -f
            table.cursor = 0
        else:  # stay on the row the person is reading
            table.scroll_to(y=top + added, animate=False)
            table.cursor = cursor + added
        self.show_count()
