"""The whole connection log as CSV or JSON text, at the speed of the `sqlite3` shell's export.

`syncdesk log --csv` / `--json` without a limit writes every matching row. Doing that row by
row in Python (a tuple, seven cell checks, a csv or JSON call per row) was 4-5x the shell's
time on a million rows, so the work is split:

- SQLite writes the text of a whole batch of rows (newest first, keyset: `id < the last
  batch's oldest`) as one string: each row's CSV cells joined by a unit separator (U+001F,
  one `printf`), or its JSON object (`json_object`, which escapes like Python's encoder), the
  rows joined by line feeds (`group_concat`). One string per batch means the statement runs
  inside SQLite, without the GIL, for thousands of rows at a time: a reader thread reads the
  next batches while the caller's thread checks and writes the last one (the second core).
- Python checks a batch at once (a few scans of the string) and writes it as it is: the CSV
  separators become commas, the JSON objects are indented as `print_json_list` indents them.
  Only a batch holding something to escape (a control character, a cell a spreadsheet would
  run as a formula, non-ASCII text) is gone through line by line, and only lines holding a
  comma or a quote go through the csv module (`textsafe.csv_cells`, `textsafe.escape_json`).
- A batch SQLite cannot write as text is read again as plain rows, in the same read
  transaction, and written through the row-by-row rules: a BLOB (`json_object` refuses it;
  `printf` would stop at a NUL, which the batch's byte count shows; text that is not UTF-8
  cannot be read as one string), or a cell holding a line feed or the separator.

Every exported column has TEXT affinity, so SQLite stores numbers written to it as text: the
values are text, NULL or (planted) BLOBs, never numbers SQLite would spell differently from
Python (a test checks the schema). The output is byte for byte what the row-by-row writers
write (tests/store/test_log_export.py checks hostile rows against them, at many batch sizes).
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
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
EXPORTED_COLUMNS = (("log", "id"), *(tuple(column.split(".")) for _, column in _CELLS))
_SEP = "\x1f"  # between the cells of a CSV line as SQLite writes it
_SEPARATORS = len(_CELLS) - 1

# printf writes NULL as nothing, and every cell only up to a NUL: its bytes, summed over the
# batch, show one (length of a BLOB is its size; CAST leaves text's bytes as they are).
_CSV_TEXT = (
    "printf('" + _SEP.join("%s" for _ in _CELLS) + "', " + ", ".join(c for _, c in _CELLS) + ")"
)
_CSV_BYTES = " + ".join(f"ifnull(length(CAST({column} AS BLOB)), 0)" for _, column in _CELLS)
_JSON_TEXT = (
    "printf('{\n"
    + ",\n".join(f'    "{key}": %{"d" if key == "id" else "s"}' for key in JSON_KEYS)
    + "\n  }', log.id, "
    + ", ".join(f"json_quote({column})" for _, column in _CELLS)
    + ")"
)

_PLAIN = bytes(range(0x20, 0x7F)) + b"\t"  # what a clean ASCII batch holds besides \n and \x1f

READ_AHEAD = 2  # batches the reader thread may have ready while the caller writes one


def stream_log_csv(
    db: sqlite_utils.Database, query: LogQuery, *, batch: int = 5000
) -> Iterator[str]:
    """Every row matching query, newest first, as CSV lines (no header) in chunks of text:
    what `LogCsvWriter.write` writes for the same rows. Memory stays a few batches.

    Raises UnknownOrganisation, InvalidQuery (before anything is yielded).
    """
    line_of = _csv_line_writer()

    def text(item: _Batch) -> str:
        if item.rows is not None:
            return "".join(line_of(csv_cells(row[1:])) for row in item.rows)
        joined, count = item.text, item.count
        if joined.isascii() and _csv_clean(joined, count):
            if "," not in joined and '"' not in joined:
                return joined.replace(_SEP, ",") + "\n"
            return _with_quoted_lines(joined, line_of)  # those lines quoted by the csv module
        return "".join(line_of(csv_cells(line.split(_SEP))) for line in joined.split("\n"))

    batches = _batches(db, query, batch, _CSV)
    return (text(item) for item in batches)


def stream_log_json(
    db: sqlite_utils.Database, query: LogQuery, *, batch: int = 5000
) -> Iterator[str]:
    """Every row matching query, newest first, as the JSON objects `print_json_list` writes
    for them (indented as list items), in chunks of text, the objects of a chunk joined by
    ",\\n  ": the caller writes the list's brackets and the separator between chunks.

    Raises UnknownOrganisation, InvalidQuery (before anything is yielded).
    """

    def text(item: _Batch) -> str:
        if item.rows is not None:
            return ",\n  ".join(json_object(row, JSON_KEYS) for row in item.rows)
        # json_quote leaves what json.dumps(ensure_ascii=False) leaves raw; the same
        # escaping, character by character, applies to the whole chunk at once.
        joined = item.text
        return joined if joined.isascii() and "\x7f" not in joined else escape_json(joined)

    batches = _batches(db, query, batch, _JSON)
    return (text(item) for item in batches)


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


def _csv_sane(joined: str, count: int, size: int) -> bool:
    """True when a batch's CSV text splits back into its rows' cells: `count` lines of seven
    cells (no line feed or separator inside a cell) holding all `size` bytes of the cells
    (printf stopped at no NUL)."""
    if joined.count("\n") != count - 1 or joined.count(_SEP) != count * _SEPARATORS:
        return False
    length = len(joined) if joined.isascii() else len(joined.encode("utf-8", "surrogatepass"))
    return length == size + count * (_SEPARATORS + 1) - 1


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


class _Batch:
    """One batch of rows: the text SQLite wrote for them (`count` rows), or, when it could not,
    the rows themselves (stream_log's tuples)."""

    __slots__ = ("count", "rows", "text")

    def __init__(self, count: int, text: str = "", rows: list[tuple[Any, ...]] | None = None):
        self.count, self.text, self.rows = count, text, rows


@dataclass(frozen=True)
class _Form:
    """How SQLite writes a batch: each row's text (`row`, and with `sane`, the bytes of its
    cells, which sane(text, rows, bytes) checks the batch's text against) and what joins the
    rows."""

    row: str
    separator: str
    sane: Callable[[str, int, int], bool] | None = None


def _batches(
    db: sqlite_utils.Database, query: LogQuery, batch: int, form: _Form
) -> Iterator[_Batch]:
    """The batches of query's rows, newest first, in one read transaction. The first batch is
    read before this returns (a bad filter raises here, before any output); the rest by a
    reader thread, at most READ_AHEAD batches ahead of the caller."""
    if log_filter(db, query) is None:  # raises UnknownOrganisation, InvalidQuery
        return iter(())
    conn = db.conn
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")  # one snapshot for every batch
    try:
        first = _read_batch(db, query, batch, form, None)
    except BaseException:
        if own:
            conn.rollback()
        raise
    return _stream(db, first, lambda before: _read_batch(db, query, batch, form, before), own)


def _stream(
    db: sqlite_utils.Database,
    first: tuple[_Batch, int | None],
    read: Callable[[int], tuple[_Batch, int | None]],
    own: bool,
) -> Iterator[_Batch]:
    item, before = first
    reader = None
    try:
        if item.count:
            yield item
        if before is None:
            return
        reader = _Reader(read)
        reader.start(before)
        yield from reader
    finally:
        if reader is not None:
            reader.stop()
        if own and db.conn.in_transaction:
            db.conn.rollback()  # it only read


def _read_batch(
    db: sqlite_utils.Database, query: LogQuery, batch: int, form: _Form, before: int | None
) -> tuple[_Batch, int | None]:
    """The batch of rows older than `before` (all but the oldest id: newest first), and the
    id the next batch is older than (None: this was the last)."""
    found = log_filter(db, query, before_id=before)
    if found is None:
        return _Batch(0), None
    rows_sql, args = found.select(_COLUMNS, limit=batch)
    inner, _ = found.select(f"{form.row}, {found.id_column}", limit=batch)
    sql = (
        f"WITH page({'t, b, i' if form.sane else 't, i'}) AS ({inner}) "
        f"SELECT group_concat(t, ?), count(*), min(i){', sum(b)' if form.sane else ''} FROM page"
    )
    cursor = db.conn.cursor()
    cursor.row_factory = None  # tuples, not sqlite3.Row
    try:
        try:
            text, count, oldest, *size = cursor.execute(sql, [*args, form.separator]).fetchone()
        except sqlite3.OperationalError:  # a BLOB, text that is not UTF-8, a bad search
            text, count = None, batch
        if not count:
            return _Batch(0), None
        if text is None or (form.sane is not None and not form.sane(text, count, size[0])):
            try:
                rows = cursor.execute(rows_sql, args).fetchall()
            except sqlite3.OperationalError as exc:
                if query.search is None:
                    raise
                raise InvalidQuery(f"Cannot search for {query.search!r} ({exc}).") from exc
            count, oldest = len(rows), rows[-1][0] if rows else None
            got = _Batch(count, rows=rows)
        else:
            got = _Batch(count, text)
    finally:
        cursor.close()
    return got, (oldest if count == batch else None)


class _Reader:
    """Reads batches in a thread (SQLite runs a batch's statement without holding the GIL),
    keeping at most READ_AHEAD of them ready; iterating gives them in order."""

    def __init__(self, read: Callable[[int], tuple[_Batch, int | None]]) -> None:
        self._read = read
        self._ready: deque[tuple[_Batch | None, BaseException | None]] = deque()
        self._filled = threading.Semaphore(0)
        self._slots = threading.Semaphore(READ_AHEAD)
        self._stopped = False
        self._thread: threading.Thread | None = None

    def start(self, before: int) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(before,), name="syncdesk-export", daemon=True
        )
        self._thread.start()

    def _run(self, before: int | None) -> None:
        try:
            while before is not None:
                self._slots.acquire()
                if self._stopped:
                    return
                item, before = self._read(before)
                self._ready.append((item, None))
                self._filled.release()
        except BaseException as exc:  # handed to the caller's thread
            self._ready.append((None, exc))
            self._filled.release()
            return
        self._ready.append((None, None))  # the end
        self._filled.release()

    def __iter__(self) -> Iterator[_Batch]:
        while True:
            self._filled.acquire()
            item, error = self._ready.popleft()
            self._slots.release()
            if error is not None:
                raise error
            if item is None:
                return
            if item.count:
                yield item

    def stop(self) -> None:
        """Let the thread finish the batch it reads, and wait for it."""
        self._stopped = True
        self._slots.release()
        if self._thread is not None:
            self._thread.join()


_CSV = _Form(f"{_CSV_TEXT}, {_CSV_BYTES}", "\n", _csv_sane)
_JSON = _Form(_JSON_TEXT, ",\n  ")
