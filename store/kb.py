"""The knowledge base of known connection-log errors: storing it, and classifying messages."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from store.enums import Level
from store.models import KnowledgeEntry, to_json

if TYPE_CHECKING:
    import sqlite_utils

UNKNOWN = "unknown"


def save_knowledge(db: sqlite_utils.Database, entries: list[KnowledgeEntry]) -> None:
    """Replace the stored knowledge base with these entries, keeping their match order."""
    db.execute("DELETE FROM kb")
    db["kb"].insert_all(
        {**to_json(e), "retryable": int(e.retryable), "position": i} for i, e in enumerate(entries)
    )


def knowledge(db: sqlite_utils.Database) -> list[KnowledgeEntry]:
    """Every known error, in match order."""
    rows = db.execute("SELECT * FROM kb ORDER BY position").fetchall()
    return [KnowledgeEntry.from_row(r) for r in rows]


def knowledge_by_kind(db: sqlite_utils.Database) -> dict[str, KnowledgeEntry]:
    return {e.kind: e for e in knowledge(db)}


class Classifier:
    """Finds the kind of a log message: the first knowledge-base pattern that matches."""

    def __init__(self, entries: list[KnowledgeEntry]) -> None:
        # Callers that classify the same template over and over (the generator) keep their
        # answers here: once per template instead of once per organisation and template.
        self.memo: dict[str, str | None] = {}
        self._patterns = tuple((re.compile(e.pattern, re.IGNORECASE), e.kind) for e in entries)

    def __call__(self, message: str) -> str | None:
        for pattern, kind in self._patterns:
            if pattern.search(message):
                return kind
        return None

    def classify(self, message: str, level: str) -> str | None:
        """The kind for a row: errors always get one (UNKNOWN if nothing matches)."""
        kind = self(message)
        return kind or (UNKNOWN if level == Level.ERROR else None)


@lru_cache(maxsize=8)
def _cached(entries: tuple[KnowledgeEntry, ...]) -> Classifier:
    return Classifier(list(entries))


def classifier(db: sqlite_utils.Database) -> Classifier:
    """A classifier over the store's knowledge base."""
    return _cached(tuple(knowledge(db)))
