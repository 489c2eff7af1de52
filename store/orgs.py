"""Organisations and their integrations: the list, and everything about one."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from store import clock
from store.badvalues import load_settings, text_of
from store.enums import State
from store.errors import InvalidQuery, UnknownOrganisation
from store.models import Mapping, OrgDetail, OrgSummary
from store.schema import QUEUE_STATUSES, STATES
from store.timeparse import day, iso, stored_time

TREND_DAYS = 7

# Errors in the last 24 hours per organisation come from the (level, at, org_id) index alone.
_LIST_SQL = """
SELECT o.id, o.code, o.name, o.region, i.state, i.tenant_name, i.last_export_at,
       i.refresh_expires_at, i.version, coalesce(e.n, 0) AS errors_24h,
       coalesce(q.held, 0) AS held, coalesce(q.failed, 0) AS failed, r.claimed_by
FROM orgs o
JOIN integrations i ON i.org_id = o.id
LEFT JOIN (SELECT org_id, count(*) AS n FROM log
           WHERE level = 'error' AND at >= :since GROUP BY org_id) e ON e.org_id = o.id
LEFT JOIN (SELECT org_id, sum(status = 'held') AS held, sum(status = 'failed') AS failed
           FROM queue WHERE status IN ('held', 'failed') GROUP BY org_id) q ON q.org_id = o.id
LEFT JOIN runs r ON r.org_id = o.id AND r.status = 'in_progress'
WHERE (:state IS NULL OR i.state = :state)
  AND (:pattern IS NULL OR o.code LIKE :pattern ESCAPE '\\' OR o.name LIKE :pattern ESCAPE '\\'
       OR i.tenant_name LIKE :pattern ESCAPE '\\')
ORDER BY o.code
"""


def like_pattern(text: str | None) -> str | None:
    """A LIKE pattern matching text anywhere, with % and _ taken literally."""
    if not text:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_orgs(
    db: sqlite_utils.Database,
    *,
    state: str | None = None,
    search: str | None = None,
    now: datetime | None = None,
) -> list[OrgSummary]:
    """Every organisation (optionally one state, or matching text in code, name or tenant).

    Raises InvalidQuery for an unknown state.
    """
    if state is not None and state not in STATES:
        raise InvalidQuery(f"Unknown state {state!r}; choose one of {', '.join(STATES)}.")
    moment = now or clock.now()
    since = iso(moment - timedelta(hours=24))
    rows = db.execute(
        _LIST_SQL, {"since": since, "state": state, "pattern": like_pattern(search)}
    ).fetchall()
    days = [day(moment - timedelta(days=n)) for n in range(TREND_DAYS)][::-1]
    trends: dict[int, dict[str, int]] = {}
    for oid, on_day, count in db.execute(
        "SELECT org_id, day, sum(count) FROM error_stats WHERE day >= ? GROUP BY org_id, day",
        [days[0]],
    ):
        trends.setdefault(oid, {})[on_day] = count
    return [
        OrgSummary(
            code=r["code"],
            name=text_of(r["name"]),
            state=State(r["state"]),
            tenant_name=text_of(r["tenant_name"]),
            errors_24h=r["errors_24h"],
            last_export_at=r["last_export_at"],
            region=r["region"],
            held=r["held"],
            failed=r["failed"],
            auth=auth_health(r["state"], r["refresh_expires_at"], moment),
            trend=tuple(trends.get(r["id"], {}).get(d, 0) for d in days),
            claimed_by=r["claimed_by"],
            version=r["version"],
        )
        for r in rows
    ]


def auth_health(state: State, refresh_expires_at: str | None, now: datetime) -> str:
    """How the Xero authorisation looks: ok, expiring (within a week), expired, removed, -."""
    if state == State.UNINSTALLED:
        return "-"
    if state == State.DISCONNECTED:
        return "removed"
    if not refresh_expires_at:
        return "expired"
    expires = stored_time(refresh_expires_at)
    if expires is None:
        return "?"  # the stored expiry is not a time
    if expires <= now:
        return "expired"
    return "expiring" if expires - now < timedelta(days=7) else "ok"


def org_id(db: sqlite_utils.Database, code: str) -> int:
    """The id of the organisation with this code (case-insensitive).

    Raises UnknownOrganisation.
    """
    row = db.execute("SELECT id FROM orgs WHERE code = ? COLLATE NOCASE", [code]).fetchone()
    if row is None:
        raise UnknownOrganisation(code)
    return row[0]


def configuration(conn: sqlite3.Connection, oid: int) -> tuple[dict[str, Any], tuple[Mapping, ...]]:
    """The organisation's settings (key -> value) and mappings, as `show` lists them and a
    snapshot keeps them."""
    settings = load_settings(
        conn.execute("SELECT key, value FROM settings WHERE org_id = ? ORDER BY key", [oid])
    )
    mappings = tuple(
        Mapping(*r)
        for r in conn.execute(
            "SELECT kind, local, remote FROM mappings WHERE org_id = ? ORDER BY kind, local", [oid]
        )
    )
    return settings, mappings


def show_org(db: sqlite_utils.Database, code: str, *, now: datetime | None = None) -> OrgDetail:
    """Everything about one organisation's integration: state, tenant, settings, mappings, queue.

    Raises UnknownOrganisation.
    """
    oid = org_id(db, code)
    row = db.execute(
        "SELECT o.code, o.name, o.region, i.* FROM orgs o JOIN integrations i ON i.org_id = o.id "
        "WHERE o.id = ?",
        [oid],
    ).fetchone()
    settings, mappings = configuration(db.conn, oid)
    queue = dict.fromkeys(QUEUE_STATUSES, 0)
    queue.update(
        db.execute(
            "SELECT status, count(*) FROM queue WHERE org_id = ? GROUP BY status", [oid]
        ).fetchall()
    )
    since = iso((now or clock.now()) - timedelta(hours=24))
    errors = db.execute(
        "SELECT count(*) FROM log WHERE level = 'error' AND at >= ? AND org_id = ?", [since, oid]
    ).fetchone()[0]
    return OrgDetail(
        code=row["code"],
        name=text_of(row["name"]),
        region=row["region"],
        state=State(row["state"]),
        tenant_id=row["tenant_id"],
        tenant_name=text_of(row["tenant_name"]),
        version=row["version"],
        state_changed_at=row["state_changed_at"],
        updated_at=row["updated_at"],
        updated_by=row["updated_by"],
        token_expires_at=row["token_expires_at"],
        refresh_expires_at=row["refresh_expires_at"],
        last_export_at=row["last_export_at"],
        settings=settings,
        mappings=mappings,
        queue=queue,
        errors_24h=errors,
        previous_tenant_id=row["previous_tenant_id"],
        previous_tenant_name=text_of(row["previous_tenant_name"]),
        tenant_confirmed_by=row["tenant_confirmed_by"],
    )


AUTHS = ("ok", "expiring", "expired", "removed")


@dataclass(frozen=True)
class OrgMatch:
    """What a dashboard filter found: the organisations matching every word, and each word
    that matched no organisation on its own (to say which part of the filter found nothing)."""

    orgs: list[OrgSummary]
    unmatched: tuple[str, ...]


def _word_matches(word: str, org: OrgSummary) -> bool:
    """One filter word against one organisation, case-insensitively: state:X and auth:X
    exactly (a prefix), a bare word as a state or auth prefix or text in code, name, tenant."""
    key, colon, value = word.lower().partition(":")
    if colon and key == "state":
        return bool(value) and str(org.state).startswith(value)
    if colon and key == "auth":
        return bool(value) and org.auth.startswith(value)
    text = word.lower()
    if str(org.state).startswith(text) or (len(text) > 1 and org.auth.startswith(text)):
        return True
    return any(
        text in str(text_of(value) or "").lower() for value in (org.code, org.name, org.tenant_name)
    )


def find_orgs(db: sqlite_utils.Database, text: str, *, now: datetime | None = None) -> OrgMatch:
    """The organisations a typed filter finds ('kauri', 'expired', 'inact', 'state:active
    auth:expiring'): every word must match; matching ignores case.

    Raises InvalidQuery for state:X naming no state.
    """
    words = text.split()
    for word in words:
        key, colon, value = word.lower().partition(":")
        if colon and key == "state" and value and not any(s.startswith(value) for s in STATES):
            raise InvalidQuery(f"Unknown state {value!r}; choose one of {', '.join(STATES)}.")
    everyone = list_orgs(db, now=now)
    found = [o for o in everyone if all(_word_matches(w, o) for w in words)]
    unmatched = tuple(w for w in words if not any(_word_matches(w, o) for o in everyone))
    return OrgMatch(found, unmatched)
