"""store.log_export: the whole-log CSV and JSON text SQLite writes is byte for byte what the
row-by-row writers write, for hostile rows in every column and at every batch boundary, and
the reader thread behind it stops, fails and ends its read transaction with the export."""

from __future__ import annotations

import io
import sqlite3
import threading
from dataclasses import fields

import pytest
from support import plant, run_cli

from store.db import open_store
from store.errors import InvalidQuery
from store.log_export import EXPORTED_COLUMNS, JSON_KEYS, stream_log_csv, stream_log_json
from store.logs import LogQuery
from store.models_log import LogEntry
from store.watch import walk_log
from tui.cli_base import print_json_chunks, print_json_list
from tui.log_csv import LogCsvWriter

CONTROLS = "".join(chr(c) for c in range(1, 32)) + "\x7f"
HOSTILE = (
    # every C0 control, DEL, the CSV writer's separator, NUL
    f"UPDATE log SET message = 'c{CONTROLS}' || char(0) || 'nul' WHERE id = 3",
    "UPDATE log SET document = 'x' || char(31) || 'y', kind = 'k' || char(10) WHERE id = 4",
    "UPDATE log SET message = CAST('bytes \\x1b[31m \u202e' AS BLOB) WHERE id = 5",
    # formulas in every column a spreadsheet could run
    "UPDATE log SET message = '=cmd|calc', document = '@x', kind = '+1' WHERE id = 6",
    "UPDATE log SET document = '-1', correlation_id = 'a\u202eb' WHERE id = 7",
    "UPDATE log SET at = '-' || at WHERE id = 15",  # a formula at the start of a line
    # the JSON text's own markers and separators (NULL is \x03, a value \x02...\x04)
    "UPDATE log SET document = char(3), kind = char(2, 4), correlation_id = char(17) WHERE id = 16",
    # commas and quotes, alone and together, in several columns
    "UPDATE log SET message = 'a, b and \"c\"', document = 'd,1' WHERE id = 8",
    "UPDATE log SET message = 'tab\tinside, and a comma', correlation_id = '\"q' WHERE id = 9",
    "UPDATE log SET message = char(9) || 'tab first', kind = '' WHERE id = 10",
    # numbers and non-ASCII text
    "UPDATE log SET document = 42, correlation_id = 1.5 WHERE id = 11",
    "UPDATE log SET document = 'ünïcode ✓', message = 'line\u2028sep \u00ad' WHERE id = 12",
    "UPDATE log SET message = 'back\\slash \"quoted\" / slash' WHERE id = 13",
    "UPDATE orgs SET code = 'CO,DE' WHERE id = (SELECT org_id FROM log WHERE id = 14)",
    # NUL (printf stops at it) in other columns; text stored as a BLOB with nothing to escape
    "UPDATE log SET at = at || char(0) || 'z', kind = 'k' || char(0) WHERE id = 17",
    "UPDATE log SET correlation_id = char(0), document = CAST('plain blob' AS BLOB) WHERE id = 18",
    # a quote that looks like the JSON format's own text, backslashes, a key-like value
    'UPDATE log SET message = \'x": null, "kind": "\', kind = NULL WHERE id = 19',
    "UPDATE log SET document = 'C:\\path\\', correlation_id = '\"id\": 1' WHERE id = 20",
    "UPDATE log SET message = '{\"id\": 3}' || char(10) || '  },' WHERE id = 21",
)


def _paged_csv(db, query: LogQuery) -> str:
    out = io.StringIO()
    LogCsvWriter(out).write(e for p in walk_log(db, query) for e in p.entries)
    return out.getvalue()


@pytest.fixture
def hostile(store_path):
    plant(store_path, *HOSTILE)
    database = open_store(store_path)
    yield database
    database.conn.close()


QUERIES = (LogQuery(), LogQuery(org="KAURI", level="error"), LogQuery(search="xero"))


@pytest.mark.parametrize("batch", [1, 2, 3, 7, 5000])
def test_csv_text_is_what_the_row_writer_writes(hostile, batch) -> None:
    for query in QUERIES:
        expected = _paged_csv(hostile, query)
        streamed = io.StringIO()
        writer = LogCsvWriter(streamed)
        writer.write_text(stream_log_csv(hostile, query, batch=batch))
        assert streamed.getvalue() == expected and expected.count("\n") > 3
        assert writer.written == expected.count("\n") - 1  # rows, not the header
    whole = _paged_csv(hostile, LogQuery())
    for planted in (
        "'=cmd|calc",
        "'@x",
        "'+1",
        "'-1",
        "\n'-20",
        "a\\u202eb",
        '"a, b and ""c"""',
        "\\x00nul",
    ):
        assert planted in whole, planted
    assert '"CO,DE"' in whole and "x\\x1fy" in whole and "bytes \\x1b[31m" in whole


def test_without_serialized_sqlite_the_batches_are_read_in_the_callers_thread(
    hostile, monkeypatch
) -> None:
    """A connection is shared with the reader thread only where SQLite is serialized."""
    monkeypatch.setattr(sqlite3, "threadsafety", 1)
    started = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda t: pytest.fail(f"thread {t.name}"))
    expected = _paged_csv(hostile, LogQuery())
    streamed = io.StringIO()
    LogCsvWriter(streamed).write_text(stream_log_csv(hostile, LogQuery(), batch=2))
    monkeypatch.setattr(threading.Thread, "start", started)
    assert streamed.getvalue() == expected and expected.count("\n") > 3


@pytest.mark.parametrize("batch", [1, 3, 5000])
def test_json_text_is_what_the_object_writer_writes(hostile, batch, capsys) -> None:
    assert JSON_KEYS == tuple(f.name for f in fields(LogEntry))  # a LogEntry's keys, in order
    for query in QUERIES:
        print_json_list(e for p in walk_log(hostile, query) for e in p.entries)
        objects = capsys.readouterr().out
        print_json_chunks(stream_log_json(hostile, query, batch=batch))
        assert capsys.readouterr().out == objects and objects.count("\n") > 10
    print_json_chunks(stream_log_json(hostile, LogQuery(search="nowordlikethis")))
    assert capsys.readouterr().out == "[]\n"
    print_json_chunks(stream_log_json(hostile, LogQuery(), batch=batch))
    whole = capsys.readouterr().out
    for planted in ("\\u0000nul", "\\u007f", "\\u202e", "\\u2028", "ünïcode ✓", '"id": 11,'):
        assert planted in whole, planted


def test_a_bad_filter_is_refused_before_any_output(hostile, store_path, capsys) -> None:
    for args in (["log", "NOPE_X", "--csv"], ["log", "NOPE_X", "--json"]):
        code, out, err = run_cli(capsys, "--db", str(store_path), *args)
        assert code == 1 and out == "" and "NOPE_X" in err


def test_the_cli_exports_what_the_row_writers_write(hostile, store_path, capsys) -> None:
    code, out, _ = run_cli(capsys, "--db", str(store_path), "log", "--csv")
    assert code == 0 and out == _paged_csv(hostile, LogQuery())
    code, out, _ = run_cli(capsys, "--db", str(store_path), "log", "KAURI", "--json")
    print_json_list(e for p in walk_log(hostile, LogQuery(org="KAURI")) for e in p.entries)
    assert code == 0 and out == capsys.readouterr().out and out.count("{") > 1


def test_the_export_reads_one_snapshot(hostile) -> None:
    """A row read again by id (a number in a cell) comes from the export's own snapshot, and
    the read transaction ends with the export."""
    chunks = stream_log_csv(hostile, LogQuery(), batch=1)
    first = next(chunks)
    assert hostile.conn.in_transaction and first.count("\n") == 1
    rest = "".join(chunks)
    assert not hostile.conn.in_transaction and "42" in rest


def test_the_exported_columns_hold_text_so_sqlite_and_python_spell_values_alike(
    store_path,
) -> None:
    """printf and Python write text and NULL alike; a number SQLite writes its own way (1e+20
    vs 1.0e+20) cannot be stored in a column with TEXT affinity: SQLite turns it into text."""
    conn = sqlite3.connect(store_path)
    try:
        for table, column in EXPORTED_COLUMNS:
            declared = {row[1]: row[2] for row in conn.execute(f"PRAGMA table_info({table})")}
            assert declared[column] == ("INTEGER" if column == "id" else "TEXT"), (table, column)
        conn.execute("UPDATE log SET document = 1e20, kind = 42 WHERE id = 2")
        assert conn.execute("SELECT typeof(document), kind FROM log WHERE id = 2").fetchone() == (
            "text",
            "42",
        )
    finally:
        conn.close()


def _readers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "syncdesk-export"]


@pytest.mark.parametrize("stream", [stream_log_csv, stream_log_json])
def test_stopping_an_export_stops_its_reader_and_its_read_transaction(hostile, stream) -> None:
    chunks = stream(hostile, LogQuery(), batch=2)
    next(chunks)
    next(chunks)
    assert _readers() and hostile.conn.in_transaction  # reading ahead
    chunks.close()
    assert not _readers() and not hostile.conn.in_transaction


@pytest.mark.parametrize("stream", [stream_log_csv, stream_log_json])
def test_a_failure_in_the_reader_reaches_the_caller(store_path, stream) -> None:
    """A row further down that cannot be read (text that is not UTF-8, which no writer can
    read) fails the export where it is, in the caller's thread; nothing waits forever."""
    plant(store_path, "UPDATE log SET message = CAST(x'ff' AS TEXT) WHERE id = 2")
    db = open_store(store_path)
    try:
        chunks = stream(db, LogQuery(), batch=3)
        assert next(chunks)
        with pytest.raises(sqlite3.OperationalError):
            list(chunks)
        assert not _readers() and not db.conn.in_transaction
    finally:
        db.conn.close()


def test_a_bad_query_is_refused_before_any_output(hostile) -> None:
    for stream in (stream_log_csv, stream_log_json):
        with pytest.raises(InvalidQuery):
            stream(hostile, LogQuery(level="warning"))
        assert not _readers() and not hostile.conn.in_transaction


def test_filters_stream_the_rows_the_pages_hold(hostile, capsys) -> None:
    """Keyset batches of a filter (an organisation's errors, a word) are that filter's rows."""
    for query in (
        LogQuery(org="KAURI", level="error"),
        LogQuery(search="xero"),
        LogQuery(level="info"),
    ):
        expected = _paged_csv(hostile, query)
        for batch in (1, 4):
            streamed = io.StringIO()
            LogCsvWriter(streamed).write_text(stream_log_csv(hostile, query, batch=batch))
            assert streamed.getvalue() == expected


@pytest.mark.parametrize(
    "planted",
    [
        "UPDATE log SET at = '-' || at WHERE id = 30",  # a formula at the start of a line
        "UPDATE log SET correlation_id = '@x' WHERE id = 30",  # at the start of a cell
        "UPDATE log SET message = 'a, \"b\"' WHERE id = 30",  # a comma and quotes
        "UPDATE log SET document = 'back\\slash' WHERE id = 30",
        "UPDATE log SET document = char(0) || 'after a NUL' WHERE id = 30",
        "UPDATE log SET kind = 'tab' || char(9) || 'in' WHERE id = 30",
        "UPDATE log SET message = 'ünïcode' WHERE id = 30",
        "UPDATE log SET message = 'del' || char(127) WHERE id = 30",
    ],
)
def test_one_thing_to_escape_in_an_otherwise_plain_batch(store_path, planted, capsys) -> None:
    """Each check on its own: the hostile rows above share their batches with other hostile
    rows, so one check could cover for another there."""
    plant(store_path, planted)
    db = open_store(store_path)
    try:
        for batch in (5000, 4):
            expected = _paged_csv(db, LogQuery())
            streamed = io.StringIO()
            LogCsvWriter(streamed).write_text(stream_log_csv(db, LogQuery(), batch=batch))
            assert streamed.getvalue() == expected
            print_json_list(e for p in walk_log(db, LogQuery()) for e in p.entries)
            objects = capsys.readouterr().out
            print_json_chunks(stream_log_json(db, LogQuery(), batch=batch))
            assert capsys.readouterr().out == objects
    finally:
        db.conn.close()
