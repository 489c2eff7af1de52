"""Search with filters, identifiers and typed prefixes: every path gives the rows a plain
reference (a regex over every message of the store, in Python) gives."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest
from support import NOW

from store import logs
from store.logs import LogQuery, page_log, record
from store.logsearch import MIN_PREFIX, fts_query, matcher, prefix_applies
from store.timeparse import iso
from store.watch import count_log, walk_log


def _reference(db: Any, query: LogQuery) -> list[int]:
    """Ids of the rows query should find, newest first, by brute force."""
    patterns = []
    words = [w for w in (query.search or "").split() if re.search(r"\w", w)]
    for i, word in enumerate(words):
        parts = re.findall(r"[^\W_]+", word.lower())
        if not parts:
            return []  # FTS finds nothing for a word without letters or digits ('_')
        body = r"[\W_]+".join(map(re.escape, parts))
        prefix = query.prefix and i == len(words) - 1 and len(word) >= MIN_PREFIX
        end = "" if prefix else r"(?![^\W_])"
        patterns.append(re.compile(r"(?<![^\W_])" + body + end, re.IGNORECASE))
    found = []
    for row_id, org, level, kind, at, message in db.execute(
        "SELECT log.id, orgs.code, level, kind, at, message FROM log "
        "JOIN orgs ON orgs.id = log.org_id ORDER BY log.id DESC"
    ):
        if query.org and org.lower() != query.org.lower():
            continue
        if query.level != "all" and level != query.level:
            continue
        if query.kind and kind != query.kind:
            continue
        if query.since and at < query.since:
            continue
        if query.search and not words and query.search.lower() not in message.lower():
            continue  # punctuation only: a substring
        if all(p.search(message) for p in patterns):
            found.append(row_id)
    return found


def _walk(db: Any, query: LogQuery, page_size: int) -> list[int]:
    return [e.id for page in walk_log(db, query, page_size=page_size) for e in page.entries]


SEARCHES = [
    "exported",
    "Exported sales",
    "invalid_grant",
    "429",
    "SI-0000",
    "xero",
    "timed out",
    "inv",
    "expo",
    "e",
    "in",
    "Synced cust",
    "offline",
    "[/]",
    "_",
]


@pytest.fixture
def queries(db: Any) -> list[LogQuery]:
    rng = random.Random(17)
    kinds = [r[0] for r in db.execute("SELECT DISTINCT kind FROM log WHERE kind IS NOT NULL")]
    made = []
    for search in SEARCHES:
        for _ in range(6):
            made.append(
                LogQuery(
                    org=rng.choice([None, None, "KAURI", "harbour"]),
                    level=rng.choice(["all", "all", "error", "info"]),
                    search=search,
                    since=rng.choice([None, None, iso(NOW - timedelta(hours=30))]),
                    kind=rng.choice([None, None, None, *kinds]),
                    prefix=rng.choice([False, True]),
                )
            )
    return made


def test_every_search_path_finds_the_reference_rows(db, queries) -> None:
    for query in queries:
        expected = _reference(db, query)
        assert _walk(db, query, page_size=7) == expected, query
        assert count_log(db, query) == len(expected), query


def test_typed_prefix_below_the_window_comes_from_fts(db, monkeypatch) -> None:
    """A window smaller than a page: the rest of every page comes from the FTS prefix query."""
    monkeypatch.setattr(logs, "TYPED_WINDOW", 5)
    for search in ("expo", "Synced cust", "inv", "Xero API req", "request tim"):
        for level in ("all", "error"):
            query = LogQuery(search=search, level=level, prefix=True)
            expected = _reference(db, query)
            assert expected or level == "error"
            assert _walk(db, query, page_size=9) == expected, query


def test_a_rare_typed_search_leaves_the_window_after_the_probe(db, monkeypatch) -> None:
    """Too few hits in the first TYPED_PROBE rows to fill the page in the window: the rest of
    the page comes from FTS below the probed rows, and the pages are still the reference's."""
    monkeypatch.setattr(logs, "TYPED_WINDOW", 10**6)  # the window alone would hold every row
    monkeypatch.setattr(logs, "TYPED_PROBE", 8)
    asked: list[int | None] = []
    page = logs._page
    monkeypatch.setattr(
        logs, "_page", lambda db, q, n, below: asked.append(below) or page(db, q, n, below)
    )
    for search in ("Xero API req", "offline", "inv", "timed ou", "zzz"):
        for level in ("all", "error"):
            query = LogQuery(search=search, level=level, prefix=True)
            assert _walk(db, query, page_size=9) == _reference(db, query), query
    assert asked  # only the probe sends a page to FTS here


def test_filters_go_into_the_match_so_fts_answers_the_count_alone(db) -> None:
    found = logs.log_filter(db, LogQuery(org="KAURI", level="error", search="xero"))
    assert found is not None
    assert "org_id :" in found.args[0] and "level : error" in found.args[0]
    sql, _ = found.count()
    assert "JOIN" not in sql
    # a kind is narrowed in FTS but checked on the row (a kind's words may be in another's)
    with_kind = logs.log_filter(db, LogQuery(search="xero", kind="timeout"))
    assert with_kind is not None and "JOIN" in with_kind.count()[0]


def test_words_are_searched_in_the_message_only(db) -> None:
    """'error' is the level of error rows, and 17 an organisation's id: neither is a word of
    their messages."""
    for word in ("error", "info", "timeout"):
        query = LogQuery(search=word)
        assert _walk(db, query, page_size=50) == _reference(db, query)
    oid = db.execute("SELECT id FROM orgs WHERE code = 'KAURI'").fetchone()[0]
    query = LogQuery(search=str(oid))
    assert _walk(db, query, page_size=50) == _reference(db, query)


def test_capped_count(db) -> None:
    query = LogQuery(search="exported")
    total = count_log(db, query)
    assert total is not None and total > 10
    assert count_log(db, query, cap=10) == 10
    assert count_log(db, query, cap=total + 5) == total


def test_a_reclassified_row_is_found_by_its_new_kind(db) -> None:
    entry = record(db, "KAURI", "error", "zanzibar token refused")
    assert entry is not None
    db.execute("UPDATE log SET kind = 'timeout' WHERE id = ?", [entry.id])
    found = page_log(db, LogQuery(search="zanzibar", kind="timeout")).entries
    assert [e.id for e in found] == [entry.id]
    db.execute("DELETE FROM log WHERE id = ?", [entry.id])
    assert not page_log(db, LogQuery(search="zanzibar")).entries


def test_prefix_needs_three_characters() -> None:
    assert fts_query("inv", prefix=True) == '"inv"*'
    assert fts_query("in", prefix=True) == '"in"'
    assert not prefix_applies("e", True) and prefix_applies("sales exp", True)
    assert not prefix_applies("exp", False)


def test_matcher_follows_the_tokenizer() -> None:
    assert matcher("INV-0042")("Invoice inv 0042 failed")
    assert matcher("invalid_grant")("Xero said: invalid-grant")
    assert not matcher("grant")("regranted")
    assert matcher("gra", prefix=True)("access granted")
    assert matcher("cafe")("Café opened")
    assert not matcher("_")("a _ b")


def test_a_store_of_the_previous_version_gets_the_new_index(store_path, tmp_path) -> None:
    """The demo store as the version before: FTS without level and kind, never analysed."""
    import sqlite3

    from store import schema, schema_log
    from store.db import SCHEMA_VERSION, open_store

    conn = sqlite3.connect(store_path, isolation_level=None)
    conn.execute("BEGIN")
    for trigger in ("log_fts_ai", "log_fts_ad", "log_fts_au"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    conn.execute("DROP TABLE log_fts")
    conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
    schema_log.run_script(conn, schema_log._V1_LOG_FTS + schema_log._V1_LOG_TRIGGERS)
    conn.execute("INSERT INTO log_fts(log_fts) VALUES ('rebuild')")
    before = schema.MIGRATIONS.index(schema._migrate_fts_filters)
    conn.execute(f"PRAGMA user_version = {before}")
    conn.execute("COMMIT")
    conn.close()
    db = open_store(store_path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = [r[1] for r in db.execute("PRAGMA table_info(log_fts)")]
    assert columns == ["message", "org_id", "level", "kind"]
    assert db.execute("SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'log'").fetchone()[0]
    query = LogQuery(search="xero", level="error", org="KAURI")
    assert _walk(db, query, page_size=5) == _reference(db, query) != []
    entry = record(db, "KAURI", "error", "zanzibar after the upgrade")
    assert entry is not None
    assert [e.id for e in page_log(db, LogQuery(search="zanzibar", level="error")).entries] == [
        entry.id
    ]


def test_oldest_entries_walk_the_filter_from_the_other_end(db, queries) -> None:
    from store.watch import oldest_entries

    for query in queries[::4]:
        expected = _reference(db, query)
        seen: list[int] = []
        after = None
        while True:
            page = oldest_entries(db, query, limit=7, after_id=after)
            ids = [e.id for e in page.entries]
            assert ids == sorted(ids, reverse=True)
            seen = ids + seen
            if page.before_id is None:
                break
            after = page.before_id
        assert seen == expected, query
