"""What every organisation-level Xero room shares: the client session, the stored integration
row, error logging and the knowledge-base fix for a kind of problem.

Each failed Xero call becomes one error row in the connection log in the wording the knowledge
base recognises, with Xero's correlation id (`log_error`); no function in these rooms calls Xero
while holding a write transaction, because the sandbox writes to the same file from its own
connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.enums import Level
from store.errors import XeroError
from store.kb import knowledge_by_kind
from store.logs import record_once
from store.schema import QUEUE_STATUSES
from store.timeparse import stored_time
from store.xero.client import XeroClient
from store.xero.config import client_from_env

if TYPE_CHECKING:
    import sqlite_utils


def parse_time(stamp: str | None) -> datetime | None:
    """A store time as an aware datetime; None for none, or for a value that is not a time."""
    return stored_time(stamp)


@contextmanager
def session(db: sqlite_utils.Database, client: XeroClient | None) -> Iterator[XeroClient]:
    """The caller's client, or one from the environment that is closed afterwards."""
    if client is not None:
        yield client
        return
    own = client_from_env(db)
    try:
        yield own
    finally:
        own.close()


def log_error(
    db: sqlite_utils.Database, org: str, exc: XeroError, *, document: str | None = None
) -> None:
    """One error row per failure, however many layers see it go by; and the same failure seen
    again within an hour (another check, another look) is not written again."""
    if getattr(exc, "logged", False):
        return
    record_once(
        db, org, Level.ERROR, exc.log_message, document=document, correlation_id=exc.correlation_id
    )
    exc.logged = True  # type: ignore[attr-defined]


def fix_for(db: sqlite_utils.Database, kind: str | None) -> str | None:
    """The knowledge base's fix for a kind of problem, if it has one."""
    entry = knowledge_by_kind(db).get(kind or "")
    return entry.fix if entry else None


def integration_row(db: sqlite_utils.Database, oid: int) -> dict[str, Any]:
    """The integration, its organisation code and stored tokens; {} when there is none."""
    row = db.execute(
        "SELECT i.*, o.code, c.access_token, c.refresh_token FROM integrations i "
        "JOIN orgs o ON o.id = i.org_id LEFT JOIN credentials c ON c.org_id = i.org_id "
        "WHERE i.org_id = ?",
        [oid],
    ).fetchone()
    return dict(row) if row is not None else {}


def queue_counts(db: sqlite_utils.Database, oid: int) -> dict[str, int]:
    """How many of the organisation's exports are in each queue status."""
    counts = dict.fromkeys(QUEUE_STATUSES, 0)
    counts.update(
        db.execute(
            "SELECT status, count(*) FROM queue WHERE org_id = ? GROUP BY status", [oid]
        ).fetchall()
    )
    return counts
