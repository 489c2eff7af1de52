"""`syncdesk ingest`: connection-log rows from a file (or standard input) into the store, once
or following the file as it grows.

Order. The log's rowid follows time (store/schema.py, above `CREATE TABLE log`): "newest first"
is ORDER BY id DESC, a time bound becomes an id bound, and the console pages and follows the log
by id. An ingested row must therefore get an id that keeps that order, and an id once given is
never changed (an open console holds ids). So each input is sorted by `at` first, and then:

- a row at or after the store's newest row is appended (ids above every other);
- a row at or before the store's oldest row is prepended (ids below every other, which may go
  below 1): history older than everything in the store goes in, in time order;
- a row strictly between the two would need an id between two existing ids, so it is rejected
  (to stderr and FILE.rejects, like any reject) rather than shown out of place. Files covering
  different periods go in in any order; streams overlapping in time are merged first.

Rows already in the store are skipped first (their keys are in `ingest_keys`, store/schema.py),
so re-reading a file whose rows are in rejects nothing.

Batches. Rows go in BATCH at a time, each batch one transaction with its keys: killed at any
point, the store holds whole batches, and a re-run skips them and adds the rest. Triggers keep
the full-text index and the error groups current as rows go in. Following a file, what was read
is committed at least every FLUSH_EVERY seconds, so the console sees it at its next look.
"""

from __future__ import annotations

import json
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from store.db import transaction
from store.errors import InputUnreadable, StoreBusy
from store.ingest_rows import CsvRecords, JsonRecords, Reject, Row, RowChecker
from store.kb import knowledge
from store.kb_match import IndexedClassifier
from store.models import to_json
from store.paths import private_mode
from store.tail import NEW_FILE, FileTail, Line, StreamTail, read_all

if TYPE_CHECKING:
    import sqlite_utils

BATCH = 5000
FLUSH_EVERY = 0.5  # seconds between commits while following
POLL = 0.1  # seconds between looks at a followed file
_KEYS_PER_QUERY = 5000

_INSERT = (
    "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_WITH_ID = (
    "INSERT INTO log(id, at, org_id, level, document, message, kind, correlation_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass(slots=True)
class IngestReport:
    """What an ingest did: lines read, rows added, duplicates skipped, lines rejected."""

    source: str
    read: int = 0
    added: int = 0
    skipped: int = 0
    rejected: int = 0
    seconds: float = 0.0
    rejects_file: str | None = None

    @property
    def rows_per_s(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "added": self.added,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "rejects_file": self.rejects_file,
        }


class RejectsFile:
    """FILE.rejects beside the input: one JSON object a rejected line ({line, reason, text}).

    A private file (0600, or 0660 in a group's directory: log lines are customers' data), made
    on the first reject and never written through a symlink. A run that rejects nothing removes
    the previous run's file, so the file always speaks of the last run. When it cannot be
    written, `problem` says why and the rejects still go to stderr.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problem: str | None = None
        self.written = 0
        self._out: Any = None

    def write(self, reject: Reject) -> None:
        if self.problem is not None:
            return
        try:
            if self._out is None:
                if self.path.is_symlink():
                    self.path.unlink()
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                mode = private_mode(self.path.parent)
                fd = os.open(self.path, flags, mode)
                os.fchmod(fd, mode)  # an existing file keeps its mode otherwise
                self._out = os.fdopen(fd, "w", encoding="utf-8")
            self._out.write(json.dumps(to_json(reject), ensure_ascii=False) + "\n")
            self._out.flush()
            self.written += 1
        except OSError as exc:
            self.problem = f"cannot write {self.path} ({exc.strerror or exc})"

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
        elif self.problem is None and self.path.is_file() and not self.path.is_symlink():
            try:
                self.path.unlink()
            except OSError:
                pass


class Ingester:
    """Reads lines, checks them, and writes the rows in time order, batch by batch."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        *,
        source: str,
        fmt: str,
        name: str,
        on_reject: Callable[[Reject], None] | None = None,
        progress: Callable[[IngestReport], None] | None = None,
    ) -> None:
        self.db = db
        self.report = IngestReport(source)
        self.checker = RowChecker(db, source, IndexedClassifier(knowledge(db)))
        self.records = CsvRecords(name) if fmt == "csv" else JsonRecords()
        self.on_reject = on_reject or (lambda reject: None)
        self.progress = progress or (lambda report: None)
        self.pending: list[Row] = []
        self._started = time.perf_counter()

    # --- reading -----------------------------------------------------------------------------

    def feed(self, lines: Iterable[Line]) -> None:
        """Check these lines; good rows wait in `pending` for the next commit."""
        batch: list[tuple[int, str]] = []
        for number, raw in lines:
            if number == NEW_FILE:  # rotated or truncated: a new file starts here
                self._take(self.records.feed(batch))
                batch = []
                self._take(self.records.finish())
                self.records.reset()
                self.checker.new_file()
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self._reject(
                    number, f"not UTF-8 text ({exc.reason})", raw.decode("utf-8", "replace")
                )
                continue
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            batch.append((number, text))
        self._take(self.records.feed(batch))

    def finish(self) -> None:
        """The input ended: what a format holds back until then (a JSON list) is checked now."""
        self._take(self.records.finish())

    def _take(self, records: Iterable[tuple[int, str, object]]) -> None:
        check = self.checker.check
        pending = self.pending
        for number, text, value in records:
            self.report.read += 1
            if isinstance(value, str):
                self._reject(number, value, text)
                continue
            row = check(number, value)
            if isinstance(row, str):
                self._reject(number, row, text)
            else:
                pending.append(row)
            if self.report.read % 20_000 == 0:
                self.progress(self.report)

    def _reject(self, number: int, reason: str, text: str) -> None:
        if number:
            self.report.rejected += 1
            self.on_reject(Reject(number, reason, text))

    # --- writing -----------------------------------------------------------------------------

    def commit(self) -> None:
        """Write every pending row, in time order: older than the store first, newest last."""
        rows, self.pending = self.pending, []
        if not rows:
            return
        if _mostly_descending(rows):  # `log --json` prints newest first: keep its ties' order
            rows.reverse()
        rows.sort(key=_at)
        bottom = self.db.execute("SELECT at FROM log ORDER BY id LIMIT 1").fetchone()
        split = bisect_left(rows, bottom[0], key=_at) if bottom else 0
        # Rows older than the store go in newest first, each batch below the one before it.
        batches = [rows[max(0, end - BATCH) : end] for end in range(split, 0, -BATCH)]
        batches += [rows[start : start + BATCH] for start in range(split, len(rows), BATCH)]
        for number, batch in enumerate(batches):
            try:
                self._write(batch)
            except StoreBusy:  # another session held the store: these rows wait for the next try
                self.pending = [r for b in batches[number:] for r in b] + self.pending
                raise

    def _write(self, rows: list[Row]) -> None:
        late: list[Row] = []
        with transaction(self.db) as conn:
            fresh = _fresh(conn, rows)
            self.report.skipped += len(rows) - len(fresh)
            top = conn.execute("SELECT id, at FROM log ORDER BY id DESC LIMIT 1").fetchone()
            bottom = conn.execute("SELECT id, at FROM log ORDER BY id LIMIT 1").fetchone()
            before: list[Row] = []
            after: list[Row] = []
            for row in fresh:
                if top is None or row.at >= top[1]:
                    after.append(row)
                elif row.at <= bottom[1]:
                    before.append(row)
                else:
                    late.append(row)
            if before:
                first = bottom[0] - len(before)
                conn.executemany(
                    _INSERT_WITH_ID,
                    [(first + i, *_values(r)) for i, r in enumerate(before)],
                )
            if after:
                conn.executemany(_INSERT, [_values(r) for r in after])
            conn.executemany(
                "INSERT INTO ingest_keys(source, key) VALUES (?, ?)",
                [(r.source, r.key) for r in before + after],
            )
        self.report.added += len(before) + len(after)
        for row in late:
            self._reject(
                row.line,
                f"at {row.at} falls inside the store's log ({bottom[1]} .. {top[1]}), which keeps "
                "rows in time order: ingest older history before newer rows",
                json.dumps(row.as_json(), ensure_ascii=False),
            )
        self.report.seconds = time.perf_counter() - self._started
        self.progress(self.report)

    def done(self) -> IngestReport:
        self.report.seconds = time.perf_counter() - self._started
        return self.report


def _at(row: Row) -> str:
    return row.at


def _mostly_descending(rows: list[Row]) -> bool:
    down = sum(1 for a, b in zip(rows, rows[1:], strict=False) if a.at > b.at)
    up = sum(1 for a, b in zip(rows, rows[1:], strict=False) if a.at < b.at)
    return down > up


def _values(row: Row) -> tuple[Any, ...]:
    return (
        row.at,
        row.org_id,
        row.level,
        row.document,
        row.message,
        row.kind,
        row.correlation_id,
    )


def _fresh(conn: Any, rows: list[Row]) -> list[Row]:
    """The rows whose key is neither in the store nor earlier in `rows`."""
    known: set[tuple[str, str]] = set()
    by_source: dict[str, list[str]] = {}
    for row in rows:
        by_source.setdefault(row.source, []).append(row.key)
    for source, keys in by_source.items():
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            chunk = keys[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            known.update(
                (source, key)
                for (key,) in conn.execute(
                    f"SELECT key FROM ingest_keys WHERE source = ? AND key IN ({marks})",
                    [source, *chunk],
                )
            )
    fresh = []
    for row in rows:
        key = (row.source, row.key)
        if key not in known:
            known.add(key)
            fresh.append(row)
    return fresh


# --- the two ways to run -----------------------------------------------------------------------


def ingest_stream(ingester: Ingester, stream: BinaryIO) -> IngestReport:
    """Read a whole file or stream, then write its rows in time order."""
    ingester.feed(read_all(stream))
    ingester.finish()
    ingester.commit()
    return ingester.done()


def follow(ingester: Ingester, tail: FileTail | StreamTail, stop: threading.Event) -> IngestReport:
    """What the file holds now, then what is added to it, until `stop` is set (or a followed
    stream ends), committing at least every FLUSH_EVERY seconds; then what was read is committed.
    """
    ingester.feed(tail.read())
    _commit_unless_busy(ingester)
    last = time.monotonic()
    while not stop.is_set() and not getattr(tail, "ended", False):
        lines = tail.read(wait=POLL)
        ingester.feed(lines)
        if ingester.pending and (
            time.monotonic() - last >= FLUSH_EVERY or len(ingester.pending) >= BATCH
        ):
            _commit_unless_busy(ingester)
            last = time.monotonic()
        if not lines and not tail.waits:
            stop.wait(POLL)
    ingester.feed(tail.read())
    ingester.finish()
    ingester.commit()
    return ingester.done()


def _commit_unless_busy(ingester: Ingester) -> None:
    # A long write by another session (an import re-classifying the log, say) can hold the store
    # past the busy timeout; a follower keeps what it read and tries again at the next commit.
    try:
        ingester.commit()
    except StoreBusy:
        pass


def ingest_file(
    db: sqlite_utils.Database,
    path: Path | None,
    *,
    source: str,
    fmt: str,
    stream: BinaryIO | None = None,
    follow_file: bool = False,
    stop: threading.Event | None = None,
    on_reject: Callable[[Reject], None] | None = None,
    progress: Callable[[IngestReport], None] | None = None,
) -> tuple[IngestReport, RejectsFile | None]:
    """Ingest the file at path (or `stream`, standard input, when path is None), once or
    following it until `stop` is set; rejects go to on_reject and to PATH.rejects.

    Raises InputUnreadable (no such file, a directory, permission denied, a CSV without its
    header), StoreError.
    """
    rejects = RejectsFile(path.with_name(path.name + ".rejects")) if path else None

    def reject(found: Reject) -> None:
        if rejects is not None:
            rejects.write(found)
        if on_reject is not None:
            on_reject(found)

    ingester = Ingester(
        db,
        source=source,
        fmt=fmt,
        name=path.name if path else source,
        on_reject=reject,
        progress=progress,
    )
    try:
        if path is None:
            assert stream is not None
            if follow_file:
                report = follow(ingester, StreamTail(stream), stop or threading.Event())
            else:
                report = ingest_stream(ingester, stream)
        elif follow_file:
            tail = _open(path, FileTail)
            try:
                report = follow(ingester, tail, stop or threading.Event())
            finally:
                tail.close()
        else:
            with _open(path, open) as handle:
                report = ingest_stream(ingester, handle)
    finally:
        if rejects is not None:
            rejects.close()
    if rejects is not None and rejects.written:
        report.rejects_file = str(rejects.path)
    return report, rejects


def _open(path: Path, opener: Callable[..., Any]) -> Any:
    try:
        return opener(path, "rb") if opener is open else opener(path)
    except FileNotFoundError:
        raise InputUnreadable(f"No file {path} to ingest.") from None
    except IsADirectoryError:
        raise InputUnreadable(f"{path} is a directory; give the log file to ingest.") from None
    except OSError as exc:
        raise InputUnreadable(f"Cannot read {path} ({exc.strerror or exc}).") from None
