"""The one clock (store/clock.py): frozen in tests, set across processes, asked by everyone."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import NOW

from store import clock
from store.logs import error_groups, record
from store.orgs import list_orgs
from store.timeparse import age, iso, parse_since

ROOT = Path(__file__).resolve().parents[2]


def test_the_suite_runs_on_a_frozen_clock() -> None:
    assert clock.now() == NOW
    assert clock.now_iso() == "2026-11-24T12:00:00Z"
    assert clock.epoch() == NOW.timestamp()


def test_advance_moves_a_frozen_clock() -> None:
    clock.advance(90)
    assert clock.now() == NOW + timedelta(seconds=90)


def test_frozen_restores_what_was_there() -> None:
    later = NOW + timedelta(days=400)
    with clock.frozen(later):
        assert clock.now() == later
    assert clock.now() == NOW


def test_thaw_hands_back_to_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.ENV)
    clock.thaw()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_env_starts_the_clock_at_an_instant_and_lets_it_run() -> None:
    """SYNCDESK_NOW is how a CLI or console started by a test shares the frozen instant."""
    code = "from store import clock; print(clock.now_iso())"
    env = {**os.environ, clock.ENV: "2031-02-03T04:05:06Z"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().startswith("2031-02-03T04:05:")


def test_a_bad_env_value_falls_back_to_the_system_clock(monkeypatch) -> None:
    monkeypatch.setenv(clock.ENV, "next tuesday")
    clock.thaw()
    assert abs((clock.now() - datetime.now(UTC)).total_seconds()) < 5


def test_windows_follow_the_clock(db) -> None:
    """--since, errors in 24 h and ages all count back from the one clock."""
    assert parse_since("2h") == iso(NOW - timedelta(hours=2))
    assert age(iso(NOW - timedelta(hours=3))) == "3h"
    before = {o.code: o.errors_24h for o in list_orgs(db)}
    record(db, "HARBOUR", "error", "Xero is unavailable")  # stamped by the clock: now
    after = {o.code: o.errors_24h for o in list_orgs(db)}
    assert after["HARBOUR"] == before["HARBOUR"] + 1
    # A week later the same row is out of every 24-hour window.
    clock.advance(7 * 86400)
    assert {o.code: o.errors_24h for o in list_orgs(db)}["HARBOUR"] == 0
    assert error_groups(db, org="HARBOUR", since=parse_since("24h")) == []
    assert age(iso(NOW)) == "7d"


def _clock_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (name, node.func.attr) in {
                ("datetime", "now"),
                ("datetime", "utcnow"),
                ("datetime", "today"),
                ("date", "today"),
                ("time", "time"),
            }:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_nobody_else_reads_the_wall_clock() -> None:
    """Only store/clock.py asks the system what time it is (durations use time.monotonic)."""
    files = [p for d in ("store", "tui") for p in (ROOT / d).rglob("*.py")]
    offenders = [c for p in files if p.name != "clock.py" for c in _clock_calls(p)]
    assert offenders == []
