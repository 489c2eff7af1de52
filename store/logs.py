"""The connection log: filtered pages newest first, full-text search, error groups, writing.

Paging is keyset on the rowid, which follows time (rows are written in time order): a page is
"the newest `limit` rows below `before_id`", so page 1 and page 10,000 cost the same. A time
bound becomes a rowid bound through the `at` index, so every filter ends in one backwards index
walk that stops after `limit` rows. Text search lets FTS5 produce rowids newest first
(ORDER BY rowid DESC) and checks the other filters per row.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from store import clock
from store.db import transaction
from store.enums import Level
from store.errors import InvalidQuery
from store.logsearch import fts_query, matcher, prefix_applies, tokens
from store.models_log import LogEntry, LogPage
from store.redact import redact
from store.schema import LEVELS
from store.timeparse import day, iso, parse, parse_since

if TYPE_CHECKING:
    import sqlite_utils

    from store.models import ErrorGroup

# store.orgs (an organisation's id), store.kb (the classifier) and store.models (ErrorGroup) are
# imported by the functions that need them: reading a page of the log (`syncdesk log`) needs
# none of them, and each costs start-up (issue 17, the CLI beats grep).

LEVEL_CHOICES = ("all", *LEVELS)
# The same failure seen again within this window (a check, a diagnose, opening a screen) is
# one row, not one row per look.
REPEAT_WINDOW = timedelta(hours=1)


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
    tested only after FTS had produced every newer match). The organisation and the level are
    columns of the FTS index, so they go into the MATCH too, and FTS intersects doclists
    instead of testing every match of a common word against the log. CROSS JOIN keeps FTS in
    the outer loop: left to itself the planner may walk log_org and run the MATCH once per row
    of the organisation (17 s instead of 0.1 s counting on 1M rows).

    Without words the filter names its index (INDEXED BY): the organisation's rows (of the
    level) when there is an organisation, else the kind's, else the level's, else the rowid.
    The planner cannot then pick the kind index for kind + org (12,586 rows instead of 460).
    `fts_where` holds the conditions FTS answers alone; when they are all the conditions, a
    count reads the FTS index only (no row of the log: 4-33x faster).
    """

    tables: str
    where: tuple[str, ...]
    args: tuple[object, ...]
    id_column: str
    fts_where: tuple[str, ...] | None = None  # every condition, on log_fts only; or None
    fts_args: tuple[object, ...] = ()

    def select(
        self, columns: str, *, limit: int, orgs: bool = True, oldest: bool = False
    ) -> tuple[str, list[object]]:
        """The newest `limit` rows (the oldest with oldest): SQL and parameters (orgs: join
        orgs for the code)."""
        join = " JOIN orgs ON orgs.id = log.org_id" if orgs else ""
        sql = (
            f"SELECT {columns} FROM {self.tables}{join}"
            f"{_where(self.where)} ORDER BY {self.id_column} {'' if oldest else 'DESC '}LIMIT ?"
        )
        return sql, [*self.args, limit]

    def count(self, *, cap: int | None = None) -> tuple[str, list[object]]:
        """How many rows (at most cap when given): SQL and parameters."""
        if self.fts_where is not None:
            tables, where, args = "log_fts", self.fts_where, list(self.fts_args)
        else:
            tables, where, args = self.tables, self.where, list(self.args)
        if cap is None:
            return f"SELECT count(*) FROM {tables}{_where(where)}", args
        return f"SELECT count(*) FROM (SELECT 1 FROM {tables}{_where(where)} LIMIT ?)", [
            *args,
            cap,
        ]


def unsearchable(query: LogQuery, exc: Exception) -> InvalidQuery:
    """The error for a search SQLite refused (an FTS syntax corner) or a query it stopped."""
    return InvalidQuery(f"Cannot search for {query.search!r} ({exc}).")


def _where(conditions: tuple[str, ...]) -> str:
    return " WHERE " + " AND ".join(conditions) if conditions else ""


def _index(query: LogQuery) -> str | None:
    """The index that walks a filter without words newest first (None: the rowid)."""
    if query.org:
        return "log_org_level" if query.level != "all" else "log_org"
    if query.kind:
        return "log_kind"
    return "log_level" if query.level != "all" else None


def log_filter(
    db: sqlite_utils.Database,
    query: LogQuery,
    *,
    before_id: int | None = None,
    after_id: int | None = None,
) -> LogFilter | None:
    """The SQL for query's rows (older than before_id, newer than after_id, when given); None
    when none can match.

    Raises UnknownOrganisation, InvalidQuery.
    """
    if query.level not in LEVEL_CHOICES:
        raise InvalidQuery(f"Unknown level {query.level!r}; choose error, info or all.")
    words = fts_query(query.search, prefix=query.prefix) if query.search else None
    where: list[str] = []
    args: list[object] = []
    fts: list[str] = [] if words is None else [f"message : ({words})"]
    exact = True  # every condition is in `fts`
    if query.org:
        from store.orgs import org_id

        oid = org_id(db, query.org)
        fts.append(f"org_id : {oid}")
        where.append("log.org_id = ?")
        args.append(oid)
    if query.level != "all":
        fts.append(f"level : {query.level}")
        where.append("log.level = ?")
        args.append(query.level)
    if query.kind:
        if tokens(query.kind):  # a phrase in the kind column: narrows, is not exact
            fts.append('kind : "' + query.kind.replace('"', '""') + '"')
        exact = False
        where.append("log.kind = ?")
        args.append(query.kind)
    bounds = _id_bounds(db, query, before_id)
    if bounds is None:
        return None
    if after_id is not None:
        bounds = (after_id + 1 if bounds[0] is None else max(bounds[0], after_id + 1), bounds[1])
    ids = "log.id" if words is None else "log_fts.rowid"
    id_where: list[str] = []
    for bound, value in zip((">=", "<"), bounds, strict=True):
        if value is not None:
            id_where.append(f"{ids} {bound} ?")
            args.append(value)
    if words is not None:
        match = " AND ".join(fts)
        bound_args = tuple(v for v in bounds if v is not None)
        return LogFilter(
            "log_fts CROSS JOIN log ON log.id = log_fts.rowid",
            ("log_fts MATCH ?", *where, *id_where),
            (match, *args),
            ids,
            ("log_fts MATCH ?", *id_where) if exact else None,
            (match, *bound_args),
        )
    if query.search:  # punctuation only, e.g. "[/]": FTS has no words for it
        from store.orgs import like_pattern

        id_where.append("log.message LIKE ? ESCAPE '\\'")
        args.append(like_pattern(query.search))
    index = _index(query)
    tables = f"log INDEXED BY {index}" if index else "log"
    return LogFilter(tables, (*where, *id_where), tuple(args), ids)


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
# The rows of some ids (followed by "(?, ?, ...)"), as _COLUMNS.
_BY_ID = f"SELECT {_COLUMNS} FROM log JOIN orgs ON orgs.id = log.org_id WHERE log.id IN"


def page_log(
    db: sqlite_utils.Database, query: LogQuery, *, limit: int = 50, before_id: int | None = None
) -> LogPage:
    """The newest `limit` rows matching query, older than before_id when given.

    Raises UnknownOrganisation, InvalidQuery.
    """
    if prefix_applies(query.search, query.prefix):
        return _page_typed(db, query, limit, before_id)
    return _page(db, query, limit, before_id)


def _page(db: sqlite_utils.Database, query: LogQuery, limit: int, before_id: int | None) -> LogPage:
    found = log_filter(db, query, before_id=before_id)
    if found is None:
        return LogPage(())
    sql, args = found.select(_COLUMNS, limit=limit)
    try:
        rows = db.execute(sql, args).fetchall()
    except Exception as exc:  # sqlite3.OperationalError from an FTS syntax corner
        raise unsearchable(query, exc) from exc
    entries = tuple(LogEntry.from_row(r) for r in rows)
    return LogPage(entries, entries[-1].id if len(entries) == limit else None)


# Rows of the filter a typed prefix is first looked for in (store/logsearch.py), and after how
# many of them a search that cannot fill its page in the window goes to FTS at once (a rare
# word's FTS query is cheap; testing the whole window for it was half its time).
TYPED_WINDOW = 2000
TYPED_PROBE = 400


def _page_typed(
    db: sqlite_utils.Database, query: LogQuery, limit: int, before_id: int | None
) -> LogPage:
    """A page while typing: the newest TYPED_WINDOW rows of the filter without its words are
    tested in Python; FTS5 (a prefix merge, 40-170 ms for a common prefix) is asked only for
    the rows below them, which a common prefix rarely needs. Same rows as _page."""
    plain = replace(query, search=None, prefix=False)
    found = log_filter(db, plain, before_id=before_id)
    if found is None:
        return LogPage(())
    sql, args = found.select("log.id, log.message", limit=TYPED_WINDOW, orgs=False)
    test = matcher(query.search or "", prefix=True)
    ids: list[int] = []
    seen, last, rare = 0, before_id, False
    for row_id, message in db.execute(sql, args):
        seen, last = seen + 1, row_id
        if isinstance(message, str) and test(message):
            ids.append(row_id)
            if len(ids) == limit:
                break
        if seen == TYPED_PROBE and len(ids) * TYPED_WINDOW < limit * TYPED_PROBE:
            rare = True  # at this rate the window would not fill the page: FTS for the rest
            break
    entries = _entries(db, ids)
    if len(ids) < limit and (rare or seen == TYPED_WINDOW):  # the filter goes on below
        entries += _page(db, query, limit - len(ids), last).entries
    elif len(ids) < limit:
        return LogPage(entries)
    return LogPage(entries, entries[-1].id if len(entries) == limit else None)


def _entries(db: sqlite_utils.Database, ids: list[int]) -> tuple[LogEntry, ...]:
    if not ids:
        return ()
    rows = db.execute(
        f"{_BY_ID} ({', '.join('?' * len(ids))}) ORDER BY log.id DESC",
        ids,
    ).fetchall()
    return tuple(LogEntry.from_row(r) for r in rows)


def filter_misses(db: sqlite_utils.Database, query: LogQuery) -> tuple[list[str], list[str]] | None:
    """Why a filter finds no row, part by part within its organisation (the scope): None when
    the organisation itself has no row; else the labels of its parts (“words”, kind K, level
    L, the time range since S) and of those that match no row on their own."""
    scope = LogQuery(org=query.org, prefix=True)
    if query.org and not page_log(db, scope, limit=1).entries:
        return None
    parts = []
    if query.search:
        parts.append((f"“{query.search}”", replace(scope, search=query.search)))
    if query.kind:
        parts.append((f"kind {query.kind}", replace(scope, kind=query.kind)))
    if query.level != "all":
        parts.append((f"level {query.level}", replace(scope, level=query.level)))
    if query.since:
        parts.append((f"the time range since {query.since}", replace(scope, since=query.since)))
    nothing = [label for label, alone in parts if not page_log(db, alone, limit=1).entries]
    return [label for label, _ in parts], nothing


def error_groups(
    db: sqlite_utils.Database, *, org: str | None = None, since: str | None = None
) -> list[ErrorGroup]:
    """Errors grouped by kind, most frequent first, with the knowledge base's advice.

    The whole log comes from error_totals (a row per kind) or, for one organisation, from
    error_kinds (a row per kind), both kept by trigger, so neither grows with history. A time
    range of every organisation sums error_slots (ten-minute buckets per kind) after the slot
    of `since` and reads that slot's rows after `since` from the log; one organisation's sums
    error_stats (per day) for whole days and counts the part of the first day from the log.

    Raises UnknownOrganisation.
    """
    from store.models import ErrorGroup
    from store.orgs import org_id

    args: dict[str, object] = {"org": org_id(db, org) if org else None}
    if since is None and org is None:  # one row per kind
        groups = "SELECT kind, count, orgs, first_at, last_at FROM error_totals"
    elif org is None:
        groups = _slots_since(args, since)
    else:
        if since is None:
            source = (
                "SELECT kind, org_id, count, first_at, last_at FROM error_kinds WHERE org_id = :org"
            )
        else:
            first = parse(since)
            next_day = day(first + timedelta(days=1))
            args.update(day=day(first), since=since, next_day=next_day + "T00:00:00Z")
            source = (
                "SELECT kind, org_id, count, first_at, last_at FROM error_stats "
                "WHERE day > :day AND org_id = :org UNION ALL "
                "SELECT coalesce(kind, 'unknown'), org_id, 1, at, at "
                "FROM log INDEXED BY log_level_at_org "
                "WHERE level = 'error' AND at >= :since AND at < :next_day AND org_id = :org"
            )
        groups = (
            "SELECT kind, sum(count) AS count, count(DISTINCT org_id) AS orgs, "
            f"min(first_at) AS first_at, max(last_at) AS last_at FROM ({source}) GROUP BY kind"
        )
    sql = (
        f"SELECT g.kind, g.count, g.orgs, g.first_at, g.last_at, kb.title, kb.cause, kb.fix, "
        f"kb.refresh_step, kb.action FROM ({groups}) g LEFT JOIN kb ON kb.kind = g.kind "
        f"ORDER BY g.count DESC, g.kind"
    )
    return [ErrorGroup(*row) for row in db.execute(sql, args).fetchall()]


SLOT = timedelta(minutes=10)  # error_slots' buckets: the first 15 characters of a time


def _slots_since(args: dict[str, object], since: str) -> str:
    """Every organisation's error groups since `since`: the buckets after its slot (a search of
    each kind's buckets, streamed by kind), then the slot's own rows from `since` on (ten
    minutes of errors at most) and the organisations whose latest error is among them."""
    first = parse(since)
    slot_start = first.replace(minute=first.minute - first.minute % 10, second=0, microsecond=0)
    args.update(since=since, slot=iso(slot_start)[:15], next_slot=iso(slot_start + SLOT))
    return (
        "SELECT kind, sum(count) AS count, sum(orgs) AS orgs, min(first_at) AS first_at, "
        "max(last_at) AS last_at FROM ("
        "SELECT * FROM (SELECT t.kind, sum(s.count) AS count, sum(s.orgs) AS orgs, "
        "min(s.first_at) AS first_at, max(s.last_at) AS last_at "
        "FROM error_totals t CROSS JOIN error_slots s ON s.kind = t.kind AND s.slot > :slot "
        "GROUP BY t.kind) "
        "UNION ALL SELECT coalesce(kind, 'unknown'), 1, 0, at, at "
        "FROM log INDEXED BY log_level_at_org "
        "WHERE level = 'error' AND at >= :since AND at < :next_slot "
        "UNION ALL SELECT kind, 0, 1, NULL, NULL FROM error_kinds INDEXED BY error_kinds_last "
        "WHERE last_at >= :since AND last_at < :next_slot"
        ") GROUP BY kind HAVING sum(count) > 0"
    )


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
    from store.kb import classifier
    from store.orgs import org_id

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
