"""Following the connection log from a screen: noticing writes, counting a filter, walking it.

`data_version` is how a reader learns that another process wrote the store without
re-querying: SQLite bumps it on a connection whenever *another* connection commits, and
reading it is a PRAGMA that costs microseconds. So the watching connection must stay open
between polls, and it never sees its own writes (a screen only reads).

Counting and walking a whole filter are the slow cases (a million rows), so both can be
stopped: `count_log` (and any query run inside `stop_when`) is interrupted inside SQLite from a
watchdog thread, `walk_log` between pages. A progress handler is not enough: FTS5 spends long
stretches (expanding a one-letter prefix) without running a VM instruction, and only
sqlite3_interrupt reaches it there.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from store.logs import _COLUMNS, LogQuery, log_filter, page_log, unsearchable
from store.models_log import LogEntry, LogPage

if TYPE_CHECKING:
    import sqlite_utils

_WATCH_EVERY = 0.02  # seconds between two looks at cancelled() while a query runs


def data_version(db: sqlite_utils.Database) -> int:
    """A number that changes whenever another connection has committed to the store."""
    return db.execute("PRAGMA data_version").fetchone()[0]


def count_log(
    db: sqlite_utils.Database,
    query: LogQuery,
    *,
    cancelled: Callable[[], bool] | None = None,
    cap: int | None = None,
) -> int | None:
    """How many rows match query (the same rows page_log walks), counting at most `cap`;
    None when cancelled. A result equal to cap means "cap or more".

    Raises UnknownOrganisation, InvalidQuery.
    """
    found = log_filter(db, query)
    if found is None:
        return 0
    sql, args = found.count(cap=cap)
    if cancelled is None:
        return db.execute(sql, args).fetchone()[0]
    if cancelled():
        return None
    try:
        with stop_when(db, cancelled):
            return db.execute(sql, args).fetchone()[0]
    except sqlite3.OperationalError as exc:
        if cancelled():
            return None  # "interrupted"
        raise unsearchable(query, exc) from exc


@contextmanager
def stop_when(db: sqlite_utils.Database, cancelled: Callable[[], bool]) -> Iterator[None]:
    """Interrupt whatever the connection runs in this block as soon as cancelled() is true.

    The interrupted statement raises sqlite3.OperationalError ("interrupted"), or whatever
    the store function wraps it in (InvalidQuery for page_log).
    """
    done = threading.Event()

    def watch() -> None:
        while not done.wait(_WATCH_EVERY):
            if cancelled():
                db.conn.interrupt()
                return

    watchdog = threading.Thread(target=watch, name="syncdesk-stop-when", daemon=True)
    watchdog.start()
    try:
        yield
    finally:
        done.set()
        watchdog.join()


def walk_log(
    db: sqlite_utils.Database, query: LogQuery, *, page_size: int = 2000
) -> Iterator[LogPage]:
    """Every row matching query, newest first, one page at a time (memory stays one page).

    Raises UnknownOrganisation, InvalidQuery.
    """
    before: int | None = None
    while True:
        page = page_log(db, query, limit=page_size, before_id=before)
        if page.entries:
            yield page
        if page.before_id is None:
            return
        before = page.before_id


def newer_entries(
    db: sqlite_utils.Database, query: LogQuery, newest_id: int | None, *, limit: int = 1000
) -> LogPage | None:
    """Rows matching query written after newest_id, newest first; None if more than limit.

    None tells a reader that so much arrived that it should start again from the top rather
    than prepend. With newest_id None (nothing shown yet) this is simply the first page.

    Raises UnknownOrganisation, InvalidQuery.
    """
    found: list = []
    before: int | None = None
    while len(found) <= limit:
        page = page_log(db, query, limit=min(200, limit + 1), before_id=before)
        fresh = [e for e in page.entries if newest_id is None or e.id > newest_id]
        found += fresh
        if newest_id is None or len(fresh) < len(page.entries) or page.before_id is None:
            return LogPage(tuple(found[:limit]))
        before = page.before_id
    return None


def oldest_entries(
    db: sqlite_utils.Database, query: LogQuery, *, limit: int, after_id: int | None = None
) -> LogPage:
    """The oldest `limit` rows matching query (newer than after_id when given), newest first:
    the far end of a filter in one step (`End` in the log browser), and, page by page, the
    rows above it. Keyset from the other end: the same cost wherever it starts. before_id is
    the id of the newest row when more rows are newer, else None.

    Raises UnknownOrganisation, InvalidQuery.
    """
    found = log_filter(db, query, after_id=after_id)
    if found is None:
        return LogPage(())
    sql, args = found.select(_COLUMNS, limit=limit, oldest=True)
    try:
        rows = db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:  # an FTS syntax corner
        raise unsearchable(query, exc) from exc
    entries = tuple(LogEntry.from_row(r) for r in reversed(rows))
    return LogPage(entries, entries[0].id if len(entries) == limit else None)
