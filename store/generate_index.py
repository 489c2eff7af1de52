"""Indexing a freshly loaded log on two cores: the full-text index is built by a second
connection in a thread while this one sorts the six log indexes and counts the error groups.

SQLite lets one connection write a file at a time, so the thread writes the FTS5 index into a
side file of its own (the build's temporary file with `-fts` appended), reading the log from
the store through a WAL snapshot; when both are done, the FTS5 shadow tables are copied into
the store as they are (a copy of blocks, no tokenizing again). The result is the store that
`schema_log.create_log_indexes` makes on one connection (an FTS5 'rebuild' inserts the same
rows in the same order), in about half the wall time on an idle machine, and with two threads
to schedule instead of one on a busy one.

Only for a build's private file: the store must have no other connection, and the log must be
committed (journal_mode OFF is fine; it is switched to WAL here, as the finished store is).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from store import schema_log

# The tables FTS5 keeps an external-content index in (log_fts has no _content table).
FTS_SHADOW_TABLES = ("log_fts_data", "log_fts_idx", "log_fts_docsize", "log_fts_config")
FTS_COLUMNS = "message, org_id, level, kind"


def side_path(store: Path | str) -> Path:
    """Where the full-text index is built before it is copied into the store."""
    return Path(f"{store}-fts")


class _FtsWorker(threading.Thread):
    """Builds log_fts for the store's log in the side file, on a connection of its own."""

    def __init__(self, store: Path, side: Path) -> None:
        super().__init__(name="build-fts", daemon=True)
        self.store, self.side = store, side
        self.error: BaseException | None = None
        self.conn: sqlite3.Connection | None = None

    def run(self) -> None:
        try:
            self.side.unlink(missing_ok=True)
            conn = self.conn = sqlite3.connect(self.side, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = OFF")  # a scratch file: no journal
                conn.execute("PRAGMA synchronous = OFF")
                conn.execute("ATTACH DATABASE ? AS store", (str(self.store),))
                schema_log.run_script(conn, schema_log.LOG_FTS)
                conn.execute("BEGIN")
                # What 'rebuild' does (it cannot here: the content table is in the store),
                # in rowid order, from one snapshot of the store's log.
                conn.execute(
                    f"INSERT INTO main.log_fts(rowid, {FTS_COLUMNS}) "
                    f"SELECT id, {FTS_COLUMNS} FROM store.log ORDER BY id"
                )
                conn.execute("COMMIT")
            finally:
                conn.close()
        except BaseException as exc:  # handed to the building thread, which raises it
            self.error = exc


def index_log(conn: sqlite3.Connection) -> None:
    """After a bulk load of the log (committed, no other connection to the file): its
    indexes, the FTS index, error groups, triggers and planner statistics, as
    schema_log.create_log_indexes(conn, sample=True) makes them, on two threads."""
    store = Path(conn.execute("PRAGMA main.database_list").fetchone()[2])
    side = side_path(store)
    # WAL, so the worker reads the committed log while this connection writes the indexes.
    conn.execute("PRAGMA journal_mode = WAL")
    worker = _FtsWorker(store, side)
    try:
        _index_beside(conn, worker)
        conn.execute("ATTACH DATABASE ? AS fts", (str(side),))
        try:
            conn.execute("BEGIN")
            schema_log.run_script(conn, schema_log.LOG_FTS)
            for table in FTS_SHADOW_TABLES:  # replace what CREATE VIRTUAL TABLE wrote
                conn.execute(f"DELETE FROM main.{table}")
                conn.execute(f"INSERT INTO main.{table} SELECT * FROM fts.{table}")
            schema_log.run_script(conn, schema_log.LOG_TRIGGERS)
            schema_log.analyze(conn, sample=True)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            conn.execute("DETACH DATABASE fts")
    finally:
        side.unlink(missing_ok=True)


def _index_beside(conn: sqlite3.Connection, worker: _FtsWorker) -> None:
    """The six log indexes and the error groups here while the worker builds the FTS index;
    the worker's error, if any, is raised here once both are done."""
    worker.start()
    try:
        conn.execute("BEGIN")
        schema_log.run_script(conn, schema_log.LOG_INDEXES)
        schema_log.fill_error_groups(conn)
        conn.execute("COMMIT")
    except BaseException:
        if worker.conn is not None:
            worker.conn.interrupt()  # no need to finish an index that will not be used
        raise
    finally:
        worker.join()
    if worker.error is not None:
        raise worker.error
