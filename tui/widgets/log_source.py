"""PagedLogSource: the connection log as a RowSource that grows page by page.

The log can hold millions of rows, so the source never holds them all: it knows the pages
fetched so far (each page is a keyset range of ids: below `high`, down to `low`), keeps the
rows of at most `max_pages` of them (least recently shown dropped first), and asks its owner
for rows it lacks through two callbacks: `on_more` near the end of what is loaded, `on_missing`
for a page whose rows were dropped. Fetching happens elsewhere (a worker on the screen); the
source only does bookkeeping, so it is cheap to call from render_line.

Also here: how a log row looks in the table (tui/log_csv.py writes it as CSV).
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable, Sequence

from store.logs import LogQuery
from store.models import LogEntry
from tui.widgets.marked import marked_text, marked_when
from tui.widgets.row_table import Column

PAGE_SIZE = 200
MAX_PAGES = 16  # rows kept in memory: 16 x 200, whatever the size of the log
LOOKAHEAD = 100  # ask for the next page when a row this close to the end is drawn

LOG_COLUMNS = (
    Column("TIME UTC", 14),
    Column("LEVEL", 5),
    Column("ORG", 9),
    Column("KIND", 14),
    Column("MESSAGE", None, min_width=20),
)
_LEVEL_STYLE = {"error": "bad", "info": "info"}
_PLACEHOLDER = (("…", "muted"), ("", ""), ("", ""), ("", ""), ("loading", "muted"))


def log_cells(entry: LogEntry) -> list[tuple[str, str]]:
    """A log row as table cells (RowTable makes the text visible)."""
    return [
        (marked_when(entry.at, seconds=True), "muted"),
        (marked_text(entry.level), _LEVEL_STYLE.get(entry.level, "")),
        (marked_text(entry.org), ""),
        (marked_text(entry.kind) or "-", "muted" if not entry.kind else ""),
        (marked_text(entry.message), ""),
    ]


class _Page:
    """A keyset range of the filter: ids below `high`, down to and including `low`."""

    __slots__ = ("high", "low", "size", "entries")

    def __init__(self, entries: Sequence[LogEntry]) -> None:
        self.entries: tuple[LogEntry, ...] | None = tuple(entries)
        self.high = entries[0].id + 1
        self.low = entries[-1].id
        self.size = len(entries)


class PagedLogSource:
    """A RowSource over one LogQuery's rows, newest first, fetched a page at a time."""

    def __init__(
        self,
        query: LogQuery,
        *,
        page_size: int = PAGE_SIZE,
        max_pages: int = MAX_PAGES,
        on_more: Callable[[], None] | None = None,
        on_missing: Callable[[int, int, int], None] | None = None,
    ) -> None:
        self.query = query
        self.page_size = page_size
        self.max_pages = max(2, max_pages)
        self.on_more = on_more
        self.on_missing = on_missing
        self.next_before: int | None = None  # before_id of the next older page
        self.exhausted = False  # True once the oldest matching row is loaded
        self.started = False  # True once the first page came back
        self.loading_more = False
        self.at_head = True  # False while shown from the oldest end (tui/screens/log_ends.py)
        self.loading_above = False
        self._pages: list[_Page] = []
        self._offsets: list[int] = []  # row index of each page's first row
        self._count = 0
        self._kept: OrderedDict[_Page, None] = OrderedDict()  # pages with rows, LRU first
        self._wanted: set[_Page] = set()  # dropped pages being fetched again

    # --- RowSource ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def cells(self, index: int) -> Sequence[tuple[str, str]]:
        entry = self.entry(index)
        if not self.exhausted and index >= self._count - LOOKAHEAD:
            self.want_more()
        return _PLACEHOLDER if entry is None else log_cells(entry)

    # --- reading -----------------------------------------------------------------------------

    @property
    def more(self) -> bool:
        return not self.exhausted

    @property
    def pages_kept(self) -> int:
        return len(self._kept)

    @property
    def newest_id(self) -> int | None:
        return self._pages[0].high - 1 if self._pages else None

    def entry(self, index: int) -> LogEntry | None:
        """The row at index, or None while its page is being fetched (again)."""
        if not 0 <= index < self._count:
            return None
        number = bisect_right(self._offsets, index) - 1
        page = self._pages[number]
        if page.entries is None:
            self._want(page)
            return None
        self._kept.move_to_end(page)
        return page.entries[index - self._offsets[number]]

    # --- asking for rows ---------------------------------------------------------------------

    def want_more(self) -> None:
        """Ask the owner for the next older page, once at a time."""
        if self.started and not self.exhausted and not self.loading_more and self.on_more:
            self.loading_more = True
            self.on_more()

    def _want(self, page: _Page) -> None:
        if page not in self._wanted and self.on_missing:
            self._wanted.add(page)
            self.on_missing(page.high, page.low, page.size)

    # --- adding rows -------------------------------------------------------------------------

    def add_page(self, entries: Sequence[LogEntry], next_before: int | None) -> None:
        """The next older page has arrived (entries may be empty: nothing older)."""
        self.started = True
        self.loading_more = False
        self.next_before = next_before
        self.exhausted = next_before is None
        if entries:
            if self._pages and entries[0].id >= self._pages[-1].low:
                entries = [e for e in entries if e.id < self._pages[-1].low]  # never twice
            if entries:
                self._append(_Page(entries))

    def fill_page(self, high: int, entries: Sequence[LogEntry]) -> bool:
        """Rows of a dropped page fetched again; False if that page is gone (a new filter)."""
        for page in self._pages:
            if page.high == high and page.entries is None:
                self._wanted.discard(page)
                page.entries = tuple(e for e in entries if e.id >= page.low)[: page.size]
                if len(page.entries) != page.size:  # rows were deleted meanwhile
                    page.size = len(page.entries)
                    self._pages = [p for p in self._pages if p.size]
                    self._reindex()
                if page.size:
                    self._keep(page)
                return True
        return False

    def prepend(self, entries: Sequence[LogEntry]) -> int:
        """Rows newer than any shown, newest first; returns how many were added."""
        newest = self.newest_id
        fresh = [e for e in entries if newest is None or e.id > newest]
        if not fresh:
            return 0
        first = self._pages[0] if self._pages else None
        if (
            first is not None
            and first.entries is not None
            and first.size + len(fresh) <= (self.page_size)
        ):
            merged = _Page([*fresh, *first.entries])
            self._pages[0] = merged
            self._kept.pop(first, None)
            self._keep(merged)
        else:
            page = _Page(fresh)
            self._pages.insert(0, page)
            self._keep(page)
        self._reindex()
        self.started = True
        return len(fresh)

    def _append(self, page: _Page) -> None:
        self._offsets.append(self._count)
        self._pages.append(page)
        self._count += page.size
        self._keep(page)

    def _reindex(self) -> None:
        self._offsets, total = [], 0
        for page in self._pages:
            self._offsets.append(total)
            total += page.size
        self._count = total

    def _keep(self, page: _Page) -> None:
        """Remember the page's rows, dropping the least recently shown beyond max_pages."""
        self._kept[page] = None
        self._kept.move_to_end(page)
        while len(self._kept) > self.max_pages:
            old, _ = self._kept.popitem(last=False)
            old.entries = None
