"""`syncdesk kb` and `kb unmatched`: entries with what they explained in 7 days, and the errors
no entry explains, grouped by shape."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from support import NOW

from store.kb_stats import shape
from store.timeparse import iso


@pytest.fixture
def run(cli):
    return cli


def test_kb_lists_every_entry_with_its_matches_in_7_days(run, db) -> None:
    code, out, _ = run("kb", "--json")
    entries = json.loads(out)
    assert code == 0 and len(entries) == db.execute("SELECT count(*) FROM kb").fetchone()[0]
    assert {"kind", "title", "pattern", "cause", "fix", "matched_7d"} <= set(entries[0])
    since = iso(NOW - timedelta(days=7))
    for entry in entries:
        expected = db.execute(
            "SELECT count(*) FROM log WHERE kind = ? AND at >= ?", [entry["kind"], since]
        ).fetchone()[0]
        assert entry["matched_7d"] == expected, entry["kind"]
    assert sum(e["matched_7d"] for e in entries) > 0
    code, out, _ = run("kb")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["KIND", "LEVEL"]
    assert max(len(line) for line in out.splitlines()) <= 80


def test_shapes_mask_ids_addresses_and_numbers() -> None:
    assert (
        shape(
            "Order SO-00001234 for a@b.example.com failed "
            "(ref 1234abcd-1234-4123-a123-0000000012ab)"
        )
        == "Order SO-{n} for {email} failed (ref {uuid})"
    )
    assert (
        shape("Retry after 2.5 s, token 0f1e2d3c4b5a69788796a5b4")
        == "Retry after {n} s, token {id}"
    )


def test_kb_unmatched_groups_unexplained_errors_by_shape(run, tmp_path: Path) -> None:
    def row(seconds: float, org: str, number: int, level: str = "error", text: str = "") -> str:
        message = text or f"Frobnicator {number} exploded on order SO-{number:08d}"
        at = iso(NOW + timedelta(seconds=seconds))  # newer than the demo store's rows
        return json.dumps({"at": at, "org": org, "level": level, "message": message})

    lines = [
        row(-9 * 86400, "HARBOUR", 1),  # nine days ago, below the log: only with --since 30d
        row(1, "HARBOUR", 2),
        row(2, "HARBOUR", 3),
        row(3, "KAURI", 4),
        row(3, "KAURI", 5, text="Widget spline misaligned"),
        row(4, "KAURI", 6, level="info"),  # info rows are not errors to explain
        row(4, "KAURI", 7, text="Xero API request timed out after 30 s"),  # explained
    ]
    path = tmp_path / "new-errors.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, _, err = run("ingest", str(path))
    assert code == 0, err
    code, out, _ = run("kb", "unmatched", "--json")
    shapes = json.loads(out)
    assert code == 0 and [s["count"] for s in shapes] == [3, 1]
    top = shapes[0]
    assert set(top) == {"shape", "example", "count", "orgs", "first_at", "last_at"}
    assert top["shape"] == "Frobnicator {n} exploded on order SO-{n}"
    assert top["example"] == "Frobnicator 4 exploded on order SO-00000004"
    assert (top["orgs"], top["first_at"], top["last_at"]) == (
        2,
        iso(NOW + timedelta(seconds=1)),
        iso(NOW + timedelta(seconds=3)),
    )
    code, out, _ = run("kb", "unmatched", "--since", "30d", "--json")
    assert json.loads(out)[0]["count"] == 4
    code, out, _ = run("kb", "unmatched")
    assert code == 0 and "Frobnicator {n} exploded" in out
    assert max(len(line) for line in out.splitlines()) <= 80
