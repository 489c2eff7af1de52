"""The connection log: filtered pages newest first, full-text search, error groups, writing.

Paging is keyset on the rowid, which follows time (rows are written in time order): a page is
"the newest `limit` rows below `before_id`", so page 1 and page 10,000 cost the same. A time
bound becomes a rowid bound through the `at` index, so every filter ends in one backwards index
walk that stops after `limit` rows. Text search lets FTS5 produce rowids newest first
(ORDER BY rowid DESC) and checks the other filters per row.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from store import clock
from store.db import transaction
from store.enums import Level
from store.errors import InvalidQuery
from store.kb import classifier
from store.models import ErrorGroup, LogEntry, LogPage
from store.orgs import like_pattern, org_id
from store.redact import redact
from store.schema import LEVELS
from store.timeparse import day, iso, parse, parse_since

LEVEL_CHOICES = ("all", *LEVELS)
# The same failure seen again within this window (a check, a diagnose, opening a screen) is
# one row, not one row per look.
REPEAT_WINDOW = timedelta(hours=1)
_WORD = re.compile(r"\w", re.UNICODE)


@dataclass(frozen=True, slots=True)
class LogQuery:
    """What to show: one organisation or all, a level, words to find, a time range, a kind."""

    org: str | None = None
    level: str = "all"
    search: str | None = None
    since: str | None = None  # a store time (see timeparse.parse_since)
    until: str | None = None
    kind: str | None = None
    prefix: bool = False  # treat the last search word as a prefix (typing in the TUI)


def fts_query(text: str, *, prefix: bool = False) -> str | None:
    """The user's words as an FTS5 query: every word must appear, each taken literally.

    Returns None when the text has no word characters (FTS cannot search for those).
    """
    words = [w for w in text.split() if _WORD.search(w)]
    if not words:
        return None
    terms = ['"' + w.replace('"', '""') + '"' for w in words]
    if prefix:
        terms[-1] += "*"
    return " ".join(terms)


def _id_bound(db: sqlite_utils.Database, at: str, *, first: bool) -> int | None:
    # Walk the `at` index from the bound; a bare min(id) would scan the rowids instead.
    sql = (
        "SELECT id FROM log INDEXED BY log_at WHERE at >= ? ORDER BY at, id LIMIT 1"
        if first
        else "SELECT id FROM log INDEXED BY log_at WHERE at <= ? ORDER BY at DESC, id DESC LIMIT 1"
    )
    row = db.execute(sql, [at]).fetchone()
    return row[0] if row else None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """A LogQuery as SQL: the tables its rows come from, its conditions and their parameters,
    and the id column that orders and bounds the rows.

    Searching words, FTS5 produces the rowids newest first, so the id bounds go on
    log_fts.rowid, where FTS5 applies them while walking its index (on log.id they would be
    tested only after FTS had produced every newer match). CROSS JOIN keeps FTS in the outer
    loop: left to itself the planner may walk log_org and run the MATCH once per row of the
    organisation (17 s instead of 0.1 s counting on 1M rows).
    """

    tables: str
    where: tuple[str, ...]
    args: tuple[object, ...]
    id_column: str

    def select(self, columns: str, *, limit: int) -> tuple[str, list[object]]:
        """The newest `limit` rows: SQL and parameters."""
        sql = (
            f"SELECT {columns} FROM {self.tables} JOIN orgs ON orgs.id = log.org_id"
            f"{self._where()} ORDER BY {self.id_column} DESC LIMIT ?"
        )
        return sql, [*self.args, limit]

    def count(self) -> tuple[str, list[object]]:
        """How many rows: SQL and parameters."""
        return f"SELECT count(*) FROM {self.tables}{self._where()}", list(self.args)

    def _where(self) -> str:
        return " WHERE " + " AND ".join(self.where) if self.where else ""


def log_filter(
    db: sqlite_utils.Database, query: LogQuery, *, before_id: int | None = None
) -> LogFilter | None:
    """The SQL for query's rows (older than before_id when given); None when none can match.

    Raises UnknownOrganisation, InvalidQuery.
    """
    if query.level not in LEVEL_CHOICES:
        raise InvalidQuery(f"Unknown level {query.level!r}; choose error, info or all.")
    match = fts_query(query.search, prefix=query.prefix) if query.search else None
    where: list[str] = []
    args: list[object] = []
    if query.org:
        oid = org_id(db, query.org)
        if match is not None:
            # Narrow the FTS match itself to the organisation: FTS then intersects two doclists
            # instead of testing every match of a common word against the org (100x on 1M rows).
            match = f"org_id : {oid} AND ({match})"
        where.append("log.org_id = ?")
        args.append(oid)
    if query.level != "all":
        where.append("log.level = ?")
        args.append(query.level)
    if query.kind:
        where.append("log.kind = ?")
        args.append(query.kind)
    bounds = _id_bounds(db, query, before_id)
    if bounds is None:
        return None
    ids = "log.id" if match is None else "log_fts.rowid"
    for bound, value in zip((">=", "<"), bounds, strict=True):
        if value is not None:
            where.append(f"{ids} {bound} ?")
            args.append(value)
    if match is not None:
        tables = "log_fts CROSS JOIN log ON log.id = log_fts.rowid"
        return LogFilter(tables, ("log_fts MATCH ?", *where), (match, *args), ids)
    if query.search:  # punctuation only, e.g. "[/]": FTS has no words for it
        where.append("log.message LIKE ? ESCAPE '\\'")
        args.append(like_pattern(query.search))
    return LogFilter("log", tuple(where), tuple(args), ids)


def _id_bounds(
    db: sqlite_utils.Database, query: LogQuery, before_id: int | None
) -> tuple[int | None, int | None] | None:
    """The ids (lowest included, highest excluded) of the query's time range; None if empty."""
    low = None
    if query.since:
        low = _id_bound(db, query.since, first=True)
        if low is None:
            return None
    high = before_id
    if query.until:
        last = _id_bound(db, query.until, first=False)
        if last is None:
            return None
        high = last + 1 if high is None else min(high, last + 1)
    return low, high


_COLUMNS = (
    "log.id, log.at, orgs.code AS org, log.level, log.document, log.message, log.kind, "
    "log.correlation_id"
)


def page_log(
    db: sqlite_utils.Database, query: LogQuery, *, limit: int = 50, before_id: int | None = None
) -> LogPage:
    """The newest `limit` rows matching query, older than before_id when given.

    Raises UnknownOrganisation, InvalidQuery.
    """
    found = log_filter(db, query, before_id=before_id)
    if found is None:
        return LogPage(())
    sql, args = found.select(_COLUMNS, limit=limit)
    try:
        rows = db.execute(sql, args).fetchall()
    except Exception as exc:  # sqlite3.OperationalError from an FTS syntax corner
        raise InvalidQuery(f"Cannot search for {query.search!r} ({exc}).") from exc
    entries = tuple(LogEntry.from_row(r) for r in rows)
    return LogPage(entries, entries[-1].id if len(entries) == limit else None)


def error_groups(
    db: sqlite_utils.Database, *, org: str | None = None, since: str | None = None
) -> list[ErrorGroup]:
    """Errors grouped by kind, most frequent first, with the knowledge base's advice.

    Whole days come from error_stats (kept by trigger as rows are written); only the part of
    the first day after `since` is counted from the log itself.

    Raises UnknownOrganisation.
    """
    args: dict[str, object] = {"org": org_id(db, org) if org else None}
    # The org condition is spelled out only when there is one: `(:org IS NULL OR ...)` would
    # keep SQLite from using the error_stats_org index.
    by_org = " AND org_id = :org" if org else ""
    buckets = "SELECT kind, org_id, count, first_at, last_at FROM error_stats WHERE 1"
    if since is None:
        source = buckets + by_org
    else:
        first = parse(since)
        next_day = day(first + timedelta(days=1))
        args.update(day=day(first), since=since, next_day=next_day + "T00:00:00Z")
        source = (
            buckets + " AND day > :day" + by_org + " UNION ALL "
            "SELECT coalesce(kind, 'unknown'), org_id, 1, at, at FROM log "
            "WHERE level = 'error' AND at >= :since AND at < :next_day" + by_org
        )
    sql = (
        f"SELECT g.kind, g.count, g.orgs, g.first_at, g.last_at, kb.title, kb.cause, kb.fix, "
        f"kb.refresh_step, kb.action FROM (SELECT kind, sum(count) AS count, "
        f"count(DISTINCT org_id) AS orgs, min(first_at) AS first_at, max(last_at) AS last_at "
        f"FROM ({source}) GROUP BY kind) g LEFT JOIN kb ON kb.kind = g.kind "
        f"ORDER BY g.count DESC, g.kind"
    )
    return [ErrorGroup(*row) for row in db.execute(sql, args).fetchall()]


def resolve_since(text: str | None, *, now: datetime | None = None) -> str | None:
    """A --since value as a store time (None stays None)."""
    return parse_since(text, now=now) if text else None


def _written_since(
    conn: Any, oid: int, level: str, document: str | None, message: str, since: str
) -> bool:
    # The rowid follows time: walk this organisation's rows of this level newest first (the
    # log_org_level index) and stop at the window's start.
    for at, doc, text in conn.execute(
        "SELECT at, document, message FROM log WHERE org_id = ? AND level = ? "
        "ORDER BY id DESC LIMIT 500",
        [oid, level],
    ):
        if at < since:
            return False
        if text == message and doc == document:
            return True
    return False


def record(
    db: sqlite_utils.Database,
    org: str,
    level: Level,
    message: str,
    *,
    document: str | None = None,
    correlation_id: str | None = None,
    at: datetime | None = None,
) -> LogEntry:
    """Write one connection-log row, classified by the knowledge base.

    Raises UnknownOrganisation, InvalidQuery for an unknown level.
    """
    entry = _write(db, org, level, message, document, correlation_id, at, once_within=None)
    assert entry is not None  # only a once_within write can be skipped
    return entry


def record_once(
    db: sqlite_utils.Database,
    org: str,
    level: str,
    message: str,
    *,
    document: str | None = None,
    correlation_id: str | None = None,
    within: timedelta = REPEAT_WINDOW,
) -> LogEntry | None:
    """Write a row unless the same row (organisation, level, document, message) was written
    within `within`: looking again (a check, a diagnose, opening a screen) must not add a row
    per look and inflate what the next person sees. Returns None when skipped.

    Raises UnknownOrganisation, InvalidQuery for an unknown level.
    """
    return _write(db, org, level, message, document, correlation_id, None, once_within=within)


def _write(
    db: sqlite_utils.Database,
    org: str,
    level: str,
    message: str,
    document: str | None,
    correlation_id: str | None,
    at: datetime | None,
    *,
    once_within: timedelta | None,
) -> LogEntry | None:
    if level not in LEVELS:
        raise InvalidQuery(f"Unknown level {level!r}; choose error or info.")
    oid = org_id(db, org)
    message, document, correlation_id = (
        redact(v) if v else v for v in (message, document, correlation_id)
    )
    kind = classifier(db).classify(message, level)
    moment = at or clock.now()
    stamp = iso(moment)
    with transaction(db) as conn:
        if once_within is not None and _written_since(
            conn, oid, level, document, message, iso(moment - once_within)
        ):
            return None
        cursor = conn.execute(
            "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [stamp, oid, level, document, message, kind, correlation_id],
        )
        code = conn.execute("SELECT code FROM orgs WHERE id = ?", [oid]).fetchone()[0]
    return LogEntry(cursor.lastrowid, stamp, code, level, document, message, kind, correlation_id)
