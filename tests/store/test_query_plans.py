"""Every filter the console and the command line can make walks the index meant for it.

The combinations come from the one builder (store.logs.log_filter); the plan is SQLite's
EXPLAIN QUERY PLAN, on the demo store with the statistics ANALYZE wrote for it and with those
it wrote for a 5,000-organisation, 1M-row store (the planner chooses by them). Without words
a filter names its index; with words FTS5 is the outer loop and the log is read by rowid. A
full scan of the log is allowed only for the whole log newest first (a rowid walk that stops at
the page) and a punctuation-only search (FTS has no token for '[/]') without other filters.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from support import NOW

from store.logs import LogQuery, error_groups, log_filter
from store.orgs import _LIST_SQL
from store.timeparse import iso

# sqlite_stat1 of `syncdesk init --orgs 5000 --log-rows 1000000` (seed 1) after ANALYZE.
STATS_1M = (
    ("error_kinds", "error_kinds", "30657 7 1"),
    ("error_stats", "error_stats", "38450 4807 381 1"),
    ("error_stats", "error_stats_org", "38450 8 2 1 1 1 1"),
    ("integrations", "integrations_state", "5000 1250"),
    ("log", "log_at", "1000000 3"),
    ("log", "log_kind", "1000000 43479"),
    ("log", "log_level", "1000000 500000"),
    ("log", "log_level_at_org", "1000000 500000 2 1"),
    ("log", "log_org", "1000000 200"),
    ("log", "log_org_level", "1000000 200 100"),
    ("orgs", "orgs_code_nocase", "5000 1"),
    ("orgs", "sqlite_autoindex_orgs_1", "5000 1"),
    ("queue", "queue_org_status", "174726 35 16"),
)


@pytest.fixture(params=["demo", "1M"])
def planned(request, db) -> Any:
    """The demo store, analysed as it is or given the statistics of the 1M store."""
    db.execute("ANALYZE")
    if request.param == "1M":
        db.execute("DELETE FROM sqlite_stat1")
        db.conn.executemany("INSERT INTO sqlite_stat1(tbl, idx, stat) VALUES (?, ?, ?)", STATS_1M)
        db.execute("ANALYZE sqlite_schema")  # makes this connection read them again
    return db


ORGS = (None, "KAURI")
LEVELS = ("all", "error", "info")
KINDS = (None, "rate_limited_minute")
SEARCHES = (None, "exported", "invalid_grant", "INV-0042", "429", "inv", "[/]")
SINCE = (None, iso(NOW - timedelta(hours=24)))
UNTIL = (None, iso(NOW - timedelta(hours=2)))
BEFORE = (None, 1500)


def _plan(db: Any, sql: str, args: list[object]) -> list[str]:
    """The plan's steps, without the wrapping of a capped count (a subquery)."""
    steps = [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()]
    return [s for s in steps if not s.startswith(("CO-ROUTINE", "SCAN (subquery"))]


def _expected_index(query: LogQuery) -> str | None:
    if query.org:
        return "log_org_level" if query.level != "all" else "log_org"
    if query.kind:
        return "log_kind"
    return "log_level" if query.level != "all" else None


def _combinations() -> list[tuple[LogQuery, int | None]]:
    made = []
    for org, level, kind, search, since, until, before, prefix in itertools.product(
        ORGS, LEVELS, KINDS, SEARCHES, SINCE, UNTIL, BEFORE, (False, True)
    ):
        if prefix and not search:
            continue
        made.append((LogQuery(org, level, search, since, until, kind, prefix), before))
    return made


def test_every_filter_uses_its_index(planned) -> None:
    db = planned
    checked = 0
    for query, before in _combinations():
        found = log_filter(db, query, before_id=before)
        assert found is not None, query
        words = query.search not in (None, "[/]")
        shapes = (
            found.select("log.id", limit=50),
            found.select("log.id", limit=50, oldest=True),  # `End`: the filter's far end
            found.count(),
            found.count(cap=99),
        )
        for sql, args in shapes:
            plan = _plan(db, sql, args)
            text = " | ".join(plan)
            where = f"{query} before={before}: {text}"
            if words:
                log_plan = [step for step in plan if "orgs" not in step]
                assert log_plan[0].startswith("SCAN log_fts VIRTUAL TABLE"), where
                # each match looks its row up by rowid (the table, or a covering index)
                assert all(
                    step.startswith("SCAN log_fts")
                    or (step.startswith("SEARCH log ") and "rowid=?" in step)
                    or "orgs" in step
                    for step in plan
                ), where
                continue
            index = _expected_index(query)
            log_steps = [step for step in plan if " log " in f" {step} "]
            assert len(log_steps) == 1, where
            step = log_steps[0]
            if index is not None:
                assert f"INDEX {index} " in step, where
            elif query.since or query.until or before:
                assert step.startswith("SEARCH log USING INTEGER PRIMARY KEY"), where
            else:  # the whole log, newest first: a rowid walk that stops at the limit
                assert step.startswith("SCAN log"), where
            assert "TEMP B-TREE" not in text, where  # never a sort of the matches
            checked += 1
    assert checked > 300


def test_time_bounds_walk_the_at_index(db) -> None:
    for sql in (
        "SELECT id FROM log INDEXED BY log_at WHERE at >= ? ORDER BY at, id LIMIT 1",
        "SELECT id FROM log INDEXED BY log_at WHERE at <= ? ORDER BY at DESC, id DESC LIMIT 1",
    ):
        plan = " | ".join(_plan(db, sql, [iso(NOW)]))
        assert "SEARCH log USING COVERING INDEX log_at (at" in plan, plan


def test_the_organisation_list_counts_errors_from_the_level_time_index(planned) -> None:
    args = {"since": iso(NOW - timedelta(hours=24)), "state": None, "pattern": None}
    plan = " | ".join(_plan(planned, _LIST_SQL, args))
    assert "INDEX log_level_at_org (level=? AND at>?)" in plan, plan
    assert "SCAN log" not in plan, plan


def test_error_groups_read_the_buckets_not_the_log(planned, monkeypatch) -> None:
    db = planned
    seen: list[str] = []
    real = db.execute

    def spy(sql: str, args: Any = None) -> Any:
        if sql.lstrip().upper().startswith("SELECT G.KIND") or "FROM (SELECT kind" in sql:
            explained = real("EXPLAIN QUERY PLAN " + sql, args or [])
            seen.append(" | ".join(row[3] for row in explained.fetchall()))
        return real(sql, args) if args is not None else real(sql)

    monkeypatch.setattr(db, "execute", spy)
    error_groups(db)
    error_groups(db, org="KAURI")
    error_groups(db, since=iso(NOW - timedelta(hours=24)))
    assert len(seen) == 3
    for plan in seen:
        assert "SCAN log" not in plan and "SCAN error_stats" not in plan, plan
    assert "SCAN error_totals" in seen[0] and "error_kinds" not in seen[0]
    assert "SEARCH error_kinds USING PRIMARY KEY (org_id=?)" in seen[1]
