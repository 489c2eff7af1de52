"""Ingesting connection-log rows: checks, rejects by line, duplicates, time order, CSV, the
migration that added the keys table, and the fast classifier's answers."""

from __future__ import annotations

import io
import json
import sqlite3
import stat
from datetime import timedelta
from pathlib import Path

import pytest
from support import NOW

from store import clock
from store.db import SCHEMA_VERSION, create_store, open_store
from store.ingest import Ingester, ingest_file, ingest_stream
from store.kb import Classifier, knowledge
from store.kb_match import IndexedClassifier
from store.logs import LogQuery, page_log
from store.schema import MIGRATIONS  # noqa: E402
from store.timeparse import iso

LATER = iso(NOW)  # the demo store's newest row is a few seconds before NOW


def _row(**fields: object) -> str:
    base = {"at": LATER, "org": "HARBOUR", "level": "info", "message": "Synced customer HARB001"}
    return json.dumps({**base, **fields})


def _ingest(db, path: Path, **options):
    report, _ = ingest_file(db, path, source=options.pop("source", path.name), fmt="jsonl")
    return report


def _count(db, where: str = "1", args: tuple = ()) -> int:
    return db.execute(f"SELECT count(*) FROM log WHERE {where}", args).fetchone()[0]


def test_good_duplicate_and_bad_lines(db, tmp_path: Path) -> None:
    error = "Sales Invoice SI-00000123 failed: Account code '220' has been removed as it does "
    error += "not match a recognised account."
    lines = [
        _row(id=1),  # 1
        _row(id=1, message="the same id again: a duplicate"),  # 2
        "",  # 3: blank, ignored
        _row(level="error", message=error, org="kauri", correlation_id="c-1", document="SI-1"),
        "{not json",  # 5
        _row(org="NOPE"),  # 6
        _row(at="yesterday"),  # 7
        _row(level="warning"),  # 8
        _row(at=iso(NOW + timedelta(days=1))),  # 9: the future
        _row(id=2, message=""),  # 10
        "[1, 2]",  # 11: JSON, not an object
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    before = _count(db)
    report = _ingest(db, path)
    assert (report.read, report.added, report.skipped, report.rejected) == (10, 2, 1, 7)
    assert _count(db) == before + 2
    rejects = [
        json.loads(line) for line in (tmp_path / "in.jsonl.rejects").read_text().splitlines()
    ]
    assert [r["line"] for r in rejects] == [5, 6, 7, 8, 9, 10, 11]
    reasons = " | ".join(r["reason"] for r in rejects)
    for words in ("not JSON", "unknown organisation 'NOPE'", "bad `at`", "bad `level`", "future"):
        assert words in reasons
    assert rejects[1]["text"] == lines[5]
    assert stat.S_IMODE((tmp_path / "in.jsonl.rejects").stat().st_mode) == 0o600
    newest = page_log(db, LogQuery(org="KAURI"), limit=1).entries[0]
    assert (newest.kind, newest.correlation_id, newest.document) == (
        "account_code_removed",
        "c-1",
        "SI-1",
    )
    again = _ingest(db, path)
    assert (again.added, again.skipped, again.rejected) == (0, 3, 7)
    assert _count(db) == before + 2


def test_the_future_moves_on_while_following(db) -> None:
    """A follow that runs for hours accepts the rows of each hour (only what is more than a few
    minutes ahead of the clock is refused)."""
    ingester = Ingester(db, source="live", fmt="jsonl", name="live")
    clock.advance(3 * 3600)
    ingester.feed([(1, _row(at=iso(NOW + timedelta(hours=3))).encode())])
    ingester.feed([(2, _row(at=iso(NOW + timedelta(hours=4))).encode())])
    ingester.commit()
    assert (ingester.report.added, ingester.report.rejected) == (1, 1)


def test_a_follower_keeps_its_rows_while_the_store_is_busy(db, monkeypatch) -> None:
    """Another session's long write (an import re-classifying the log) can outlast the busy
    timeout; the follower keeps what it read and writes it at the next commit."""
    from store import ingest
    from store.errors import StoreBusy

    ingester = Ingester(db, source="live", fmt="jsonl", name="live")
    ingester.feed([(1, _row(id=1).encode()), (2, _row(id=2).encode())])
    write = Ingester._write
    calls = []

    def busy_once(self, rows):
        calls.append(len(rows))
        if len(calls) == 1:
            raise StoreBusy("busy")
        return write(self, rows)

    monkeypatch.setattr(Ingester, "_write", busy_once)
    ingest._commit_unless_busy(ingester)
    assert len(ingester.pending) == 2 and ingester.report.added == 0
    ingest._commit_unless_busy(ingester)
    assert ingester.pending == [] and ingester.report.added == 2


def test_prepended_rows_are_found_by_search_and_paged(db, tmp_path: Path) -> None:
    path = tmp_path / "old.jsonl"
    path.write_text(
        "\n".join(
            _row(at=iso(NOW - timedelta(days=60, minutes=m)), message=f"zanzibar {m}", id=m)
            for m in range(3)
        )
    )
    assert _ingest(db, path).added == 3
    found = page_log(db, LogQuery(search="zanzibar"), limit=2)
    assert [e.message for e in found.entries] == ["zanzibar 0", "zanzibar 1"]
    assert found.entries[-1].id <= 0  # below the demo store's first row, id 1
    rest = page_log(db, LogQuery(search="zanzibar"), limit=2, before_id=found.before_id)
    assert [e.message for e in rest.entries] == ["zanzibar 2"]


def test_error_groups_stay_current(db, tmp_path: Path) -> None:
    stats = "SELECT coalesce(sum(count), 0) FROM error_stats WHERE kind = 'timeout'"
    before = db.execute(stats).fetchone()[0]
    path = tmp_path / "errors.jsonl"
    path.write_text(
        "".join(
            _row(id=i, level="error", message="Xero API request timed out after 30 s") + "\n"
            for i in range(5)
        )
    )
    assert _ingest(db, path).added == 5
    assert db.execute(stats).fetchone()[0] == before + 5


def test_identical_rows_without_ids_are_each_kept_once(db, tmp_path: Path) -> None:
    """Two identical rows in one second are two events; reading the file again adds neither."""
    path = tmp_path / "twice.jsonl"
    path.write_text((_row(message="Xero API 429 Too Many Requests") + "\n") * 2)
    assert _ingest(db, path).added == 2
    assert _ingest(db, path.rename(tmp_path / "copy.jsonl")).skipped == 2


def test_ids_from_different_sources_never_collide(db, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(_row(id=7) + "\n")
    assert _ingest(db, path, source="shop-a").added == 1
    assert _ingest(db, path, source="shop-b").added == 1
    assert _ingest(db, path, source="shop-a").skipped == 1


def test_rows_keep_time_order_history_goes_below_inside_is_rejected(db, tmp_path: Path) -> None:
    """Newer rows are appended, rows older than the whole log prepended; a row between two
    stored rows would break the id order the log browser relies on, so it is rejected."""
    oldest_id, oldest_at = db.execute("SELECT id, at FROM log ORDER BY id LIMIT 1").fetchone()
    old = [iso(NOW - timedelta(days=30, minutes=m)) for m in range(3)]
    inside = iso(NOW - timedelta(days=2))
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join(
            [_row(at=old[0], id="o0"), _row(at=inside, id="in"), _row(id="new")]
            + [_row(at=old[2], id="o2"), _row(at=old[1], id="o1")]
        )
    )
    report = _ingest(db, path)
    assert (report.added, report.rejected) == (4, 1)
    rejects = (tmp_path / "mixed.jsonl.rejects").read_text()
    assert '"line": 2' in rejects and "time order" in rejects
    rows = db.execute("SELECT id, at FROM log ORDER BY id").fetchall()
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)  # ids follow time
    assert [r[1] for r in rows[:3]] == sorted(old) and rows[3][0] == oldest_id
    assert rows[2][0] == oldest_id - 1 and oldest_at > old[0]
    assert page_log(db, LogQuery(), limit=1).entries[0].at == LATER


def test_history_batches_go_below_one_another(db, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("store.ingest.BATCH", 2)
    path = tmp_path / "history.jsonl"
    path.write_text(
        "\n".join(_row(at=iso(NOW - timedelta(days=40, minutes=m)), id=m) for m in range(7))
    )
    assert _ingest(db, path).added == 7
    rows = db.execute("SELECT at FROM log ORDER BY id").fetchall()
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)


def test_log_json_output_round_trips_into_a_store_without_rows(db, tmp_path: Path) -> None:
    """`log --json` prints newest first; sorted on the way in, it comes back identical."""
    from tui.cli_base import print_json_list

    entries = [e for page in _pages(db) for e in page]
    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out):
        print_json_list(entries)
    db.execute("DELETE FROM log")
    ingester = Ingester(db, source="demo", fmt="jsonl", name="demo")
    report = ingest_stream(ingester, io.BytesIO(out.getvalue().encode()))
    assert report.added == len(entries) and report.rejected == 0
    again = [e for page in _pages(db) for e in page]
    assert [(e.at, e.org, e.message, e.kind) for e in again] == [
        (e.at, e.org, e.message, e.kind) for e in entries
    ]


def _pages(db):
    before = None
    while True:
        page = page_log(db, LogQuery(), limit=1000, before_id=before)
        yield page.entries
        if page.before_id is None:
            return
        before = page.before_id


def test_csv_as_log_csv_writes_it(db, tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "at,org,level,document,message,kind,correlation_id\n"
        f'{LATER},HARBOUR,error,SI-9,"Xero API request timed out\nafter 30 s",,c-9\n'
        f"{LATER},HARBOUR,info,,Synced customer HARB002,,\n"
        f"{LATER},NOPE,info,,x,,\n"
    )
    report, _ = ingest_file(db, path, source="rows.csv", fmt="csv")
    assert (report.read, report.added, report.rejected) == (3, 2, 1)
    assert '"line": 5' in (tmp_path / "rows.csv.rejects").read_text()
    newest = page_log(db, LogQuery(level="error"), limit=1).entries[0]
    assert newest.kind == "timeout" and newest.document == "SI-9"


def test_a_run_without_rejects_removes_the_old_rejects_file(db, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(_row(org="NOPE") + "\n")
    assert _ingest(db, path).rejected == 1
    assert (tmp_path / "in.jsonl.rejects").exists()
    path.write_text(_row() + "\n")
    assert _ingest(db, path).rejected == 0
    assert not (tmp_path / "in.jsonl.rejects").exists()


def test_a_store_of_the_previous_version_gets_the_keys_table(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    create_store(path).conn.close()
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE ingest_keys")
    # The version before the migration that adds the table (later ones are idempotent).
    before = [m.__name__ for m in MIGRATIONS].index("_migrate_to_6")
    conn.execute(f"PRAGMA user_version = {before}")
    conn.commit()
    conn.close()
    db = open_store(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert "ingest_keys" in db.table_names()


@pytest.mark.parametrize(
    "message",
    [
        "Exported Sales Invoice SI-00000001 to Xero",
        "Sales Invoice SI-1 failed: Account code '220' has been removed as it does not match a "
        "recognised account.",
        "Xero API 429 Too Many Requests (X-Rate-Limit-Problem: minute, Retry-After: 5)",
        "XERO API 503 ORGANISATION OFFLINE",
        "error: invalid_grant",
        "Xero API request timed out after 30 s",
        "Subaccount code 'x' is not a valid code for this document",
        "Kelvin \u212a and long \u017f: Account code '1' is not a valid code for this document",
    ],
)
def test_the_fast_classifier_answers_as_the_plain_one(db, message: str) -> None:
    entries = knowledge(db)
    plain, fast = Classifier(entries), IndexedClassifier(entries)
    assert fast(message) == plain(message)
    for entry in entries:
        assert fast(entry.example) == plain(entry.example)
