"""csv_cells, the fast path of a CSV row, gives what csv_cell gives cell by cell."""

from __future__ import annotations

from store.textsafe import csv_cell, csv_cells

ROWS = [
    ("2026-11-24T12:00:00Z", "KAURI", "error", None, "Xero API 429: too many", "rate", None),
    ("a", "=SUM(A1)", "b", "", "c", None, "d"),
    ("plain", "tab\\there", "x\x1b[31mred", "\u202eevil", "-1", "+1", "@me"),
    ("line\nbreak", "\ttab first", "\rcr", "ok", b"bytes \xff", 7, None),
]


def test_csv_cells_matches_csv_cell() -> None:
    for row in ROWS:
        assert csv_cells(row) == [csv_cell(v or "") for v in row], row
    assert csv_cells(ROWS[0]) == [v or "" for v in ROWS[0]]  # the plain row as it is
