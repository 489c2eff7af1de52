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


def test_the_streamed_export_writes_what_the_paged_one_writes(db, store_path, capsys) -> None:
    import io

    from support import plant, run_cli

    from store.log_export import stream_log_csv
    from store.logs import LogQuery
    from store.watch import walk_log
    from tui.log_csv import LogCsvWriter

    db.conn.close()
    plant(
        store_path,
        "UPDATE log SET message = CAST('bytes \\x1b[31m' AS BLOB) WHERE id = 5",
        "UPDATE log SET message = '=cmd|calc' WHERE id = 6",
        "UPDATE log SET document = '-1', correlation_id = 'a\u202eb' WHERE id = 7",
        "UPDATE log SET message = 'a, b and \"c\"' WHERE id = 8",
        "UPDATE log SET message = 'tab\tinside, and a comma' WHERE id = 9",
    )
    from store.db import open_store

    db = open_store(store_path)
    for query in (LogQuery(), LogQuery(org="KAURI", level="error"), LogQuery(search="xero")):
        paged, streamed = io.StringIO(), io.StringIO()
        LogCsvWriter(paged).write(e for p in walk_log(db, query) for e in p.entries)
        LogCsvWriter(streamed).write_text(stream_log_csv(db, query))
        assert streamed.getvalue() == paged.getvalue() and paged.getvalue().count("\n") > 3
    code, out, _ = run_cli(capsys, "--db", str(store_path), "log", "--csv")
    whole = io.StringIO()
    LogCsvWriter(whole).write(e for p in walk_log(db, LogQuery()) for e in p.entries)
    assert code == 0 and out == whole.getvalue()
    assert "'=cmd|calc" in out and "a\\u202eb" in out


def test_the_streamed_json_export_writes_what_the_object_one_writes(store_path, capsys) -> None:
    from support import plant

    from store.db import open_store
    from store.log_export import stream_log_json
    from store.logs import LogQuery
    from store.watch import walk_log
    from tui.cli_base import print_json_chunks, print_json_list

    plant(
        store_path,
        "UPDATE log SET message = CAST('bytes \u202e here' AS BLOB) WHERE id = 5",
        "UPDATE log SET message = 'quote \" back\\\\slash \u2028 tab\t nl' || char(10) "
        "WHERE id = 6",
        "UPDATE log SET document = 'ünïcode ✓', correlation_id = 'a\u200bb' WHERE id = 7",
    )
    db = open_store(store_path)
    written = []
    for query in (LogQuery(), LogQuery(org="KAURI", level="error"), LogQuery(org="NOPE_X")):
        try:
            print_json_list(e for p in walk_log(db, query) for e in p.entries)
        except Exception as exc:  # the unknown organisation: both refuse alike
            with __import__("pytest").raises(type(exc)):
                print_json_chunks(stream_log_json(db, query))
            continue
        objects = capsys.readouterr().out
        print_json_chunks(stream_log_json(db, query))
        assert capsys.readouterr().out == objects and objects.count("\n") > 10
        written.append(objects)
    objects = written[0]  # the whole log, with the planted rows
    assert "\\u202e" in objects and "\\u2028" in objects and "ünïcode ✓" in objects
