"""What `syncdesk ingest` reads: lines of JSON (or a JSON list, as `log --json` prints it) or
CSV (as `log --csv` writes it), turned into checked connection-log rows or into rejects that
name their line.

A row has the keys of `log --json`: `at`, `org`, `level`, `document`, `message`,
`correlation_id` and, optionally, `id` (`kind` is ignored: the knowledge base classifies every
row on the way in; other keys are ignored too). Its duplicate key is (source, id) when it has an
id, else ("", a hash of its fields and how many identical rows came before it in the same file),
so that two identical rows in one second are two rows, and the same row read twice is one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from store import clock
from store.errors import InputUnreadable
from store.timeparse import iso, parse

if TYPE_CHECKING:
    import sqlite_utils

FORMATS = ("jsonl", "csv")
LEVELS = ("error", "info")
FUTURE_SLACK = timedelta(minutes=5)  # clocks of other hosts run a little ahead
HASH_SOURCE = ""  # the source of every hash key: the same row from two files is one row
_STORE_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@dataclass(slots=True)
class Row:
    """One checked row, ready to insert (kind comes from the knowledge base)."""

    at: str
    org_id: int
    level: str
    document: str | None
    message: str
    kind: str | None
    correlation_id: str | None
    source: str
    key: str
    line: int
    org: str
    id: object = None

    def as_json(self) -> dict[str, object]:
        """The row in the shape of `log --json` (for the rejects file)."""
        out: dict[str, object] = {
            "at": self.at,
            "org": self.org,
            "level": self.level,
            "document": self.document,
            "message": self.message,
            "correlation_id": self.correlation_id,
        }
        if self.id is not None:
            out["id"] = self.id
        return out


@dataclass(frozen=True, slots=True)
class Reject:
    """A line that did not go in: its 1-based number, why, and its text."""

    line: int
    reason: str
    text: str

    def to_json(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason, "text": self.text}


Record = tuple[int, str, object]  # (line number, text, a dict of fields or a Reject reason)


# --- formats -------------------------------------------------------------------------------


class JsonRecords:
    """JSON Lines, one object a line; or, when the input starts with `[`, one JSON list."""

    def __init__(self) -> None:
        self._list: list[tuple[int, str]] | None = None
        self._started = False

    def reset(self) -> None:
        self.__init__()

    def feed(self, lines: Iterable[tuple[int, str]]) -> Iterator[Record]:
        for number, text in lines:
            if self._list is not None:
                self._list.append((number, text))
                continue
            stripped = text.strip()
            if not stripped:
                continue
            if not self._started:
                self._started = True
                if stripped.startswith("["):
                    self._list = [(number, text)]
                    continue
            try:
                value = json.loads(stripped)
            except ValueError as exc:
                yield number, text, f"not JSON ({_json_problem(exc)})"
                continue
            yield number, text, value

    def finish(self) -> Iterator[Record]:
        """At the end of the input: the elements of a JSON list, each with its line."""
        if self._list:
            yield from _json_list(self._list)
        self._list = None


def _json_list(lines: list[tuple[int, str]]) -> Iterator[Record]:
    starts, text, offset = [], [], 0
    for number, line in lines:
        starts.append((offset, number))
        text.append(line)
        offset += len(line) + 1
    whole = "\n".join(text)
    decoder = json.JSONDecoder()

    def line_at(position: int) -> int:
        low, high = 0, len(starts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if starts[middle][0] <= position:
                low = middle
            else:
                high = middle - 1
        return starts[low][1]

    position = whole.index("[") + 1
    while True:
        position = _skip_space(whole, position)
        if position >= len(whole) or whole[position] == "]":
            return
        try:
            value, end = decoder.raw_decode(whole, position)
        except ValueError as exc:
            line = line_at(position)
            end = whole.find("\n", position)
            yield line, whole[position : end if end >= 0 else None], f"not JSON ({exc.msg})"
            # Carry on at the next element that starts a line, as `log --json` writes them.
            found = re.compile(r",\s*\n\s*(?=\{)").search(whole, position)
            if not found:
                return
            position = found.end()
            continue
        yield line_at(position), whole[position:end], value
        position = _skip_space(whole, end)
        if position < len(whole) and whole[position] == ",":
            position += 1


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def _json_problem(exc: ValueError) -> str:
    return getattr(exc, "msg", None) or str(exc)


class CsvRecords:
    """CSV with a header row naming the columns (those of `log --csv`); a quoted field may
    span lines. A new file (rotation, truncation) starts with its header again."""

    REQUIRED = ("at", "org", "level", "message")

    def __init__(self, name: str) -> None:
        self.name = name
        self._header: list[str] | None = None
        self._pending: list[str] = []
        self._first = 0

    def reset(self) -> None:
        self.__init__(self.name)

    def feed(self, lines: Iterable[tuple[int, str]]) -> Iterator[Record]:
        for number, text in lines:
            if not self._pending:
                if not text.strip():
                    continue
                self._first = number
            self._pending.append(text)
            record = "\n".join(self._pending)
            if record.count('"') % 2:  # a quoted field goes on to the next line
                continue
            self._pending = []
            yield from self._record(self._first, record)

    def finish(self) -> Iterator[Record]:
        if self._pending:
            record, self._pending = "\n".join(self._pending), []
            yield self._first, record, "unterminated quoted field"

    def _record(self, number: int, record: str) -> Iterator[Record]:
        try:
            cells = next(csv.reader([record]))
        except csv.Error as exc:
            yield number, record, f"not CSV ({exc})"
            return
        if self._header is None:
            header = [c.strip().lower() for c in cells]
            missing = [c for c in self.REQUIRED if c not in header]
            if missing:
                raise InputUnreadable(
                    f"{self.name}:{number}: the CSV header has no {', '.join(missing)} column; "
                    "the first line must name the columns, as `syncdesk log --csv` writes them."
                )
            self._header = header
            return
        if len(cells) != len(self._header):
            yield number, record, f"{len(cells)} cells where the header names {len(self._header)}"
            return
        yield (
            number,
            record,
            {k: (v if v != "" else None) for k, v in zip(self._header, cells, strict=True)},
        )


# --- checking ------------------------------------------------------------------------------


class RowChecker:
    """Turns parsed fields into a Row or a reason to reject them."""

    def __init__(self, db: sqlite_utils.Database, source: str, classify) -> None:
        self.db = db
        self.source = source
        self.classify = classify
        self.latest = iso(clock.now() + FUTURE_SLACK)
        self._orgs: dict[str, int] = {}
        self._missing: set[str] = set()
        self._seen: dict[str, int] = {}  # hash -> identical rows so far (in this file)
        self._load_orgs()

    def new_file(self) -> None:
        """A rotated or truncated file: identical-row counts start again with it."""
        self._seen.clear()

    def _load_orgs(self) -> None:
        rows = self.db.execute("SELECT upper(code), id FROM orgs").fetchall()
        self._orgs = dict(rows)
        self._missing.clear()

    def org_id(self, code: str) -> int | None:
        found = self._orgs.get(code.upper())
        if found is None and code.upper() not in self._missing:
            self._load_orgs()  # imported since we looked?
            found = self._orgs.get(code.upper())
            if found is None:
                self._missing.add(code.upper())
        return found

    def check(self, number: int, fields: object) -> Row | str:
        """A Row, or why the line is rejected."""
        if not isinstance(fields, dict):
            return "not a JSON object"
        at = fields.get("at")
        if not isinstance(at, str):
            return "no `at` time" if at is None else f"bad `at` time {at!r}"
        stamp = store_time(at)
        if stamp is None:
            return f"bad `at` time {at!r} (want ISO 8601, e.g. 2026-11-24T09:30:00Z)"
        if stamp > self.latest:
            self.latest = iso(clock.now() + FUTURE_SLACK)  # a long follow: time has moved on
            if stamp > self.latest:
                return f"`at` {stamp} is in the future"
        org = fields.get("org")
        if not isinstance(org, str) or not org:
            return "no `org`"
        oid = self.org_id(org)
        if oid is None:
            return f"unknown organisation {org!r}"
        level = fields.get("level")
        level = level.lower() if isinstance(level, str) else level
        if level not in LEVELS:
            return f"bad `level` {fields.get('level')!r} (want error or info)"
        message = fields.get("message")
        if not isinstance(message, str) or not message:
            return "no `message`"
        document = _text(fields.get("document"))
        correlation = _text(fields.get("correlation_id"))
        if document is False or correlation is False:
            return "`document` and `correlation_id` must be text"
        row_id = fields.get("id")
        if row_id is None or row_id == "":
            key = self._hash(stamp, org.upper(), level, document, message, correlation)
            source, row_id = HASH_SOURCE, None
        elif isinstance(row_id, (int, str)) and not isinstance(row_id, bool):
            key, source = str(row_id), self.source
        else:
            return f"bad `id` {row_id!r}"
        kind = self.classify.classify(message, level)
        return Row(
            stamp,
            oid,
            level,
            document,
            message,
            kind,
            correlation,
            source,
            key,
            number,
            org,
            row_id,
        )

    def _hash(self, *fields: str | None) -> str:
        digest = hashlib.blake2b(
            "\x1f".join(f or "" for f in fields).encode("utf-8", "surrogatepass"), digest_size=16
        ).hexdigest()
        seen = self._seen.get(digest, 0) + 1
        self._seen[digest] = seen
        return f"{digest}#{seen}" if seen > 1 else digest


def store_time(text: str) -> str | None:
    """An ISO 8601 time as the store writes it (UTC, whole seconds), or None if it is not one."""
    if _STORE_TIME.fullmatch(text):
        try:
            datetime.fromisoformat(text[:19])
        except ValueError:
            return None
        return text
    if "T" not in text and " " not in text.strip():
        return None  # a date alone is not a time of day
    try:
        return iso(parse(text))
    except (ValueError, OverflowError):
        return None


def _text(value: object) -> str | None | bool:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return False
