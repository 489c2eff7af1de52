"""Building stores: the demo store, large generated stores, determinism and safety."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest

from store.db import open_store
from store.errors import StoreExists
from store.generate import build_store
from store.schema import STATES
from store.timeparse import iso


def _fingerprint(path: Path) -> str:
    db = open_store(path)
    digest = hashlib.sha256()
    for table, order in (
        ("orgs", "id"),
        ("integrations", "org_id"),
        ("log", "id"),
        ("queue", "id"),
        ("mappings", "org_id, kind, local"),
    ):
        for row in db.execute(f"SELECT * FROM {table} ORDER BY {order}"):
            digest.update(repr(tuple(row)).encode())
    db.conn.close()
    return digest.hexdigest()


def test_demo_store_matches_sample(db) -> None:
    codes = {r[0] for r in db.execute("SELECT code FROM orgs")}
    assert {"HARBOUR", "KAURI", "SXBREW", "WATTLE", "BRIGHT", "COPPER", "GREEN"} <= codes
    states = {r[0] for r in db.execute("SELECT DISTINCT state FROM integrations")}
    assert states == set(STATES)
    # An uninstalled integration has no settings or mappings left, and remembers its tenant.
    row = db.execute(
        "SELECT i.* FROM integrations i JOIN orgs o ON o.id = i.org_id WHERE o.code = 'COPPER'"
    ).fetchone()
    assert row["tenant_id"] is None and row["previous_tenant_name"] == "Copperleaf Candles"
    assert (
        db.execute("SELECT count(*) FROM mappings WHERE org_id = ?", [row["org_id"]]).fetchone()[0]
        == 0
    )


def test_log_rowid_follows_time(db) -> None:
    out_of_order = db.execute(
        "SELECT count(*) FROM log a JOIN log b ON b.id = a.id + 1 WHERE b.at < a.at"
    ).fetchone()[0]
    assert out_of_order == 0


def test_log_covers_a_week_with_xero_wording(db, now) -> None:
    first, last = db.execute("SELECT min(at), max(at) FROM log").fetchone()
    assert first >= iso(now - timedelta(days=7)) and last <= iso(now)
    messages = {r[0] for r in db.execute("SELECT DISTINCT kind FROM log WHERE level='error'")}
    assert {
        "account_code_removed",
        "refresh_token_invalid",
        "rate_limited_minute",
        "tax_type_invalid",
        "connection_removed",
        "duplicate_email",
    } <= messages
    assert (
        db.execute("SELECT count(*) FROM log WHERE level='error' AND kind IS NULL").fetchone()[0]
        == 0
    )


def test_error_stats_match_the_log(db) -> None:
    naive = db.execute(
        "SELECT substr(at,1,10), kind, org_id, count(*), min(at), max(at) FROM log "
        "WHERE level='error' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    ).fetchall()
    kept = db.execute(
        "SELECT day, kind, org_id, count, first_at, last_at FROM error_stats ORDER BY 1, 2, 3"
    ).fetchall()
    assert [tuple(r) for r in kept] == [tuple(r) for r in naive]


def test_generated_store_is_deterministic(tmp_path: Path, now) -> None:
    a, b, c = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "c.db"
    build_store(a, orgs=60, log_rows=3000, seed=5, now=now)
    build_store(b, orgs=60, log_rows=3000, seed=5, now=now)
    build_store(c, orgs=60, log_rows=3000, seed=6, now=now)
    assert _fingerprint(a) == _fingerprint(b)
    assert _fingerprint(a) != _fingerprint(c)


def test_generated_store_has_requested_size_and_realistic_mix(tmp_path: Path, now) -> None:
    path = tmp_path / "big.db"
    report = build_store(path, orgs=400, log_rows=20_000, seed=3, now=now)
    assert (report.orgs, report.log_rows) == (400, 20_000)
    db = open_store(path)
    assert db.execute("SELECT count(*) FROM log").fetchone()[0] == 20_000
    states = dict(db.execute("SELECT state, count(*) FROM integrations GROUP BY state"))
    assert set(states) == set(STATES)
    assert states["active"] > 0.6 * 400  # most customers are healthy
    errors = db.execute("SELECT count(*) FROM log WHERE level='error'").fetchone()[0]
    assert 0.02 * 20_000 < errors < 0.5 * 20_000
    codes = db.execute("SELECT count(DISTINCT code) FROM orgs").fetchone()[0]
    assert codes == 400
    tenants = db.execute("SELECT count(DISTINCT tenant_id) FROM integrations").fetchone()[0]
    assert tenants > 300  # each customer its own Xero organisation (bar the demo-company traps)


def test_progress_is_reported(tmp_path: Path, now) -> None:
    seen = []
    build_store(
        tmp_path / "p.db",
        orgs=20,
        log_rows=500,
        now=now,
        progress=lambda stage, done, total: seen.append((stage, done, total)),
    )
    stages = {s for s, _, _ in seen}
    assert {"orgs", "log", "indexes"} <= stages
    assert ("log", 500, 500) in seen


def test_refuses_to_overwrite_without_force(store_path: Path) -> None:
    with pytest.raises(StoreExists, match="--force"):
        build_store(store_path)


def test_force_replaces_and_leaves_no_temp_files(store_path: Path, now) -> None:
    build_store(store_path, force=True, empty=True, now=now)
    db = open_store(store_path)
    assert db.execute("SELECT count(*) FROM orgs").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM kb").fetchone()[0] >= 25
    leftovers = [p.name for p in store_path.parent.iterdir() if "building" in p.name]
    assert leftovers == []


def test_failed_build_keeps_old_store(store_path: Path, monkeypatch, now) -> None:
    before = store_path.read_bytes()
    import store.generate as gen

    def boom(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. ctrl+c half way

    monkeypatch.setattr(gen, "_fill", boom)
    with pytest.raises(KeyboardInterrupt):
        build_store(store_path, force=True, now=now)
    assert store_path.read_bytes() == before
    assert not [p for p in store_path.parent.iterdir() if "building" in p.name]
