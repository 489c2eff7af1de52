"""Organisations and their integrations: the list, and everything about one."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from store import clock
from store.badvalues import load_settings, text_of
from store.enums import State
from store.errors import InvalidQuery, UnknownOrganisation
from store.models import Mapping, OrgDetail, OrgSummary, Pause
from store.schema import QUEUE_STATUSES, STATES
from store.timeparse import day, iso, stored_time

if TYPE_CHECKING:
    import sqlite_utils

TREND_DAYS = 7

# Errors in the last 24 hours per organisation come from the (level, at, org_id) index alone.
_LIST_SQL = """
SELECT o.id, o.code, o.name, o.region, i.state, i.tenant_name, i.last_export_at,
       i.refresh_expires_at, i.version, i.scopes, coalesce(e.n, 0) AS errors_24h,
       coalesce(q.held, 0) AS held, coalesce(q.failed, 0) AS failed, r.claimed_by,
       i.state_changed_at, p.due_at AS pause_due_at
FROM orgs o
JOIN integrations i ON i.org_id = o.id
LEFT JOIN pauses p ON p.org_id = o.id
LEFT JOIN (SELECT org_id, count(*) AS n FROM log INDEXED BY log_level_at_org
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


# Xero's broad transaction scopes, replaced by granular ones (accounting.invoices,
# accounting.payments, ...): apps created from 2 March 2026 cannot ask for them, and older apps
# must move by September 2027, which takes each customer's fresh consent.
DEPRECATED_SCOPES = frozenset({"accounting.transactions", "accounting.transactions.read"})
RECONSENT_BY = "September 2027"


def needs_reconsent(state: str, scopes: str | None) -> bool:
    """Whether the integration still runs on the deprecated broad scopes (and is installed)."""
    if state == State.UNINSTALLED or not isinstance(scopes, str):
        return False
    return not DEPRECATED_SCOPES.isdisjoint(scopes.split())


def reconsent_due(db: sqlite_utils.Database, current: Any) -> bool:
    """needs_reconsent for a store.models.Integration, reading its granted scopes."""
    row = db.execute("SELECT scopes FROM integrations WHERE org_id = ?", [current.org_id])
    found = row.fetchone()
    return needs_reconsent(current.state, found[0] if found else None)


def reconsent_advice(code: str) -> tuple[str, str]:
    """The cause and fix a diagnosis gives for an integration on the deprecated scopes."""
    return (
        "The integration was authorised with Xero's deprecated broad scope "
        f"accounting.transactions, which Xero retires in {RECONSENT_BY}; after that its "
        "exports stop.",
        f"Reconnect with fresh consent before {RECONSENT_BY}: `syncdesk reconnect {code} "
        "--auth-url` (the customer allows the granular scopes), then --redirect-url.",
    )


def list_orgs(
    db: sqlite_utils.Database,
    *,
    state: str | None = None,
    search: str | None = None,
    now: datetime | None = None,
    reconsent: bool | None = None,
) -> list[OrgSummary]:
    """Every organisation (optionally one state, or matching text in code, name or tenant;
    `reconsent` True: only those still on the deprecated scopes, False: only the others).

    Raises InvalidQuery for an unknown state.
    """
    if state is not None and state not in STATES:
        raise InvalidQuery(f"Unknown state {state!r}; choose one of {', '.join(STATES)}.")
    moment = now or clock.now()
    since = iso(moment - timedelta(hours=24))
    # Plain tuples (no sqlite3.Row per row): 5,000 organisations and 38k day buckets at 1M
    # rows, where building Rows and looking columns up by name was half the time.
    cursor = db.conn.cursor()
    cursor.row_factory = None
    rows = cursor.execute(
        _LIST_SQL, {"since": since, "state": state, "pattern": like_pattern(search)}
    ).fetchall()
    days = [day(moment - timedelta(days=n)) for n in range(TREND_DAYS)][::-1]
    column = {d: i for i, d in enumerate(days)}
    trends: dict[int, list[int]] = {}
    for oid, on_day, count in cursor.execute(
        "SELECT org_id, day, sum(count) FROM error_stats WHERE day >= ? GROUP BY org_id, day",
        [days[0]],
    ):
        if on_day in column:
            trends.setdefault(oid, [0] * TREND_DAYS)[column[on_day]] = count
    cursor.close()
    none = (0,) * TREND_DAYS
    # _LIST_SQL's columns: id, code, name, region, state, tenant_name, last_export_at,
    # refresh_expires_at, version, scopes, errors_24h, held, failed, claimed_by, state_changed_at,
    # pause_due_at
    found = [
        OrgSummary(
            code=code,
            name=text_of(name),
            state=State(state_),
            tenant_name=text_of(tenant),
            errors_24h=errors,
            last_export_at=last_export,
            region=region,
            held=held,
            failed=failed,
            auth=auth_health(state_, refresh, moment),
            trend=tuple(trends[oid]) if oid in trends else none,
            claimed_by=claimed_by,
            version=version,
            overdue=overdue(state_, changed_at, pause_due_at, moment),
            needs_reconsent=needs_reconsent(state_, scopes),
        )
        for (
            oid,
            code,
            name,
            region,
            state_,
            tenant,
            last_export,
            refresh,
            version,
            scopes,
            errors,
            held,
            failed,
            claimed_by,
            changed_at,
            pause_due_at,
        ) in rows
    ]
    if reconsent is None:
        return found
    return [o for o in found if o.needs_reconsent == reconsent]


OVERDUE_WITHOUT_DUE = timedelta(hours=24)


def overdue(state: str, since: str | None, due_at: str | None, now: datetime) -> bool:
    """Whether an inactive integration was left off too long: past the due time its pause
    gave (`deactivate --until`), or 24 h after it was switched off when none was given."""
    if state != State.INACTIVE:
        return False
    due = stored_time(due_at)
    if due is None:
        off = stored_time(since)
        if off is None:
            return False
        due = off + OVERDUE_WITHOUT_DUE
    return now > due


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
    moment = now or clock.now()
    since = iso(moment - timedelta(hours=24))
    pause = _pause(db, oid) if row["state"] == State.INACTIVE else None
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
        pause_reason=text_of(pause.reason) if pause else None,
        pause_due_at=pause.due_at if pause else None,
        paused_by=pause.paused_by if pause else None,
        overdue=overdue(
            row["state"], row["state_changed_at"], pause.due_at if pause else None, moment
        ),
    )


def pause_of(db: sqlite_utils.Database, org: str) -> Pause | None:
    """Why and until when the integration was last paused (None if never, or not recorded).

    Raises UnknownOrganisation.
    """
    return _pause(db, org_id(db, org))


def _pause(db: sqlite_utils.Database, oid: int) -> Pause | None:
    row = db.execute(
        "SELECT reason, due_at, paused_at, paused_by FROM pauses WHERE org_id = ?", [oid]
    ).fetchone()
    return Pause(*row) if row else None


AUTHS = ("ok", "expiring", "expired", "removed")


@dataclass(frozen=True)
class OrgMatch:
    """What a dashboard filter found: the organisations matching every word, and each word
    that matched no organisation on its own (to say which part of the filter found nothing)."""

    orgs: list[OrgSummary]
    unmatched: tuple[str, ...]


RECONSENT = "reconsent"  # the filter word for integrations on Xero's deprecated scopes


def _match_key(org: OrgSummary) -> tuple[str, str, str, bool]:
    """What a filter word is matched against, lower-cased once per organisation: its state, its
    auth health, its code, name and tenant (one per line: a word never spans two), and whether
    it needs Xero's re-consent."""
    texts = (text_of(value) or "" for value in (org.code, org.name, org.tenant_name))
    text = "\n".join(str(t) for t in texts).lower()
    return str(org.state), org.auth, text, bool(org.needs_reconsent)


def _word_matches(word: str, key: tuple[str, str, str, bool]) -> bool:
    """One lower-cased filter word against one organisation's match key: state:X and auth:X
    as a prefix of the state or auth health, "reconsent" as the need for Xero's re-consent, a
    bare word as a state or auth prefix or text in code, name or tenant."""
    state, auth, text, reconsent = key
    if word == RECONSENT:
        return reconsent
    field, colon, value = word.partition(":")
    if colon and field == "state":
        return bool(value) and state.startswith(value)
    if colon and field == "auth":
        return bool(value) and auth.startswith(value)
    return state.startswith(word) or (len(word) > 1 and auth.startswith(word)) or word in text


def find_orgs(orgs: list[OrgSummary], text: str) -> OrgMatch:
    """The organisations already listed (list_orgs) that a typed filter finds ('kauri',
    'expired', 'inact', 'state:active auth:expiring'): every word must match; matching ignores
    case. In memory, with no store query: the console filters as you type over the rows it
    loaded (5,000 organisations in a few ms) instead of asking the store again on every key
    (250 ms at 1M log rows). The order of `orgs` is kept.

    Raises InvalidQuery for state:X naming no state.
    """
    typed = text.split()
    words = [w.lower() for w in typed]
    for word in words:
        field, colon, value = word.partition(":")
        if colon and field == "state" and value and not any(s.startswith(value) for s in STATES):
            raise InvalidQuery(f"Unknown state {value!r}; choose one of {', '.join(STATES)}.")
    if not words:
        return OrgMatch(list(orgs), ())
    keys = [_match_key(o) for o in orgs]
    hits = [[_word_matches(w, k) for k in keys] for w in words]
    found = [o for i, o in enumerate(orgs) if all(hit[i] for hit in hits)]
    unmatched = tuple(w for w, hit in zip(typed, hits, strict=True) if not any(hit))
    return OrgMatch(found, unmatched)
