"""Building a store: the demo store from sample_data/, or a large one with the same distributions.

The sample organisations are profiles. The demo store has one organisation per profile; a large
store (`--orgs N --log-rows M`) draws N organisations from the profiles (healthy ones most
often), gives each a generated name and its own Xero tenant, and scales every profile's log
rates so the week holds exactly M rows. Everything comes from one random.Random(seed): the
same seed and `now` give the same store.

The store is built in a temporary file of its own beside the target, under a lock that queues
concurrent builds, and renamed over it at the end, so a failed, cancelled or killed build never
leaves half a store (or destroys the old one); the store it replaces is kept as a timestamped
backup beside it, and the new one keeps its permissions (store/storefile.py).

Which organisations are made is store/generate_plan.py; their week of log rows,
store/generate_log.py; indexing the log on two threads (the FTS index beside the others),
store/generate_index.py.
"""

from __future__ import annotations

import gc
import json
import os
import random
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import Any

from store import clock, schema_log
from store import db as dbm
from store.enums import Level, QueueStatus, State, Transition
from store.generate_index import LogIndexer, spare_core
from store.generate_log import iso_fast, log_rows_for
from store.generate_plan import WEEK_HOURS, PlannedOrg, plan_orgs, random_uuid, scaled
from store.kb import Classifier, save_knowledge
from store.models import BuildReport
from store.sample import OrgProfile, load_knowledge, load_orgs
from store.sample_xero import TenantSpec, load_xero
from store.sample_yaml import sample_dir
from store.storefile import build_lock, keep_previous, temporary_path

Progress = Callable[[str, int, int], None]
BATCH = 50_000
DOC_TYPES = (
    ("sales_invoice", "SI-"),
    ("credit_note", "SC-"),
    ("bill", "PO-"),
    ("sales_journal", "SO-"),
    ("supplier_return", "SR-"),
)


def _iso(ts: float) -> str:
    return iso_fast(ts)  # time.strftime for 500,000 queue times cost a second


QUEUE_COLUMNS = (
    "org_id, doc_type, number, contact, amount, currency, status, attempts, last_error, "
    "created_at, updated_at, exported_at"
)


def _queue_rows(org: PlannedOrg, rng: random.Random, now: float) -> list[tuple]:
    """The organisation's export queue, as tuples of QUEUE_COLUMNS.

    rng.choice, uniform and randint are spelled out with the same draws and arithmetic
    (random.py's own), so a seed gives the same queue: 175,000 rows spent most of their time
    in those calls and in a dict per row.
    """
    p = org.profile
    first_error = next(
        (i.message.split("failed: ", 1)[-1] for i in p.incidents if i.level == Level.ERROR), None
    )
    lo = now - WEEK_HOURS * 3600
    end = now - max(p.until_hours, 0.5) * 3600
    span = end - lo
    below, draw, lognormal = rng._randbelow, rng.random, rng.lognormvariate  # type: ignore[attr-defined]
    org_id, currency, iso = org.id, org.tenant.currency, iso_fast
    rows = []
    for status, count in p.queue.items():
        exported, failed = status == QueueStatus.EXPORTED, status == QueueStatus.FAILED
        error = first_error if failed else None
        for _ in range(count):
            doc_type, prefix = DOC_TYPES[below(5)]  # rng.choice(DOC_TYPES)
            created = lo + span * draw()  # rng.uniform(lo, end)
            number = f"{prefix}{1000 + below(99999000):08d}"  # rng.randint(1000, 99999999)
            contact = f"Contact {1 + below(400)}"  # rng.randint(1, 400)
            amount = round(lognormal(6.5, 1.1), 2)
            tries = 1 + below(5)  # rng.randint(1, 5), drawn for every row
            attempts = 1 if exported else tries if failed else 0
            at = iso(created)
            if exported:
                done = iso(min(created + (5.0 + 595.0 * draw()), end))  # rng.uniform(5, 600)
                rows.append(
                    (org_id, doc_type, number, contact, amount, currency, status, attempts)
                    + (error, at, done, done)
                )
            else:
                rows.append(
                    (org_id, doc_type, number, contact, amount, currency, status, attempts)
                    + (error, at, at, None)
                )
    return rows


def _contacts(rng: random.Random, org: PlannedOrg) -> list[dict[str, str]]:
    domain = "".join(ch for ch in org.name.lower() if ch.isalnum())[:20] + ".example.com"
    made = [
        {
            "name": f"{w} {org.name.split()[0]}",
            "email": f"{w.lower()}@{domain}",
            "contact_number": f"CUST-{i:03d}",
        }
        for i, w in enumerate(("Accounts", "Orders", "Wholesale", "Retail"), 1)
    ]
    return made + list(org.tenant.contacts)


# --- the build -----------------------------------------------------------------------------------


def build_store(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    empty: bool = False,
    orgs: int | None = None,
    log_rows: int | None = None,
    seed: int = 1,
    now: datetime | None = None,
    progress: Progress | None = None,
    data_dir: Path | None = None,
) -> BuildReport:
    """Build a store at path from the sample data (or an empty one, or a large generated one).

    Raises StoreExists without force, SampleDataError for bad YAML (before touching path),
    StoreError when the file system refuses (the store there, if any, stays as it was).
    """
    started = time.perf_counter()
    path = Path(path)
    if path.exists() and not force:
        raise dbm.StoreExists(f"{path} already exists; pass --force to replace it.")
    if path.is_dir():
        raise dbm.StoreError(f"{path} is a directory; choose a file name for the store.")
    data_dir = data_dir or sample_dir()
    knowledge = load_knowledge(data_dir / "knowledge_base.yaml")
    tenants = load_xero(data_dir / "xero.yaml")
    profiles = load_orgs(tenants, data_dir / "orgs.yaml")
    report = progress or (lambda stage, done, total: None)

    def fill(db: Any) -> tuple[int, int]:
        save_knowledge(db, knowledge)
        if empty:
            return 0, 0
        rng = random.Random(seed)
        classify = Classifier(knowledge)
        return _fill(
            db, profiles, tenants, classify, orgs, log_rows, rng, now or clock.now(), report
        )

    meta = {"seed": str(seed), "source": "empty" if empty else ("generated" if orgs else "sample")}
    try:
        with build_lock(path):
            if path.exists() and not force:  # another build made it while this one waited
                raise dbm.StoreExists(f"{path} already exists; pass --force to replace it.")
            counts, backup = _build(path, fill, meta)
    except OSError as exc:  # a directory in the way, no space for the backup, permissions
        raise dbm.StoreError(
            f"Cannot build the store at {path} ({exc.strerror or exc}); the store there, if "
            "any, is unchanged."
        ) from exc
    extra = {"backup": str(backup)} if backup else {}
    return BuildReport(str(path), counts[0], counts[1], time.perf_counter() - started, extra)


def _build(
    path: Path, fill: Callable[[Any], tuple[int, int]], meta: dict[str, str]
) -> tuple[tuple[int, int], Path | None]:
    """Build in a temporary file of this build's own, then keep the old store as a backup
    (its permissions go to the new one) and rename the new one into its place."""
    tmp = temporary_path(path)
    db = dbm.create_store(tmp, force=True)
    try:
        counts = fill(db)
        for key, value in meta.items():
            dbm.set_meta(db, key, value)
        db.conn.execute("PRAGMA journal_mode = WAL")
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()
        backup = keep_previous(path, tmp)
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        db.conn.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
    return counts, backup


def _fill(
    db: Any,
    profiles: list[OrgProfile],
    tenants: dict[str, TenantSpec],
    classify: Classifier,
    n_orgs: int | None,
    log_rows: int | None,
    rng: random.Random,
    now_dt: datetime,
    report: Progress,
) -> tuple[int, int]:
    now = now_dt.replace(microsecond=0).timestamp()
    plan = scaled(plan_orgs(profiles, tenants, n_orgs, rng), log_rows)
    conn = db.conn
    # The file is private until renamed into place, so durability can wait for the end: no
    # journal while the organisations are written, then WAL while the log is loaded if a second
    # thread reads each committed batch for the FTS index (store/generate_index.py). A 64 MB
    # page cache holds an index's sort (the million rows themselves are in Python's memory
    # meanwhile: a bigger cache only raised the peak, to 750 MB), and a second sorter thread
    # builds the organisation indexes in a third of the time (indexes 9.5 -> 4.2 s).
    # build_store checkpoints the WAL before renaming the store into place.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA threads = 2")
    conn.execute("BEGIN")
    _write_orgs(db, plan, rng, now, report)
    # A million new tuples, none in a cycle: the cyclic collector would walk them again and
    # again while they are made (a sixth of the time generating them).
    collecting = gc.isenabled()
    gc.disable()
    try:
        rows = [row for org in plan for row in log_rows_for(org, rng, now, classify)]
        if log_rows is not None:  # hit the requested size exactly
            rows = _exact(rows, log_rows, rng, plan, now, classify)
        rows.sort(key=itemgetter(0))
    finally:
        if collecting:
            gc.enable()
    schema_log.drop_log_indexes(conn)
    conn.execute("COMMIT")
    count = len(rows)
    # A second thread indexes each batch as it is committed, when a core is free for it.
    with LogIndexer(conn, threaded=spare_core()) as indexer:
        for start in range(0, count, BATCH):
            conn.execute("BEGIN")
            conn.executemany(INSERT_LOG, rows[start : start + BATCH])
            conn.execute("COMMIT")
            indexer.committed()
            report("log", min(start + BATCH, count), count)
        # A million tuples no longer needed (freed in time order, not in the order they were
        # made, Python keeps most of their memory: docs/benchmarks.md, "Session 3").
        del rows
        report("indexes", 0, 1)
        indexer.finish()
    report("indexes", 1, 1)
    return len(plan), count


# The rows go in as generated, (time as a float, org id, level, document, message, kind,
# correlation id): SQLite writes the time as text (whole seconds, as iso_fast does), which
# spares a new tuple and a Python format per row (a million of each: 1.8 s).
INSERT_LOG = (
    "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
    "VALUES (strftime('%Y-%m-%dT%H:%M:%SZ', CAST(? AS INTEGER), 'unixepoch'), ?, ?, ?, ?, ?, ?)"
)


def _exact(
    rows: list[tuple],
    target: int,
    rng: random.Random,
    plan: list[PlannedOrg],
    now: float,
    classify: Classifier,
) -> list[tuple]:
    if len(rows) > target:
        drop = set(rng.sample(range(len(rows)), len(rows) - target))
        return [row for i, row in enumerate(rows) if i not in drop]
    healthy = [o for o in plan if o.profile.until_hours == 0] or plan
    while len(rows) < target:
        org = rng.choice(healthy)
        extra = replace(org, profile=replace(org.profile, incidents=()), scale=1.0)
        rows.extend(list(log_rows_for(extra, rng, now, classify))[: target - len(rows)])
    return rows


def _insert(conn: Any, table: str, rows: list[dict[str, Any]]) -> None:
    # Plain executemany: sqlite-utils' insert_all inspects every value, ten times slower here.
    if rows:
        columns = list(rows[0])
        conn.executemany(
            f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
            [tuple(r[c] for c in columns) for r in rows],
        )


def _write_orgs(
    db: Any, plan: list[PlannedOrg], rng: random.Random, now: float, report: Progress
) -> None:
    seen_tenants: dict[str, TenantSpec] = {}
    contacts: dict[str, list[dict[str, str]]] = {}
    org_rows, integ, creds, settings, mappings, grants, audit, queue = ([] for _ in range(8))
    for i, org in enumerate(plan):
        p = org.profile
        org_rows.append(
            {
                "id": org.id,
                "code": org.code,
                "name": org.name,
                "region": p.region,
                "created_at": _iso(now - rng.uniform(200, 900) * 86400),
            }
        )
        for t in (org.tenant, org.previous_tenant, *org.other_tenants):
            if t is not None:
                seen_tenants.setdefault(t.id, t)
        contacts.setdefault(org.tenant.id, _contacts(rng, org))
        uninstalled = p.state == State.UNINSTALLED
        conn_id = random_uuid(rng)
        access, refresh = f"sbx-at-{random_uuid(rng)}", f"sbx-rt-{random_uuid(rng)}"
        access_exp = now + 25 * 60 if p.access_token == "valid" else now - 50 * 3600
        refresh_exp = now + 45 * 86400 if p.refresh_token == "valid" else now - 2 * 86400
        q = _queue_rows(org, rng, now)
        queue.extend(q)
        exported = [r[-1] for r in q if r[-1]]
        changed = now - (p.until_hours or rng.uniform(300, 2000)) * 3600
        integ.append(_integration_row(org, conn_id, access_exp, refresh_exp, exported, changed))
        if not uninstalled:
            creds.append({"org_id": org.id, "access_token": access, "refresh_token": refresh})
            settings.extend(
                {"org_id": org.id, "key": k, "value": json.dumps(v)} for k, v in p.settings.items()
            )
            mappings.extend(
                {"org_id": org.id, "kind": k, "local": loc, "remote": rem}
                for k, loc, rem in p.mappings
            )
        grants.append(_grant_row(org, rng, conn_id, (access, refresh), access_exp, changed))
        if p.state != State.ACTIVE:
            audit.append(_audit_row(org, changed))
        if i % 500 == 0:
            report("orgs", i, len(plan))
    for table, rows in (
        ("orgs", org_rows),
        ("integrations", integ),
        ("credentials", creds),
        ("settings", settings),
        ("mappings", mappings),
        ("sandbox_grants", grants),
        ("audit", audit),
    ):
        _insert(db.conn, table, rows)
    db.conn.executemany(f"INSERT INTO queue({QUEUE_COLUMNS}) VALUES ({', '.join('?' * 12)})", queue)
    known = {row[0] for row in db.conn.execute("SELECT tenant_id FROM sandbox_tenants")}
    _insert(
        db.conn,
        "sandbox_tenants",
        [
            {
                "tenant_id": t.id,
                "name": t.name,
                "region": t.region,
                "currency": t.currency,
                "accounts": json.dumps(t.accounts),
                "tax_rates": json.dumps(t.tax_rates),
                "contacts": json.dumps(contacts.get(t.id, list(t.contacts))),
                "behaviour": json.dumps(t.behaviour),
            }
            for t in seen_tenants.values()
            if t.id not in known  # `syncdesk import` adds organisations to a store with tenants
        ],
    )
    report("orgs", len(plan), len(plan))


# What each sample organisation's Xero user consented to: granular scopes, or (xero.scopes:
# broad in orgs.yaml) the broad accounting.transactions of apps from before March 2026.
GRANULAR_SCOPES = (
    "openid profile email offline_access accounting.settings accounting.contacts "
    "accounting.invoices accounting.payments accounting.manualjournals"
)
BROAD_SCOPES = (
    "openid profile email offline_access accounting.transactions accounting.contacts "
    "accounting.settings"
)


def _integration_row(
    org: PlannedOrg,
    conn_id: str,
    access_exp: float,
    refresh_exp: float,
    exported: list[str],
    changed: float,
) -> dict[str, Any]:
    p = org.profile
    uninstalled = p.state == State.UNINSTALLED
    previous = org.previous_tenant or (org.tenant if uninstalled else None)
    return {
        "org_id": org.id,
        "state": p.state,
        "tenant_id": None if uninstalled else org.tenant.id,
        "tenant_name": None if uninstalled else org.tenant.name,
        "connection_id": None if uninstalled else conn_id,
        "previous_tenant_id": previous.id if previous else None,
        "previous_tenant_name": previous.name if previous else None,
        "token_expires_at": None if uninstalled else _iso(access_exp),
        "refresh_expires_at": None if uninstalled else _iso(refresh_exp),
        "scopes": BROAD_SCOPES if p.scopes == "broad" else GRANULAR_SCOPES,
        "last_export_at": max(exported) if exported else None,
        "version": 1,
        "state_changed_at": _iso(changed),
        "updated_at": _iso(changed),
        "updated_by": "sample",
    }


def _grant_row(
    org: PlannedOrg,
    rng: random.Random,
    conn_id: str,
    tokens: tuple[str, str],
    access_exp: float,
    changed: float,
) -> dict[str, Any]:
    """What the sandbox granted this organisation: its tenants, connection and tokens."""
    p = org.profile
    uninstalled = p.state == State.UNINSTALLED
    access, refresh = tokens
    live = p.connection == "connected" and not uninstalled
    return {
        "org_id": org.id,
        "tenant_ids": json.dumps(sorted({t.id for t in (org.tenant, *org.other_tenants)})),
        "connections": json.dumps(
            [
                {
                    "id": conn_id,
                    "tenantId": org.tenant.id,
                    "tenantType": "ORGANISATION",
                    "tenantName": org.tenant.name,
                    "authEventId": random_uuid(rng),
                    "createdDateUtc": _iso(changed),
                    "updatedDateUtc": _iso(changed),
                }
            ]
            if live
            else []
        ),
        "refresh_token": refresh if p.refresh_token == "valid" and not uninstalled else None,
        "access_token": access if not uninstalled else None,
        "access_expires_at": _iso(access_exp),
    }


def _audit_row(org: PlannedOrg, changed: float) -> dict[str, Any]:
    """The transition that left a sample organisation in a state other than active."""
    state = org.profile.state
    return {
        "at": _iso(changed),
        "org_id": org.id,
        "actor": {State.INACTIVE: "m.tane", State.UNINSTALLED: "r.patel"}.get(state, "xero"),
        "action": {
            State.INACTIVE: Transition.DEACTIVATE,
            State.UNINSTALLED: Transition.UNINSTALL,
            State.DISCONNECTED: Transition.MARK_DISCONNECTED,
        }[state],
        "before_state": State.ACTIVE if state != State.UNINSTALLED else State.INACTIVE,
        "after_state": state,
        "detail": "recorded in the sample data",
    }
