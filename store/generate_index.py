"""Loading and indexing the log of a build on two threads: the full-text index is built by a
second connection while this one inserts the rows, sorts the six log indexes and counts the
error groups.

SQLite lets one connection write a file at a time, so the worker writes the FTS5 index into a
side file of its own (the build's temporary file with `-fts` appended). The store is in WAL
mode while the log is loaded, so the worker reads each committed batch of rows while the next
is inserted, and tokenizes them (most of the indexing work: 8 of 14 s of CPU for a million
rows) while the other thread inserts and then sorts the indexes. When both are done, the FTS5
shadow tables are copied into the store as they are (blocks, no tokenizing again).

The FTS index holds what `schema_log.create_log_indexes` makes on one connection (an FTS5
'rebuild' inserts the same rows in the same order; here each batch is its own transaction, so
the segments are cut at other places); the rest is made by the same statements.

A second thread only pays when a core is free for it (spare_core): without one, LogIndexer
does the same on this connection, with no journal, no worker and no side file.

Only for a build's private file, with no other connection to it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

from store import schema_log
from store.db import BUSY_TIMEOUT_MS

# The tables FTS5 keeps an external-content index in (log_fts has no _content table).
FTS_SHADOW_TABLES = ("log_fts_data", "log_fts_idx", "log_fts_docsize", "log_fts_config")
FTS_COLUMNS = "message, org_id, level, kind"


def spare_core() -> bool:
    """Whether a second thread would find a core of its own (now, on this machine).

    The scheduler shares the CPU between sessions (Linux's autogroup), not threads: on a
    machine other sessions keep busy, a second thread only splits this session's share and
    costs 2-3 s of CPU more (WAL, the side file, the copy), so the build is faster on one
    thread there and faster on two with a core idle (docs/benchmarks.md, "Session 3").
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows)
        return False
    return cores >= 2 and load <= cores - 1


def side_path(store: Path | str) -> Path:
    """Where the full-text index is built before it is copied into the store."""
    return Path(f"{store}-fts")


class _FtsWorker(threading.Thread):
    """Indexes the store's log rows in the side file as batches of them are committed."""

    def __init__(self, store: Path, side: Path) -> None:
        super().__init__(name="build-fts", daemon=True)
        self.store, self.side = store, side
        self.todo: queue.SimpleQueue[int | None] = queue.SimpleQueue()  # up to which id
        self.error: BaseException | None = None
        self.conn: sqlite3.Connection | None = None
        self.stopped = False

    def run(self) -> None:
        try:
            self.side.unlink(missing_ok=True)
            conn = self.conn = sqlite3.connect(self.side, isolation_level=None)
            try:
                self._index(conn)
            finally:
                conn.close()
        except BaseException as exc:  # handed to the building thread, which raises it
            self.error = exc

    def _index(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode = OFF")  # a scratch file: no journal
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")  # a WAL reader may wait
        conn.execute("ATTACH DATABASE ? AS store", (str(self.store),))
        schema_log.run_script(conn, schema_log.LOG_FTS)
        done = 0
        while (upto := self.todo.get()) is not None and not self.stopped:
            # What 'rebuild' does (it cannot here: the content table is in the store), in
            # rowid order; a transaction per batch, so each reads the log as last committed.
            conn.execute("BEGIN")
            conn.execute(
                f"INSERT INTO main.log_fts(rowid, {FTS_COLUMNS}) SELECT id, {FTS_COLUMNS} "
                "FROM store.log WHERE id > ? AND id <= ? ORDER BY id",
                (done, upto),
            )
            conn.execute("COMMIT")
            done = upto


class LogIndexer:
    """Use around a bulk load of the log (its indexes dropped, no transaction open):

        with LogIndexer(conn) as indexer:
            for batch in batches:
                (insert the batch in a transaction of its own)
                indexer.committed()
            indexer.finish()

    finish() makes the indexes, the FTS index, the error groups, the triggers and the
    planner's statistics, as schema_log.create_log_indexes(conn, sample=True) does. Leaving
    the block with an exception stops the worker and removes its file.
    """

    def __init__(self, conn: sqlite3.Connection, *, threaded: bool = True) -> None:
        self.conn = conn
        store = Path(conn.execute("PRAGMA main.database_list").fetchone()[2])
        self.side = side_path(store)
        self.threaded = threaded
        if threaded:
            # WAL, so the worker reads committed rows while this connection writes;
            # checkpointed once at the end of the build (not every 1,000 pages).
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")
        self.worker = _FtsWorker(store, self.side)

    def __enter__(self) -> LogIndexer:
        if self.threaded:
            self.worker.start()
        return self

    def committed(self) -> None:
        """The rows inserted so far are committed: the worker may index them."""
        if self.threaded:
            last = self.conn.execute("SELECT max(id) FROM log").fetchone()[0] or 0
            self.worker.todo.put(last)

    def finish(self) -> None:
        """The log is loaded: index it here and wait for the worker, then copy its FTS index
        (without a worker: everything here, as schema_log.create_log_indexes does)."""
        conn = self.conn
        if not self.threaded:
            conn.execute("BEGIN")
            schema_log.create_log_indexes(conn, sample=True)
            conn.execute("COMMIT")
            return
        self.worker.todo.put(None)
        conn.execute("BEGIN")
        schema_log.run_script(conn, schema_log.LOG_INDEXES)
        schema_log.fill_error_groups(conn)
        conn.execute("COMMIT")
        self.worker.join()
        if self.worker.error is not None:
            raise self.worker.error
        conn.execute("ATTACH DATABASE ? AS fts", (str(self.side),))
        try:
            conn.execute("BEGIN")
            schema_log.run_script(conn, schema_log.LOG_FTS)
            for table in FTS_SHADOW_TABLES:  # replace what CREATE VIRTUAL TABLE wrote
                conn.execute(f"DELETE FROM main.{table}")
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM fts.{table}")
            schema_log.run_script(conn, schema_log.LOG_TRIGGERS)
            schema_log.analyze(conn, sample=True)
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.execute("DETACH DATABASE fts")
        conn.execute("PRAGMA wal_autocheckpoint = 1000")  # SQLite's default

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        worker = self.worker
        if not self.threaded:
            if exc is not None and self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            return
        if exc is not None:  # no need to finish an index that will not be used
            worker.stopped = True
            if worker.conn is not None and worker.is_alive():
                with contextlib.suppress(sqlite3.ProgrammingError):  # it closed meanwhile
                    worker.conn.interrupt()
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        worker.todo.put(None)
        worker.join()
        self.side.unlink(missing_ok=True)
