"""The whole connection log as CSV or JSON text, at the speed of the `sqlite3` shell's export.

`syncdesk log --csv` / `--json` without a limit writes every matching row. Doing that row by
row in Python (a tuple, seven cell checks, a csv or JSON call per row) was 4-5x the shell's
time on a million rows, so the work is split:

- SQLite writes each row's text: CSV cells joined by a unit separator (U+001F), or the JSON
  object exactly as `print_json_list` indents it (values through `json_quote`, which escapes
  like Python's encoder). A row holding anything but text or NULL (a BLOB, a number) gets no
  text, and is read again by id and written through the row-by-row rules.
- Python checks a batch of thousands of rows at once (a few scans of the joined batch) and
  writes it as it is; only a batch that holds something to escape (a control character, a
  cell a spreadsheet would run as a formula, a comma or quote, non-ASCII text) is gone through
  line by line, and only its unusual lines get the row-by-row treatment (`textsafe.csv_cells`
  and the csv module; `textsafe.escape_json`).

The output is byte for byte what the row-by-row writers write (tests/store/test_log_export.py
checks hostile rows against them). The statement runs in one read transaction, so rows read
again by id come from the same snapshot.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from store.errors import InvalidQuery
from store.logs import _COLUMNS, LogQuery, log_filter
from store.textsafe import csv_cells, dumps, escape_json

if TYPE_CHECKING:
    import sqlite_utils

# The exported cells, in the order of the CSV header and of the JSON keys after "id".
_CELLS = (
    ("at", "log.at"),
    ("org", "orgs.code"),
    ("level", "log.level"),
    ("document", "log.document"),
    ("message", "log.message"),
    ("kind", "log.kind"),
    ("correlation_id", "log.correlation_id"),
)
JSON_KEYS = ("id", *(key for key, _ in _CELLS))
_NOT_NULL = {"log.at", "orgs.code", "log.level", "log.message"}
_SEP = "\x1f"  # between the cells of a CSV line as SQLite writes it


def _text_or_null(column: str) -> str:
    text = f"{column} >= '' AND {column} < x''"  # SQLite orders NULL < numbers < text < BLOB
    return text if column in _NOT_NULL else f"({column} IS NULL OR ({text}))"


_ONLY_TEXT = " AND ".join(_text_or_null(column) for _, column in _CELLS)
_CSV_LINE = " || char(31) || ".join(
    column if column in _NOT_NULL else f"ifnull({column}, '')" for _, column in _CELLS
)
_JSON_OBJECT = (
    "'{' || char(10) || '    \"id\": ' || log.id || "
    + " || ".join(
        f"',' || char(10) || '    \"{key}\": ' || json_quote({column})" for key, column in _CELLS
    )
    + " || char(10) || '  }'"
)
_ROW_BY_ID = f"SELECT {_COLUMNS} FROM log JOIN orgs ON orgs.id = log.org_id WHERE log.id = ?"

_PLAIN = bytes(range(0x20, 0x7F)) + b"\t"  # what a clean ASCII batch holds besides \n and \x1f
_SEPARATORS = len(_CELLS) - 1


def stream_log_csv(
    db: sqlite_utils.Database, query: LogQuery, *, batch: int = 5000
) -> Iterator[str]:
    """Every row matching query, newest first, as CSV lines (no header) in chunks of text:
    what `LogCsvWriter.write` writes for the same rows. Memory stays one batch.

    Raises UnknownOrganisation, InvalidQuery (before anything is yielded).
    """
    chunks, refetch = _batches(db, query, f"CASE WHEN {_ONLY_TEXT} THEN {_CSV_LINE} END", batch)
    line_of = _csv_line_writer()

    def text() -> Iterator[str]:
        for chunk in chunks:
            lines = [row[0] for row in chunk]
            if None not in lines:
                joined = "\n".join(lines)
                if _csv_clean(joined, len(lines)):
                    if "," not in joined and '"' not in joined:
                        yield joined.replace(_SEP, ",") + "\n"
                    else:  # a comma or a quote: those lines are quoted by the csv module
                        yield _with_quoted_lines(joined, line_of)
                    continue
            out = []
            for line, (_, row_id) in zip(lines, chunk, strict=True):
                cells = line.split(_SEP) if line is not None else ()
                if len(cells) != len(_CELLS):  # not text, or a cell holds the separator
                    cells = refetch(row_id)[1:]
                out.append(line_of(csv_cells(cells)))
            yield "".join(out)

    return text()


def stream_log_json(
    db: sqlite_utils.Database, query: LogQuery, *, batch: int = 5000
) -> Iterator[str]:
    """Every row matching query, newest first, as the JSON objects `print_json_list` writes
    for them (indented as list items), in chunks of text, the objects of a chunk joined by
    ",\\n  ": the caller writes the list's brackets and the separator between chunks.

    Raises UnknownOrganisation, InvalidQuery (before anything is yielded).
    """
    chunks, refetch = _batches(db, query, f"CASE WHEN {_ONLY_TEXT} THEN {_JSON_OBJECT} END", batch)

    def text() -> Iterator[str]:
        for chunk in chunks:
            objects = [row[0] for row in chunk]
            if None in objects:
                objects = [
                    json_object(refetch(row_id), JSON_KEYS) if text is None else text
                    for text, row_id in chunk
                ]
            joined = ",\n  ".join(objects)
            # json_quote leaves what json.dumps(ensure_ascii=False) leaves raw; the same
            # escaping, character by character, applies to the whole chunk at once.
            yield joined if joined.isascii() and "\x7f" not in joined else escape_json(joined)

    return text()


def json_object(row: Sequence[Any], keys: Sequence[str]) -> str:
    """A flat row (text, whole numbers and None, in `keys` order) as the object
    print_json_list writes for it, indented as a list item (each value through the JSON
    encoder alone, no object built); anything else (text stored as a BLOB) goes through
    textsafe.dumps."""
    encode = json.encoder.encode_basestring  # what json.dumps(ensure_ascii=False) uses
    parts = []
    for key, value in zip(keys, row, strict=True):
        kind = type(value)
        if kind is str:
            parts.append(f"    {encode(key)}: {encode(value)}")
        elif value is None:
            parts.append(f"    {encode(key)}: null")
        elif kind is int:
            parts.append(f"    {encode(key)}: {value}")
        else:
            return dumps(dict(zip(keys, row, strict=True)), indent=2).replace("\n", "\n  ")
    return escape_json("{\n" + ",\n".join(parts) + "\n  }")


def _csv_clean(joined: str, lines: int) -> bool:
    """True when `lines` CSV lines joined by line feeds hold nothing csv_cells would change:
    plain ASCII, no control character but tab, no separator or line feed inside a cell, no
    cell starting as a formula."""
    if not joined.isascii() or joined.startswith(("=", "+", "-", "@", "\t")):
        return False
    rest = joined.encode("ascii").translate(None, _PLAIN)  # only \n and the separators left
    if len(rest) != lines * (_SEPARATORS + 1) - 1 or rest.count(b"\n") != lines - 1:
        return False
    # A cell starting as a formula: its first character follows a separator or a line feed.
    # A two-character search costs a pass over the batch, so only for the characters present
    # ("-" nearly always is: SI-00012345; a one-character search is a memchr).
    return not any(
        before + first in joined for first in "=+-@\t" if first in joined for before in "\x1f\n"
    )


def _with_quoted_lines(joined: str, line_of: Callable[[Sequence[str]], str]) -> str:
    """Clean lines (see _csv_clean) as CSV, the few holding a comma or a quote through the
    csv module: found with str.find, so the rest of the batch is never split into lines."""
    spans = set()
    for mark in (",", '"'):
        at = joined.find(mark)
        while at != -1:
            end = joined.find("\n", at)
            end = len(joined) if end == -1 else end
            spans.add((joined.rfind("\n", 0, at) + 1, end))
            at = joined.find(mark, end)
    out, done = [], 0
    for start, end in sorted(spans):
        out.append(joined[done:start].replace(_SEP, ","))
        out.append(line_of(joined[start:end].split(_SEP))[:-1])  # its line feed follows
        done = end
    out.append(joined[done:].replace(_SEP, ","))
    return "".join(out) + "\n"


def _csv_line_writer() -> Callable[[Sequence[str]], str]:
    """A line of cells as `LogCsvWriter` writes it (the csv module's quoting, line feed)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line_of(cells: Sequence[str]) -> str:
        joined = ",".join(cells)
        if '"' not in joined and joined.count(",") == _SEPARATORS:
            return joined + "\n"
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(cells)
        return buffer.getvalue()

    return line_of


def _batches(
    db: sqlite_utils.Database, query: LogQuery, text_sql: str, batch: int
) -> tuple[Iterator[list[tuple[Any, ...]]], Callable[[int], tuple[Any, ...]]]:
    """The (text, id) rows of query in batches, inside one read transaction, and a function
    reading a row of that snapshot again by id (as store.watch.stream_log's tuples)."""
    found = log_filter(db, query)
    if found is None:
        return iter(()), lambda row_id: ()
    sql, args = found.select(f"{text_sql}, log.id", limit=-1)  # LIMIT -1: no limit
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one snapshot for the statement and the rows read again
    cursor = conn.cursor()
    cursor.row_factory = None  # tuples, not sqlite3.Row
    try:
        cursor.execute(sql, args)
    except sqlite3.OperationalError as exc:
        cursor.close()
        if own:
            conn.rollback()
        raise InvalidQuery(f"Cannot search for {query.search!r} ({exc}).") from exc
    by_id = conn.cursor()
    by_id.row_factory = None

    def refetch(row_id: int) -> tuple[Any, ...]:
        return by_id.execute(_ROW_BY_ID, (row_id,)).fetchone()

    def chunks() -> Iterator[list[tuple[Any, ...]]]:
        try:
            while chunk := cursor.fetchmany(batch):
                yield chunk
        finally:
            cursor.close()
            by_id.close()
            if own and conn.in_transaction:
                conn.rollback()  # it only read

    return chunks(), refetch
