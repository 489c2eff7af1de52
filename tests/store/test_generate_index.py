"""The build's indexing on two threads (store/generate_index.py) and its faster queue rows make
the same store as the one-connection path and random's own draws."""

from __future__ import annotations

import random
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

import store.generate as gen
import store.generate_index as gi
from store import schema_log
from store.enums import Level, QueueStatus
from store.generate import DOC_TYPES, build_store
from store.generate_log import _Renderer, iso_fast
from store.generate_plan import WEEK_HOURS, plan_orgs
from store.sample import load_orgs
from store.sample_xero import load_xero
from store.sample_yaml import sample_dir

# What the index phase writes: the FTS5 index, the error groups and planner statistics.
WRITTEN = ("log_fts_docsize", "log_fts_config", "error_stats", "error_kinds", "error_totals")


def _contents(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        found = {t: sorted(conn.execute(f"SELECT * FROM {t}"), key=repr) for t in WRITTEN}
        # Every term of every row, its column and position: the whole FTS index (its blocks
        # differ where a batch ended a segment).
        conn.execute("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, log_fts, instance)")
        found["fts"] = list(conn.execute("SELECT * FROM terms ORDER BY term, doc, col, offset"))
        # (meta gets its rows after the build's ANALYZE, the copy's ANALYZE counts them; the FTS
        # shadow tables hold as many blocks as there were segments)
        stats = "SELECT * FROM sqlite_stat1 WHERE tbl != 'meta' AND tbl NOT LIKE 'log_fts%'"
        found["sqlite_stat1"] = sorted(conn.execute(stats), key=repr)
        found["schema"] = sorted(
            conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name LIKE 'log%'")
        )
        return found
    finally:
        conn.close()


def _one_connection_copy(built: Path, copy: Path) -> None:
    """The same store indexed the way schema_log.create_log_indexes does, on one connection."""
    shutil.copy(built, copy)
    conn = sqlite3.connect(copy, isolation_level=None)
    conn.execute("BEGIN")
    schema_log.drop_log_indexes(conn)
    for table in ("error_stats", "error_kinds", "error_totals", "sqlite_stat1"):
        conn.execute(f"DELETE FROM {table}")
    schema_log.create_log_indexes(conn, sample=True)
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture(autouse=True)
def two_threads(monkeypatch) -> None:
    """Builds here index on two threads whatever the machine's load (unless a test says)."""
    monkeypatch.setattr(gen, "spare_core", lambda: True)


@pytest.mark.parametrize("threaded", [True, False], ids=["two-threads", "one-thread"])
@pytest.mark.parametrize(
    "orgs, log_rows, batch", [(None, None, 50_000), (40, 4000, 700)], ids=["demo", "generated"]
)
def test_two_thread_index_matches_one_connection(
    tmp_path: Path, monkeypatch, now, orgs, log_rows, batch, threaded
) -> None:
    built, reference = tmp_path / "built.db", tmp_path / "reference.db"
    monkeypatch.setattr(gen, "BATCH", batch)  # the generated store in six batches
    monkeypatch.setattr(gen, "spare_core", lambda: threaded)
    build_store(built, orgs=orgs, log_rows=log_rows, seed=2, now=now)
    _one_connection_copy(built, reference)
    ours, theirs = _contents(built), _contents(reference)
    assert ours["fts"] and ours["error_stats"] and ours["sqlite_stat1"]
    assert ours == theirs  # the FTS index, groups, statistics, indexes, triggers
    conn = sqlite3.connect(built)
    # rank 1: the index is checked against the log's own rows (the external content).
    conn.execute("INSERT INTO log_fts(log_fts, rank) VALUES ('integrity-check', 1)")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    word_hits = conn.execute(
        "SELECT count(*) FROM log_fts WHERE log_fts MATCH 'message : exported'"
    ).fetchone()[0]
    like_hits = conn.execute(
        "SELECT count(*) FROM log WHERE message LIKE '%exported%' COLLATE NOCASE"
    ).fetchone()[0]
    assert word_hits == like_hits > 0
    conn.close()
    assert not [p.name for p in tmp_path.iterdir() if "building" in p.name or "fts" in p.name]


def test_a_failed_fts_worker_fails_the_build_and_keeps_the_old_store(
    store_path: Path, monkeypatch, now
) -> None:
    before = store_path.read_bytes()
    monkeypatch.setattr(gi, "FTS_COLUMNS", "message, no_such_column, level, kind")
    with pytest.raises(sqlite3.OperationalError, match="no_such_column"):
        build_store(store_path, force=True, orgs=10, log_rows=500, now=now)
    assert store_path.read_bytes() == before
    assert not [p for p in store_path.parent.iterdir() if "building" in p.name]


def test_an_interrupted_index_phase_stops_the_worker(store_path: Path, monkeypatch, now) -> None:
    before = store_path.read_bytes()

    def boom(conn: sqlite3.Connection) -> None:
        raise KeyboardInterrupt  # ctrl+c while the indexes are sorted

    monkeypatch.setattr(schema_log, "fill_error_groups", boom)
    with pytest.raises(KeyboardInterrupt):
        build_store(store_path, force=True, orgs=10, log_rows=500, now=now)
    assert store_path.read_bytes() == before
    assert not [p for p in store_path.parent.iterdir() if "building" in p.name]
    assert not [t for t in threading.enumerate() if t.name == "build-fts"]


def _reference_queue_rows(org, rng: random.Random, now: float) -> list[tuple]:
    """The queue rows as first written, with random's own choice, uniform and randint."""
    p = org.profile
    first_error = next(
        (i.message.split("failed: ", 1)[-1] for i in p.incidents if i.level == Level.ERROR), None
    )
    end = now - max(p.until_hours, 0.5) * 3600
    rows = []
    for status, count in p.queue.items():
        for _ in range(count):
            doc_type, prefix = rng.choice(DOC_TYPES)
            created = rng.uniform(now - WEEK_HOURS * 3600, end)
            number = f"{prefix}{rng.randint(1000, 99999999):08d}"
            contact = f"Contact {rng.randint(1, 400)}"
            amount = round(rng.lognormvariate(6.5, 1.1), 2)
            attempts = {QueueStatus.EXPORTED: 1, QueueStatus.FAILED: rng.randint(1, 5)}.get(
                status, 0
            )
            updated = exported = iso_fast(created)
            exported = None
            if status == QueueStatus.EXPORTED:
                exported = updated = iso_fast(min(created + rng.uniform(5, 600), end))
            error = first_error if status == QueueStatus.FAILED else None
            rows.append(
                (org.id, doc_type, number, contact, amount, org.tenant.currency, status)
                + (attempts, error, iso_fast(created), updated, exported)
            )
    return rows


def test_queue_rows_make_random_s_own_draws(now) -> None:
    tenants = load_xero(sample_dir() / "xero.yaml")
    plan = plan_orgs(load_orgs(tenants, sample_dir() / "orgs.yaml"), tenants, 60, random.Random(4))
    at = now.timestamp()
    ours, theirs = random.Random(9), random.Random(9)
    statuses = set()
    for org in plan:
        rows = gen._queue_rows(org, ours, at)
        assert rows == _reference_queue_rows(org, theirs, at)
        statuses |= {r[6] for r in rows}
    assert statuses == set(QueueStatus)  # every branch was compared
    assert ours.random() == theirs.random()  # and the same number of draws


def test_a_template_s_own_braces_stay_as_written(now) -> None:
    tenants = load_xero(sample_dir() / "xero.yaml")
    plan = plan_orgs(load_orgs(tenants, sample_dir() / "orgs.yaml"), tenants, 1, random.Random(1))
    render = _Renderer(random.Random(3), plan[0]).render
    message, document = render("Sync {SI} failed: {'code': 429} }{ {SI}")
    assert document is not None and document.startswith("SI-")
    assert message == f"Sync {document} failed: {{'code': 429}} }}{{ SI-{int(document[3:]) + 1:08d}"
    assert render("Nothing to fill {") == ("Nothing to fill {", None)


def test_a_second_thread_only_with_a_core_free_for_it(monkeypatch) -> None:
    monkeypatch.setattr(gi.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(gi.os, "getloadavg", lambda: (0.7, 2.0, 2.0))
    assert gi.spare_core()
    monkeypatch.setattr(gi.os, "getloadavg", lambda: (3.5, 2.0, 2.0))
    assert not gi.spare_core()
    monkeypatch.setattr(gi.os, "cpu_count", lambda: 1)
    monkeypatch.setattr(gi.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert not gi.spare_core()
    monkeypatch.delattr(gi.os, "getloadavg")  # Windows has none
    monkeypatch.setattr(gi.os, "cpu_count", lambda: 8)
    assert not gi.spare_core()


def test_iso_fast_is_strftime_to_the_second() -> None:
    import time

    rng = random.Random(5)
    edges = [0.0, 59.999, 3599.5, 86399.99, 1796000000.7]
    times = edges + [rng.uniform(0, 4e9) for _ in range(5000)]
    for ts in times:
        assert iso_fast(ts) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(ts)))
