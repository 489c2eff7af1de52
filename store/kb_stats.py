"""How the knowledge base fares against the log: how many rows each entry explained, and which
error messages no entry explains yet, grouped by shape, so a team knows what to write next.

Both read the log through its `kind` index, bounded by row id (ids follow time, see
store/schema.py), so they cost the classified rows of the period, not the whole log.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from store.kb import UNKNOWN, knowledge
from store.models import KnowledgeEntry, to_json

if TYPE_CHECKING:
    import sqlite_utils

# What varies between two occurrences of one error: ids, addresses, numbers. Masked in this
# order (a UUID holds digits; an e-mail address may).
_MASKS = (
    (
        re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
        "{uuid}",
    ),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "{email}"),
    (re.compile(r"\b(?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{16,}\b", re.I), "{id}"),
    (re.compile(r"\d+(?:[.,:]\d+)*"), "{n}"),
)


@dataclass(frozen=True, slots=True)
class EntryUse:
    """A knowledge-base entry and how many log rows it explained in the period."""

    entry: KnowledgeEntry
    matched: int

    def to_json(self) -> dict[str, Any]:
        return {**to_json(self.entry), "matched_7d": self.matched}


@dataclass(frozen=True, slots=True)
class UnmatchedShape:
    """Error messages of one shape that no knowledge-base entry explains."""

    shape: str
    example: str  # the most recent message of this shape
    count: int
    orgs: int
    first_at: str
    last_at: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def shape(message: str) -> str:
    """The message with its ids, addresses and numbers masked: what two occurrences share."""
    for pattern, mask in _MASKS:
        message = pattern.sub(mask, message)
    return message


def first_id_since(db: sqlite_utils.Database, since: str) -> int | None:
    """The id of the first log row at or after `since` (None: no row is that recent)."""
    row = db.execute(
        "SELECT id FROM log INDEXED BY log_at WHERE at >= ? ORDER BY at, id LIMIT 1", [since]
    ).fetchone()
    return row[0] if row else None


def knowledge_use(db: sqlite_utils.Database, *, since: str) -> list[EntryUse]:
    """Every knowledge-base entry, in match order, with the rows it explained since `since`."""
    low = first_id_since(db, since)
    counts: dict[str, int] = {}
    if low is not None:
        counts = dict(
            db.execute(
                "SELECT kind, count(*) FROM log INDEXED BY log_kind "
                "WHERE kind IS NOT NULL AND id >= ? GROUP BY kind",
                [low],
            ).fetchall()
        )
    return [EntryUse(entry, counts.get(entry.kind, 0)) for entry in knowledge(db)]


def unmatched(db: sqlite_utils.Database, *, since: str) -> list[UnmatchedShape]:
    """Errors no entry explains since `since`, grouped by shape, the most frequent first."""
    low = first_id_since(db, since)
    if low is None:
        return []
    groups: dict[str, list[Any]] = {}
    for at, org_id, message in db.execute(
        "SELECT at, org_id, message FROM log INDEXED BY log_kind "
        "WHERE kind = ? AND level = 'error' AND id >= ? ORDER BY id",
        [UNKNOWN, low],
    ):
        key = shape(message)
        group = groups.get(key)
        if group is None:
            groups[key] = [message, 1, {org_id}, at, at]
        else:
            group[0] = message
            group[1] += 1
            group[2].add(org_id)
            group[4] = at
    found = [
        UnmatchedShape(key, example, count, len(orgs), first, last)
        for key, (example, count, orgs, first, last) in groups.items()
    ]
    found.sort(key=lambda s: (-s.count, s.shape))
    return found
