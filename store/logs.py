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

import sqlite_utils

from store import clock
from store.db import transaction
from store.errors import InvalidQuery
from store.kb import classifier
from store.models import ErrorGroup, LogEntry, LogPage
from store.orgs import like_pattern, org_id
from store.timeparse import iso, parse_since

LEVEL_CHOICES = ("all", "error", "info")
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


def log_conditions(
    db: sqlite_utils.Database, query: LogQuery, before_id: int | None
) -> tuple[list[str], list[object]] | None:
    """SQL conditions on `log` for the query, or None when nothing can match."""
    if query.level not in LEVEL_CHOICES:
        raise InvalidQuery(f"Unknown level {query.level!r}; choose error, info or all.")
    where: list[str] = []
    args: list[object] = []
    if query.org:
        where.append("log.org_id = ?")
        args.append(org_id(db, query.org))
    if query.level != "all":
        where.append("log.level = ?")
        args.append(query.level)
    if query.kind:
        where.append("log.kind = ?")
        args.append(query.kind)
    if query.since:
        low = _id_bound(db, query.since, first=True)
        if low is None:
            return None
        where.append("log.id >= ?")
        args.append(low)
    upper = before_id
    if query.until:
        high = _id_bound(db, query.until, first=False)
        if high is None:
            return None
        upper = high + 1 if upper is None else min(upper, high + 1)
    if upper is not None:
        where.append("log.id < ?")
        args.append(upper)
    return where, args


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
    conditions = log_conditions(db, query, before_id)
    if conditions is None:
        return LogPage(())
    where, args = conditions
    match = fts_query(query.search, prefix=query.prefix) if query.search else None
    if match is not None and query.org:
        # Narrow the FTS match itself to the organisation: FTS then intersects two doclists
        # instead of testing every match of a common word against the org (100x on 1M rows).
        match = f"org_id : {args[0]} AND ({match})"
    if match is not None:
        # Id bounds go on log_fts.rowid, where FTS5 applies them while walking its index;
        # on log.id they would be tested only after FTS had produced every newer match.
        where = [w.replace("log.id ", "log_fts.rowid ") for w in where]
        sql = (
            f"SELECT {_COLUMNS} FROM log_fts JOIN log ON log.id = log_fts.rowid "
            f"JOIN orgs ON orgs.id = log.org_id WHERE log_fts MATCH ? "
            + "".join(f"AND {w} " for w in where)
            + "ORDER BY log_fts.rowid DESC LIMIT ?"
        )
        args = [match, *args, limit]
    else:
        if query.search:  # punctuation only, e.g. "[/]": FTS has no words for it
            where.append("log.message LIKE ? ESCAPE '\\'")
            args.append(like_pattern(query.search))
        sql = (
            f"SELECT {_COLUMNS} FROM log JOIN orgs ON orgs.id = log.org_id "
            + ("WHERE " + " AND ".join(where) + " " if where else "")
            + "ORDER BY log.id DESC LIMIT ?"
        )
        args = [*args, limit]
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
        day = since[:10]
        next_day = (datetime.fromisoformat(day) + timedelta(days=1)).strftime("%Y-%m-%d")
        args.update(day=day, since=since, next_day=next_day + "T00:00:00Z")
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


def record(
    db: sqlite_utils.Database,
    org: str,
    level: str,
    message: str,
    *,
    document: str | None = None,
    correlation_id: str | None = None,
    at: datetime | None = None,
) -> LogEntry:
    """Write one connection-log row, classified by the knowledge base.

    Raises UnknownOrganisation, InvalidQuery for an unknown level.
    """
    if level not in ("error", "info"):
        raise InvalidQuery(f"Unknown level {level!r}; choose error or info.")
    oid = org_id(db, org)
    kind = classifier(db).classify(message, level)
    stamp = iso(at or clock.now())
    with transaction(db) as conn:
        cursor = conn.execute(
            "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [stamp, oid, level, document, message, kind, correlation_id],
        )
        code = conn.execute("SELECT code FROM orgs WHERE id = ?", [oid]).fetchone()[0]
    return LogEntry(cursor.lastrowid, stamp, code, level, document, message, kind, correlation_id)
