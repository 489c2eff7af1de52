"""Reading a whole log filter as text SQLite writes a batch at a time (store.log_export).

One batch is one statement: the batch's rows (newest first, older than the previous batch's
oldest: keyset, so every batch costs the same) inside a `group_concat`, with sums over the
batch the caller checks the text against. SQLite runs the whole statement in one step, and
the sqlite3 module lets go of the GIL while it steps: a reader thread reads up to READ_AHEAD
batches ahead while the caller's thread checks and writes, so the two use both cores. The
batches are read in one read transaction (the caller's, if it holds one), and rows read again
by id or as plain rows come from the same snapshot. The connection is shared between the two
threads (SQLite serialises its calls); the caller's thread only uses it to read rows again.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from store.logs import _BY_ID, _COLUMNS, LogQuery, log_filter, unsearchable

if TYPE_CHECKING:
    import sqlite_utils

READ_AHEAD = 2  # batches the reader thread may have ready while the caller writes one
_Rows = list[tuple[Any, ...]]


class Form:
    """How SQLite writes a batch: each row's text, what joins the rows, and the values
    summed over the batch (SQL expressions of a row)."""

    __slots__ = ("row", "separator", "sums")

    def __init__(self, row: str, separator: str, sums: tuple[str, ...]) -> None:
        self.row, self.separator, self.sums = row, separator, sums


class Batch:
    """A batch of `count` rows as the text SQLite wrote and the sums of its Form; `rows` when
    SQLite could not write it (text that is not UTF-8). The rows themselves (plain
    tuples: id first), all or some by id, are read again from the export's snapshot."""

    __slots__ = ("_db", "_rows_sql", "count", "rows", "sums", "text")

    def __init__(
        self,
        db: sqlite_utils.Database,
        rows_sql: tuple[str, list[object]],
        count: int,
        text: str = "",
        sums: tuple[int, ...] = (),
        rows: _Rows | None = None,
    ) -> None:
        self._db, self._rows_sql = db, rows_sql
        self.count, self.text, self.sums, self.rows = count, text, sums, rows

    def all_rows(self) -> _Rows:
        if self.rows is None:
            self.rows = _fetch(self._db, *self._rows_sql)
        return self.rows

    def by_id(self, ids: list[int]) -> dict[int, tuple[Any, ...]]:
        found = {}
        for at in range(0, len(ids), 500):
            some = ids[at : at + 500]
            sql = f"{_BY_ID} ({', '.join('?' * len(some))})"
            found.update((row[0], row) for row in _fetch(self._db, sql, some))
        return found


def read_batches(
    db: sqlite_utils.Database, query: LogQuery, batch: int, form: Form
) -> Iterator[Batch]:
    """The batches of query's rows, newest first (none empty), in one read transaction. The
    first batch is read before this returns (a bad filter raises here, before any output).

    Raises UnknownOrganisation, InvalidQuery.
    """
    if log_filter(db, query) is None:  # raises UnknownOrganisation, InvalidQuery
        return iter(())
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one snapshot for every batch
    try:
        first = _read(db, query, batch, form, None)
    except BaseException:
        if own:
            conn.rollback()
        raise
    return _stream(db, first, lambda before: _read(db, query, batch, form, before), own)


def _stream(
    db: sqlite_utils.Database,
    first: tuple[Batch, int | None],
    read: Callable[[int], tuple[Batch, int | None]],
    own: bool,
) -> Iterator[Batch]:
    item, before = first
    reader = None
    try:
        if item.count:
            yield item
        if before is None:
            return
        if sqlite3.threadsafety != 3:  # a connection shared by threads needs serialized SQLite
            while before is not None:
                item, before = read(before)
                if item.count:
                    yield item
            return
        reader = _Reader(read, before)
        yield from reader
    finally:
        if reader is not None:
            reader.stop()
        if own and db.conn.in_transaction:
            db.conn.rollback()  # it only read


def _read(
    db: sqlite_utils.Database, query: LogQuery, batch: int, form: Form, before: int | None
) -> tuple[Batch, int | None]:
    """The batch of rows older than `before` (all rows but the oldest id: newest first) and the
    id the next batch is older than (None: this was the last)."""
    found = log_filter(db, query, before_id=before)
    rows_sql = found.select(_COLUMNS, limit=batch) if found else ("", [])
    if found is None:
        return Batch(db, rows_sql, 0), None
    sums = [f"{sql} AS s{n}" for n, sql in enumerate(form.sums)]
    columns = ", ".join((f"{form.row} AS t", *sums, f"{found.id_column} AS i"))
    inner, args = found.select(columns, limit=batch)
    totals = "".join(f", sum(s{n})" for n in range(len(sums)))
    sql = f"SELECT group_concat(t, ?), count(*), min(i){totals} FROM ({inner})"
    try:
        text, count, oldest, *summed = _fetch(db, sql, [form.separator, *args])[0]
    except sqlite3.OperationalError:  # text that is not UTF-8, or a search FTS refuses
        try:
            rows = _fetch(db, *rows_sql)
        except sqlite3.OperationalError as exc:
            if query.search is None:
                raise
            raise unsearchable(query, exc) from exc
        got = Batch(db, rows_sql, len(rows), rows=rows)
        return got, (rows[-1][0] if len(rows) == batch else None)
    got = Batch(db, rows_sql, count, text or "", tuple(summed))
    return got, (oldest if count == batch else None)


def _fetch(db: sqlite_utils.Database, sql: str, args: list[object]) -> _Rows:
    cursor = db.conn.cursor()
    cursor.row_factory = None  # tuples, not sqlite3.Row
    try:
        return cursor.execute(sql, args).fetchall()
    finally:
        cursor.close()


class _Reader:
    """Reads batches in a thread, at most READ_AHEAD ahead; iterating gives them in order."""

    def __init__(self, read: Callable[[int], tuple[Batch, int | None]], before: int) -> None:
        self._read = read
        self._ready: deque[tuple[Batch | None, BaseException | None]] = deque()
        self._filled = threading.Semaphore(0)
        self._slots = threading.Semaphore(READ_AHEAD)
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, args=(before,), name="syncdesk-export", daemon=True
        )
        self._thread.start()

    def _run(self, before: int | None) -> None:
        try:
            while before is not None:
                self._slots.acquire()
                if self._stopped:
                    return
                item, before = self._read(before)
                self._ready.append((item, None))
                self._filled.release()
        except BaseException as exc:  # handed to the caller's thread
            self._ready.append((None, exc))
            self._filled.release()
            return
        self._ready.append((None, None))  # the end
        self._filled.release()

    def __iter__(self) -> Iterator[Batch]:
        while True:
            self._filled.acquire()
            item, error = self._ready.popleft()
            self._slots.release()
            if error is not None:
                raise error
            if item is None:
                return
            if item.count:
                yield item

    def stop(self) -> None:
        """Let the thread finish the batch it reads, and wait for it."""
        self._stopped = True
        self._slots.release()
        self._thread.join()
