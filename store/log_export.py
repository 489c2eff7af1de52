"""The whole connection log as CSV or JSON text, at the speed of the `sqlite3` shell's export.

`syncdesk log --csv` / `--json` without a limit writes every matching row. Doing that row by
row in Python (a tuple, seven cell checks, a csv or JSON call per row) was 4-5x the shell's
time on a million rows, so the work is split:

- SQLite writes a batch of rows (newest first; keyset: older than the last batch's oldest) as
  one string: each row with one `printf` (the CSV cells joined by a unit separator, U+001F;
  the JSON object as `print_json_list` indents it, each value raw between quotes), the rows
  joined by `group_concat`. A batch is one step of one statement, which SQLite runs without
  holding the GIL: a reader thread (store.log_reader) reads the next batches while the
  caller's thread checks and writes this one, on the second core.
- Python checks the batch at once (a byte count, one `bytes.translate`, a few counts and
  searches) and writes it as it is: the separators become commas; the JSON needs nothing.
  Lines holding a comma or a quote go through the csv module; a CSV batch holding something
  to escape (a control character, a cell a spreadsheet would run as a formula, non-ASCII
  text) is gone through line by line (`textsafe.csv_cells`); the JSON objects of the few rows
  holding a quote or a backslash (printf does not escape them) are written again from their
  rows (`json_object`); non-ASCII JSON goes through `textsafe.escape_json`.
- printf stops a value at a NUL, so SQLite also sums the bytes of the batch's values: text
  shorter than that, or holding a line feed, a separator or (JSON) a control character in a
  value, is not used: the batch is read again as plain rows and written by the row-by-row
  rules. Text that is not UTF-8 cannot be read as one string: the same.

Every exported column has TEXT affinity, so SQLite stores numbers written to it as text (a
test checks the schema): values are text, NULL or planted BLOBs, which printf writes as their
bytes, and Python's writers as the same text decoded. The output is byte for byte what the
row-by-row writers write (tests/store/test_log_export.py: hostile rows, many batch sizes).
Everything is read in one read transaction: rows read again come from the same snapshot.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from store.log_reader import Batch, Form, read_batches
from store.logs import LogQuery
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
EXPORTED_COLUMNS = (("log", "id"), *(tuple(column.split(".")) for _, column in _CELLS))
_NOT_NULL = ("log.at", "orgs.code", "log.level", "log.message")
_NULLABLE = tuple(column for _, column in _CELLS if column not in _NOT_NULL)
# The bytes of the cells' values (a BLOB's length is its size; CAST leaves text's bytes).
_BYTES = " + ".join(
    f"length(CAST({column} AS BLOB))"
    if column in _NOT_NULL
    else f"ifnull(length(CAST({column} AS BLOB)), 0)"
    for _, column in _CELLS
)

# CSV: the cells joined by a unit separator (printf writes NULL as nothing), lines by \n.
_SEP = "\x1f"
_SEPARATORS = len(_CELLS) - 1
_CSV_TEXT = f"printf('{_SEP.join('%s' for _ in _CELLS)}', {', '.join(c for _, c in _CELLS)})"
# Each byte of a batch's text as what it means to the CSV checks: a line feed or the
# separator (S: a cell starts after it), a character a formula starts with (F: = + - @ tab), a
# comma or a quote (Q), another control character or DEL (C), a byte of non-ASCII text (U),
# anything else (.).
_CSV_CLASSES = bytes(
    ord(
        "S" if byte in (0x0A, 0x1F)
        else "F" if chr(byte) in "=+-@\t"
        else "Q" if chr(byte) in ',"'
        else "C" if byte < 0x20 or byte == 0x7F
        else "U" if byte > 0x7F
        else "."
    )
    for byte in range(256)
)  # fmt: skip


def _json_format(nulls: frozenset[str]) -> tuple[str, list[str]]:
    """The object print_json_list writes for a row whose `nulls` columns are NULL, as a printf
    format (each value raw, between quotes) and its arguments."""
    lines, args = ['    "id": %d'], ["log.id"]
    for key, column in _CELLS:
        if column in nulls:
            lines.append(f'    "{key}": null')
        else:
            lines.append(f'    "{key}": "%s"')
            args.append(column)
    return "{\n" + ",\n".join(lines) + "\n  }", args


def _json_text(nullable: tuple[str, ...], nulls: frozenset[str] = frozenset()) -> str:
    """The row's printf, its format chosen by which nullable columns are NULL (a CASE tree)."""
    if not nullable:
        form, args = _json_format(nulls)
        return f"printf('{form}', {', '.join(args)})"
    column, rest = nullable[0], nullable[1:]
    return (
        f"CASE WHEN {column} IS NULL THEN {_json_text(rest, nulls | {column})} "
        f"ELSE {_json_text(rest, nulls)} END"
    )


_OBJECTS = ",\n  "  # between two objects of a chunk
_JSON_FIXED = _json_format(frozenset())[0].replace("%d", "").replace("%s", "")
_JSON_NULL = len("null") - len('""')  # what a NULL adds to the fixed text
_NEWLINES = _JSON_FIXED.count("\n") + 1  # of an object and the separator after it
_QUOTES = _JSON_FIXED.count('"')  # of an object with no NULL; each NULL has two fewer
_ID_AT = len('{\n    "id": ')
_JSON_KEEP = bytes(b for b in range(0x20, 0x100) if b not in b'"\\')  # deleted from a batch


def stream_log_csv(
    db: sqlite_utils.Database, query: LogQuery, *, batch: int = 5000
) -> Iterator[str]:
    """Every row matching query, newest first, as CSV lines (no header) in chunks of text:
    what `LogCsvWriter.write` writes for the same rows. Memory stays a few batches.

    Raises UnknownOrganisation, InvalidQuery (before anything is yielded).
    """
    line_of = _csv_line_writer()

    def text(item: Batch) -> str:
        joined = item.text if item.rows is None else None
        if joined is not None:
            data = joined.encode("utf-8")
            count = item.count
            classes = data.translate(_CSV_CLASSES)
            if (
                len(data) != item.sums[0] + count * (_SEPARATORS + 1) - 1  # a NUL cut a value
                # printf wrote six separators a row, group_concat a line feed between rows:
                # any more is a line feed or a separator inside a cell
                or classes.count(b"S") != count * (_SEPARATORS + 1) - 1
            ):
                joined = None
            elif b"C" in classes or b"U" in classes or _formula(classes):
                return "".join(line_of(csv_cells(line.split(_SEP))) for line in joined.split("\n"))
            elif b"Q" in classes:  # the lines with a comma or a quote through the csv module
                return _with_quoted_lines(joined, line_of)
            else:
                return joined.replace(_SEP, ",") + "\n"
        return "".join(line_of(csv_cells(row[1:])) for row in item.all_rows())

    return (text(item) for item in read_batches(db, query, batch, _CSV))


def stream_log_json(
    db: sqlite_utils.Database, query: LogQuery, *, batch: int = 5000
) -> Iterator[str]:
    """Every row matching query, newest first, as the JSON objects `print_json_list` writes
    for them (indented as list items), in chunks of text, the objects of a chunk joined by
    ",\\n  ": the caller writes the list's brackets and the separator between chunks.

    Raises UnknownOrganisation, InvalidQuery (before anything is yielded).
    """

    def text(item: Batch) -> str:
        joined = _json_checked(item) if item.rows is None else None
        if joined is None:
            return _OBJECTS.join(json_object(row, JSON_KEYS) for row in item.all_rows())
        # What json.dumps(ensure_ascii=False) leaves raw: the same escaping, character by
        # character, applies to the whole chunk at once.
        return joined if joined.isascii() and "\x7f" not in joined else escape_json(joined)

    return (text(item) for item in read_batches(db, query, batch, _JSON))


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


def _formula(classes: bytes) -> bool:
    """A cell starting as a formula: an F first, or after a separator or a line feed."""
    return classes.startswith(b"F") or b"SF" in classes


def _json_checked(item: Batch) -> str | None:
    """The batch's JSON text when it is what print_json_list writes, the objects of the few
    rows holding a quote or a backslash (printf does not escape them) written again from
    their rows; None when a value holds a control character (JSON escapes it) or printf
    stopped at a NUL (the text is short of the values' bytes)."""
    text, count, (size, nulls) = item.text, item.count, item.sums
    data = text.encode("utf-8")
    fixed = count * len(_JSON_FIXED) + nulls * _JSON_NULL + (count - 1) * len(_OBJECTS)
    if len(data) != fixed + size:
        return None
    rest = data.translate(None, _JSON_KEEP)  # the control characters, quotes and backslashes
    newlines, quotes = count * _NEWLINES - 1, count * _QUOTES - 2 * nulls
    if len(rest) == newlines + quotes and rest.count(b'"') == quotes:
        return text  # the format's line feeds and quotes, nothing else
    controls = rest.translate(None, b'"\\')
    if len(controls) != newlines or controls.count(b"\n") != newlines:
        return None
    # No line feed in a value, so ",\n  {" only starts an object; a value with a quote has
    # more quotes than the format's (two per value and key, less two for each null).
    objects = text.split(_OBJECTS + "{")
    objects[1:] = ["{" + tail for tail in objects[1:]]
    dirty = {
        at: int(found[_ID_AT : found.index(",", _ID_AT)])
        for at, found in enumerate(objects)
        if "\\" in found or found.count('"') != _QUOTES - 2 * found.count('": null')
    }
    rows = item.by_id(list(dirty.values()))
    for at, row_id in dirty.items():
        objects[at] = json_object(rows[row_id], JSON_KEYS)
    return _OBJECTS.join(objects)


def _with_quoted_lines(joined: str, line_of: Callable[[Sequence[str]], str]) -> str:
    """Clean lines as CSV, the few holding a comma or a quote through the csv module: found
    with str.find, so the rest of the batch is never split into lines."""
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


_CSV = Form(_CSV_TEXT, "\n", (_BYTES,))
_JSON = Form(
    _json_text(_NULLABLE),
    _OBJECTS,
    ("length(CAST(log.id AS BLOB)) + " + _BYTES, " + ".join(f"({c} IS NULL)" for c in _NULLABLE)),
)
