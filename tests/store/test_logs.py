"""Log pages, search, time ranges, error groups, and writing rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from support import NOW

from store.errors import InvalidQuery, UnknownOrganisation
from store.logs import LogQuery, error_groups, fts_query, page_log, record
from store.timeparse import iso, parse_since


def _ids(page) -> list[int]:
    return [e.id for e in page.entries]


def test_newest_first_with_all_columns(db) -> None:
    page = page_log(db, LogQuery(), limit=20)
    assert len(page.entries) == 20
    ats = [e.at for e in page.entries]
    assert ats == sorted(ats, reverse=True)
    newest = db.execute("SELECT max(id) FROM log").fetchone()[0]
    assert page.entries[0].id == newest
    assert page.entries[0].org and page.entries[0].message


def test_paging_walks_the_whole_filter_without_gaps(db) -> None:
    query = LogQuery(org="KAURI", level="error")
    seen, before = [], None
    while True:
        page = page_log(db, query, limit=7, before_id=before)
        seen += _ids(page)
        if page.before_id is None:
            break
        before = page.before_id
    expected = [
        r[0]
        for r in db.execute(
            "SELECT log.id FROM log JOIN orgs ON orgs.id = log.org_id "
            "WHERE orgs.code = 'KAURI' AND level = 'error' ORDER BY log.id DESC"
        )
    ]
    assert seen == expected and expected


@pytest.mark.parametrize("level", ["error", "info"])
def test_level_filter(db, level: str) -> None:
    entries = page_log(db, LogQuery(level=level), limit=100).entries
    assert entries and all(e.level == level for e in entries)


def test_org_filter_is_case_insensitive(db) -> None:
    entries = page_log(db, LogQuery(org="wattle"), limit=100).entries
    assert entries and {e.org for e in entries} == {"WATTLE"}


def test_unknown_org_is_named(db) -> None:
    with pytest.raises(UnknownOrganisation, match="NOPE"):
        page_log(db, LogQuery(org="NOPE"))


def test_kind_filter(db) -> None:
    entries = page_log(db, LogQuery(kind="refresh_token_invalid"), limit=100).entries
    assert entries and {e.org for e in entries} == {"WATTLE"}


def test_search_matches_every_word(db) -> None:
    entries = page_log(db, LogQuery(search="invalid_grant expired"), limit=500).entries
    assert entries
    assert all("invalid_grant" in e.message and "expired" in e.message for e in entries)
    expected = db.execute(
        "SELECT count(*) FROM log WHERE message LIKE '%invalid_grant%' AND message LIKE '%expired%'"
    ).fetchone()[0]
    assert len(entries) == expected


def test_search_with_org_and_level(db) -> None:
    entries = page_log(
        db, LogQuery(org="BRIGHT", level="error", search="TaxType"), limit=500
    ).entries
    assert entries and all(e.org == "BRIGHT" and "TaxType" in e.message for e in entries)
    others = page_log(db, LogQuery(org="HARBOUR", search="TaxType")).entries
    assert others == ()


def test_search_prefix_for_typing(db) -> None:
    assert page_log(db, LogQuery(search="invalid_gr", prefix=True)).entries
    assert not page_log(db, LogQuery(search="invalid_gr")).entries


def test_search_document_number(db) -> None:
    doc = db.execute("SELECT document FROM log WHERE document LIKE 'SI-%' LIMIT 1").fetchone()[0]
    entries = page_log(db, LogQuery(search=doc)).entries
    assert entries and all(doc in e.message for e in entries)


@pytest.mark.parametrize(
    "text", ['"', "AND", "OR NOT", "*", "a:b", "(x", "NEAR(", "[/]", "[bold]x", "\x1b[2J", "%", "_"]
)
def test_hostile_search_text_never_errors(db, text: str) -> None:
    page_log(db, LogQuery(search=text))
    page_log(db, LogQuery(search=text, prefix=True, org="KAURI"))


def test_punctuation_search_finds_literal_text(db) -> None:
    record(db, "HARBOUR", "error", "weird [/] text from Xero")
    entries = page_log(db, LogQuery(search="[/]")).entries
    assert [e.message for e in entries] == ["weird [/] text from Xero"]


def test_fts_query_quotes_words() -> None:
    assert fts_query('say "hi" NOT') == '"say" """hi""" "NOT"'
    assert fts_query("inv", prefix=True) == '"inv"*'
    assert fts_query("[/] ***") is None


def test_since_and_until(db, now) -> None:
    since = iso(now - timedelta(hours=6))
    entries = page_log(db, LogQuery(since=since), limit=10_000).entries
    expected = db.execute("SELECT count(*) FROM log WHERE at >= ?", [since]).fetchone()[0]
    assert len(entries) == expected and all(e.at >= since for e in entries)
    until = iso(now - timedelta(days=3))
    older = page_log(db, LogQuery(until=until), limit=5).entries
    assert older and all(e.at <= until for e in older)
    assert page_log(db, LogQuery(since=iso(now + timedelta(days=1)))).entries == ()


def test_bad_level(db) -> None:
    with pytest.raises(InvalidQuery):
        page_log(db, LogQuery(level="warning"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("30m", timedelta(minutes=30)),
        ("7d", timedelta(days=7)),
        ("1w", timedelta(days=7)),
    ],
)
def test_parse_since_spans_count_back_from_the_clock(text: str, expected: timedelta) -> None:
    """No `now` given: the span counts back from the store's (frozen) clock."""
    assert parse_since(text) == iso(NOW - expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", "2026-11-20T00:00:00Z"),
        ("2026-11-20T09:30", "2026-11-20T09:30:00Z"),
        ("2026-11-20T09:30:00+13:00", "2026-11-19T20:30:00Z"),
    ],
)
def test_parse_since_absolute_times(now, text: str, expected: str) -> None:
    """Dates people type are absolute: the same whatever the clock says."""
    assert parse_since(text, now=now) == expected


@pytest.mark.parametrize("text", ["yesterday", "2x", "", "-3h"])
def test_parse_since_rejects(now, text: str) -> None:
    with pytest.raises(InvalidQuery, match="Cannot read the time"):
        parse_since(text, now=now)


def _naive_groups(db, since: str | None, org: str | None) -> dict:
    sql = (
        "SELECT kind, count(*), count(DISTINCT org_id), min(at), max(at) FROM log "
        "JOIN orgs ON orgs.id = log.org_id WHERE level = 'error' "
        "AND (? IS NULL OR at >= ?) AND (? IS NULL OR orgs.code = ?) GROUP BY kind"
    )
    return {r[0]: tuple(r[1:]) for r in db.execute(sql, [since, since, org, org])}


@pytest.mark.parametrize("hours", [None, 1, 5, 24, 30, 72, 200])
@pytest.mark.parametrize("org", [None, "THISTLE"])
def test_error_groups_equal_naive_aggregation(db, now, hours, org) -> None:
    since = iso(now - timedelta(hours=hours)) if hours else None
    groups = error_groups(db, org=org, since=since)
    assert {g.kind: (g.count, g.orgs, g.first_at, g.last_at) for g in groups} == _naive_groups(
        db, since, org
    )
    counts = [g.count for g in groups]
    assert counts == sorted(counts, reverse=True)


def test_error_groups_carry_knowledge(db) -> None:
    groups = {g.kind: g for g in error_groups(db, org="KAURI")}
    removed = groups["account_code_removed"]
    assert removed.cause and removed.fix and removed.action == "map"


def test_record_classifies_and_updates_groups(db, now) -> None:
    before = {g.kind: g.count for g in error_groups(db, org="HARBOUR")}
    entry = record(
        db,
        "HARBOUR",
        "error",
        "Xero API 401 Unauthorized: AuthenticationUnsuccessful",
        correlation_id="c0ffee00-0000-4000-a000-000000000001",
        at=now,
    )
    assert entry.kind == "auth_expired" and entry.org == "HARBOUR"
    after = {g.kind: g.count for g in error_groups(db, org="HARBOUR")}
    assert after["auth_expired"] == before.get("auth_expired", 0) + 1
    assert page_log(db, LogQuery(org="HARBOUR")).entries[0].id == entry.id


def test_record_unknown_error_kind(db) -> None:
    assert record(db, "HARBOUR", "error", "something nobody has seen").kind == "unknown"
    assert record(db, "HARBOUR", "info", "all good").kind is None
