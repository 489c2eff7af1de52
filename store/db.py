"""Opening the store: connection settings, forward migrations, bad-file checks, transactions.

The schema and its migrations are in store/schema.py; the version lives in `PRAGMA
user_version`. A store whose version is ahead of len(MIGRATIONS) was written by a newer
syncdesk and is refused rather than guessed at. Every sqlite3 error becomes a StoreError here
(`store_error`), named for what it is.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from store import clock
from store.errors import (
    StoreBadValue,
    StoreBusy,
    StoreDamaged,
    StoreError,
    StoreExists,
    StoreFull,
    StoreIOError,
    StoreMissing,
    StoreReadOnly,
    StoreTooNew,
    StoreUnreadable,
)
from store.paths import create_private, path_text, write_blocker
from store.schema import MIGRATIONS, SCHEMA_VERSION

# Opening a store works on its path's text (store.paths.path_text, named as pathlib would name
# it): pathlib is imported only to create a store, open one read-only or check a damaged one.

BUSY_TIMEOUT_MS = 5000


class Database:
    """A store connection as syncdesk uses it: `.conn`, `.execute(sql, params)`, `with db:`
    (closes it), the same calls as sqlite-utils' Database. Importing and starting sqlite-utils
    (its plugin scan reads the metadata of every installed package) was half of every
    command's start-up, so anything else (`db["kb"].insert_all`, `db.table_names()`) goes to a
    real Database, made on first use.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._full: Any = None
        conn.execute("PRAGMA recursive_triggers = on")  # as sqlite-utils sets it

    def execute(self, sql: str, parameters: Any = None) -> sqlite3.Cursor:
        if parameters is not None:
            return self.conn.execute(sql, parameters)
        return self.conn.execute(sql)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getitem__(self, name: str) -> Any:
        return self._sqlite_utils()[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._sqlite_utils(), name)

    def _sqlite_utils(self) -> Any:
        if self._full is None:
            import sqlite_utils

            self._full = sqlite_utils.Database(self.conn)
        return self._full

    def __repr__(self) -> str:
        return f"<Database {self.conn!r}>"


FIRST_LOOK_MS = 250  # with patience: how long a lock may last before the wait is announced

# With patience (the console): how long this context waits for another session's write lock
# before a transaction, and what it calls once when it starts waiting.
_patience: ContextVar[tuple[float, Callable[[], None]] | None] = ContextVar(
    "syncdesk_store_patience", default=None
)


def now_iso() -> str:
    """The current time as the store writes it (from the one clock, store/clock.py)."""
    return clock.now_iso()


# Why every store this process opens is read-only (the --read-only option), or None.
_read_only_session: str | None = None


def set_read_only(reason: str | None) -> None:
    """Open every store in this process read-only from now on (None: as the file system
    allows), giving the reason the refusals will name."""
    global _read_only_session
    _read_only_session = reason


def read_only_reason(path: str | os.PathLike[str]) -> str | None:
    """Why the store at path opens read-only here: the session's choice or the file system's."""
    return _read_only_session or write_blocker(path)


# Tables the first migration creates: a file at schema 1 or later without them is not ours.
OUR_TABLES = frozenset(
    ("meta", "orgs", "integrations", "credentials", "settings", "mappings", "queue", "log")
)


def _configure(conn: sqlite3.Connection, *, read_only: bool = False) -> None:
    """The connection's settings; only journal_mode (WAL) is kept in the file, and that is
    set after _recognise, so a file that is not ours is never changed."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA foreign_keys = ON")
    if read_only:
        return
    conn.execute("PRAGMA synchronous = NORMAL")
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode = WAL")


def _connect(target: str | os.PathLike[str], *, uri: bool = False) -> sqlite3.Connection:
    # isolation_level=None: we open transactions ourselves (BEGIN IMMEDIATE in `transaction`),
    # so sqlite3 never starts one behind our back and a read never holds a write lock.
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, uri=uri)
    conn.row_factory = sqlite3.Row
    return conn


def _connect_read_only(path: str) -> sqlite3.Connection:
    """A connection that cannot write (SQLite's mode=ro), for a user who may only read.

    A WAL store is read through its -shm and -wal files; SQLite (3.22+) reads them even when
    this user may not write them, as long as they exist, which they do while any session has
    the store open. When none has, they are gone, and a user who cannot write the directory
    cannot create them: the file alone then holds every change, and immutable=1 reads it
    without them (it does not see changes made after it opened; the console's screens open
    the store afresh for each load).
    """
    from pathlib import Path

    uri = Path(path).resolve().as_uri()
    conn = _connect(f"{uri}?mode=ro", uri=True)
    try:
        conn.execute("PRAGMA user_version").fetchone()  # the first read opens the WAL index
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if Path(f"{path}-wal").exists():
            raise
    return _connect(f"{uri}?mode=ro&immutable=1", uri=True)


def _check_file(path: str) -> None:
    # Only stat here, never open(): closing any descriptor of a database file drops every
    # POSIX lock this process holds on it, and SQLite's locks are POSIX locks, so a quick look
    # at the header would let another process reset the WAL under our open connections.
    try:
        mode = os.stat(path).st_mode
    except PermissionError:  # a directory on the way that this user may not search
        raise StoreUnreadable(f"Cannot read {path}: permission denied.") from None
    except (OSError, ValueError):
        raise StoreMissing(
            f"No store at {path}; create one with `syncdesk --db {path} init`."
        ) from None
    if stat.S_ISDIR(mode):
        raise StoreUnreadable(f"{path} is a directory, not a syncdesk store.")
    if not os.access(path, os.R_OK):
        raise StoreUnreadable(f"Cannot read {path}: permission denied.")


def _quick_check(path: str | os.PathLike[str]) -> str | None:
    """SQLite's verdict on the file ('ok' or the first problem), None when it cannot say."""
    from pathlib import Path

    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            return conn.execute("PRAGMA quick_check(1)").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return None


def store_error(exc: sqlite3.Error, path: str | os.PathLike[str] | None = None) -> StoreError:
    """The StoreError a sqlite3 error means, named for what it is, with advice that never
    destroys a sound store: damage is only reported when PRAGMA quick_check confirms it."""
    where = f"the store {path}" if path else "the store"
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in text:
        return _busy(where, BUSY_TIMEOUT_MS / 1000)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return StoreReadOnly(
            f"{where} cannot be written by you (file-system permissions on the file or its "
            "directory), so nothing was changed; ask a member of the store's group to do it."
        )
    if name == "SQLITE_FULL" or "database or disk is full" in text:
        return StoreFull(
            f"the disk holding {where} is full, so nothing was changed; free some space and "
            "try again."
        )
    if name.startswith("SQLITE_IOERR") or "disk I/O error" in text:
        return StoreIOError(
            f"reading or writing {where} failed with an I/O error ({text}); nothing was "
            "changed. Check the disk and the file system, then try again."
        )
    if "Could not decode to UTF-8" in text:
        return StoreBadValue(
            f"a value in {where} is not valid text ({text}); the store itself is sound. "
            "Correct that value, or ask for it to be corrected."
        )
    if name == "SQLITE_NOTADB" or "not a database" in text:
        return StoreUnreadable(f"{path} is not a SQLite database; point --db at a syncdesk store.")
    verdict = _quick_check(path) if path else None
    if name == "SQLITE_CORRUPT" or "malformed" in text or (verdict and verdict != "ok"):
        if verdict == "ok":
            return StoreError(f"{where} could not be used ({text}); SQLite's check finds it sound.")
        return StoreDamaged(
            f"{where} is damaged or truncated ({verdict or text}); restore it from a backup."
        )
    return StoreError(f"{where} could not be used ({text}).")


def _busy(where: str, seconds: float) -> StoreBusy:
    return StoreBusy(
        f"{where} is busy: another session kept it locked for over {seconds:g} s, so nothing "
        "was changed; try again in a moment."
    )


def _unreadable(path: str, exc: sqlite3.DatabaseError) -> StoreError:
    return store_error(exc, path)


def open_store(path: str | os.PathLike[str], *, read_only: bool | None = None) -> Database:
    """Open an existing store, migrating it forward if it is older than this syncdesk.

    read_only: True opens it so nothing can be written; None (the default) does so when the
    session is read-only (set_read_only) or the file system does not let this user write it.

    Raises StoreMissing, StoreUnreadable (not SQLite, truncated, corrupt, not ours),
    StoreTooNew, StoreReadOnly (read-only, and older than this syncdesk).
    """
    path = path_text(path)
    _check_file(path)
    if read_only is None:
        read_only = read_only_reason(path) is not None
    try:
        conn = _connect_read_only(path) if read_only else _connect(path)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        version = _recognise(conn, path)  # reads only: a file that is not ours stays as it was
        _configure(conn, read_only=read_only)
        if read_only and version < SCHEMA_VERSION:
            conn.close()
            raise StoreReadOnly(
                f"{path} needs upgrading to schema {SCHEMA_VERSION}, which a read-only session "
                "cannot do; ask a member of the store's group to open it once."
            )
        migrate(conn)
        conn.execute("SELECT count(*) FROM orgs").fetchone()
        # SQLite compares the page count in the header with the file: a truncated file fails.
        conn.execute("PRAGMA page_count").fetchone()
    except sqlite3.DatabaseError as exc:
        raise _unreadable(path, exc) from exc
    return Database(conn)


def _recognise(conn: sqlite3.Connection, path: str) -> int:
    """The store's schema version, read before anything is written (closes conn and raises
    StoreTooNew, or StoreUnreadable for an empty file or a SQLite database that is not a
    syncdesk store)."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        conn.close()
        raise StoreTooNew(
            f"{path} was written by a newer syncdesk (schema {version}, this one reads up to "
            f"{SCHEMA_VERSION}); upgrade syncdesk to open it."
        )
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if version == 0 or not OUR_TABLES <= tables:
        conn.close()
        what = "an empty file" if os.stat(path).st_size == 0 else "a SQLite database"
        raise StoreUnreadable(
            f"{path} is {what}, not a syncdesk store (left as it was); create a store with "
            "`syncdesk init`, or point --db at one."
        )
    return version


def create_store(path: str | os.PathLike[str], *, force: bool = False) -> Database:
    """Create an empty store with the current schema.

    Raises StoreExists when a file is there and force is False.
    """
    from pathlib import Path

    path = Path(path)
    if path.exists() and not force:
        raise StoreExists(f"{path} already exists; pass --force to replace it.")
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    try:
        create_private(path)
        conn = _connect(path)
        _configure(conn)
        migrate(conn)
    except sqlite3.Error as exc:
        raise StoreUnreadable(f"Cannot create a store at {path} ({exc}).") from exc
    db = Database(conn)
    set_meta(db, "created_at", now_iso())
    return db


def migrate(conn: sqlite3.Connection) -> None:
    """Apply every pending migration, each in its own transaction with its version bump."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    for target, step in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            step(conn)
            conn.execute(f"PRAGMA user_version = {target}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


@contextmanager
def transaction(db: Database | sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction, taken with BEGIN IMMEDIATE so concurrent writers queue up front."""
    conn = getattr(db, "conn", db)
    try:
        _begin(conn)
    except sqlite3.OperationalError as exc:
        raise store_error(exc, _path_of(conn)) from exc
    try:
        yield conn
    except BaseException as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.OperationalError):
            raise store_error(exc, _path_of(conn)) from exc
        raise
    else:
        try:
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise store_error(exc, _path_of(conn)) from exc


@contextmanager
def patience(seconds: float, on_wait: Callable[[], None]) -> Iterator[None]:
    """Within it (in this thread or context), a transaction that finds another session
    holding the write lock calls on_wait() once (after FIRST_LOOK_MS) and keeps trying for
    `seconds` in all before raising StoreBusy, which names that wait. Nothing has been done in
    the transaction while it waits, so waiting longer is always safe."""
    token = _patience.set((seconds, on_wait))
    try:
        yield
    finally:
        _patience.reset(token)


def _begin(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock as the context's patience says."""
    wait = _patience.get()
    if wait is None:
        conn.execute("BEGIN IMMEDIATE")  # the connection's busy timeout
        return
    seconds, on_wait = wait
    deadline = time.monotonic() + seconds
    step_ms, announced = FIRST_LOOK_MS, False
    try:
        while True:
            conn.execute(f"PRAGMA busy_timeout = {int(step_ms)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not isinstance(store_error(exc), StoreBusy):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _busy(f"the store {_path_of(conn) or ''}".rstrip(), seconds) from exc
                if not announced:
                    announced = True
                    on_wait()
                step_ms = max(1, min(1000, left * 1000))
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")


def _path_of(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("PRAGMA database_list").fetchone()
    except sqlite3.Error:
        return None
    return row[2] if row and row[2] else None


def require_sound(db: Database | sqlite3.Connection, action: str) -> None:
    """Refuse `action` (something irreversible) unless PRAGMA quick_check finds the whole
    store sound: damage in pages a command never reads goes unnoticed until then, and an
    uninstall must not destroy what only a damaged store still holds. Seconds on a 1M-row store.
    """
    conn = db.conn if isinstance(db, Database) else db
    try:
        verdict = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        verdict = str(exc)
    if verdict != "ok":
        where = _path_of(conn) or "the store"
        raise StoreDamaged(
            f"{where} is damaged ({verdict}), so it was not {action} and nothing changed, here "
            "or on Xero; restore the store from a backup (init --force keeps the damaged file "
            "aside) before trying again."
        )


def set_meta(db: Database, key: str, value: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", [key, value])
