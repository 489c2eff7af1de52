"""Building a store: the demo store from sample_data/, or a large one with the same distributions.

The sample organisations are profiles. The demo store has one organisation per profile; a large
store (`--orgs N --log-rows M`) draws N organisations from the profiles (healthy ones most
often), gives each a generated name and its own Xero tenant, and scales every profile's log
rates so the week holds exactly M rows. Everything comes from one random.Random(seed): the
same seed and `now` give the same store.

The store is built in a temporary file beside the target and renamed over it at the end, so
a failed or cancelled build never leaves half a store (or destroys the old one).
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from store import clock
from store import db as dbm
from store.kb import Classifier, save_knowledge
from store.models import BuildReport
from store.sample import (
    PLACEHOLDER,
    OrgProfile,
    TenantSpec,
    load_knowledge,
    load_orgs,
    load_xero,
    sample_dir,
)

Progress = Callable[[str, int, int], None]
WEEK_HOURS = 168.0
BATCH = 50_000

# Routine rows of a working integration: (weight, level, template).
INFO_TEMPLATES: tuple[tuple[int, str], ...] = (
    (40, "Exported Sales Invoice {SI} to Xero (InvoiceID {uuid})"),
    (15, "Synced customer {CUST}"),
    (12, "Exported Bill for Purchase Order {PO} to Xero (InvoiceID {uuid})"),
    (12, "Exported Sales Journal {SO} to Xero"),
    (6, "Exported Credit Note {SC} to Xero (CreditNoteID {uuid})"),
    (5, "Exported Stock Adjustment {SA} journal to Xero"),
    (5, "Synced supplier {SUPP}"),
    (3, "Purchase Cost {PO} exported as Draft; approve in Xero"),
    (1, "Imported {n} accounts from Xero"),
    (1, "Exported Supplier Return {SR} to Xero (CreditNoteID {uuid})"),
)
INFO_CUM_WEIGHTS = tuple(itertools.accumulate(w for w, _ in INFO_TEMPLATES))
DOC_PREFIX = {"SI": "SI-", "PO": "PO-", "SC": "SC-", "SO": "SO-", "SA": "SA-", "SR": "SR-"}
DOCUMENT_PLACEHOLDERS = frozenset([*DOC_PREFIX, "CUST", "SUPP"])
DOC_TYPES = (
    ("sales_invoice", "SI-"),
    ("credit_note", "SC-"),
    ("bill", "PO-"),
    ("sales_journal", "SO-"),
    ("supplier_return", "SR-"),
)
# A generated organisation's name: "<place> <trade> <suffix>".
PLACES = (
    "Harbour",
    "Kauri",
    "Southern",
    "Wattle",
    "Bright",
    "Thistle",
    "Ironbark",
    "Pacific",
    "Copper",
    "Green",
    "Tasman",
    "Meridian",
    "Rimu",
    "Totara",
    "Coastal",
    "Highland",
    "Riverside",
    "Summit",
    "Bluegum",
    "Manuka",
    "Otago",
    "Canterbury",
    "Coromandel",
    "Northern",
    "Westside",
    "Silver",
    "Golden",
    "Red Tussock",
    "Blackwood",
    "Moana",
    "Kowhai",
    "Pohutukawa",
    "Derwent",
    "Pennine",
    "Cotswold",
    "Yarra",
    "Hunter",
    "Swan",
)
TRADES = (
    "Coffee Roasters",
    "Outdoor Supply",
    "Brewing",
    "Homewares",
    "Pet Foods",
    "Cosmetics",
    "Engineering Supplies",
    "Nutrition",
    "Candles",
    "Garden Centre",
    "Bike Co",
    "Tea Company",
    "Wines",
    "Bakery Supplies",
    "Surf Shop",
    "Hardware",
    "Textiles",
    "Pharmacy",
    "Furniture",
    "Toys",
    "Electrical",
    "Seafoods",
    "Organics",
    "Skincare",
    "Kitchenware",
    "Saddlery",
    "Apparel",
    "Stationery",
)
SUFFIX = {
    "NZ": ("Ltd", "Limited", "Co"),
    "AU": ("Pty Ltd", "Pty Ltd", "Co"),
    "UK": ("Ltd", "Limited", "plc"),
}


@dataclass(frozen=True, slots=True)
class _Org:
    """One organisation to build: its profile, identity and tenants."""

    id: int
    code: str
    name: str
    profile: OrgProfile
    tenant: TenantSpec
    previous_tenant: TenantSpec | None
    other_tenants: tuple[TenantSpec, ...]
    scale: float


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@functools.lru_cache(maxsize=64)
def _day(days: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(days * 86400))


def _iso_fast(ts: float) -> str:
    """_iso for the million log rows: strftime once per day, arithmetic for the time."""
    days, seconds = divmod(int(ts), 86400)
    hours, rest = divmod(seconds, 3600)
    return f"{_day(days)}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


@functools.lru_cache(maxsize=256)
def _placeholders(template: str) -> tuple[str, ...]:
    return tuple(PLACEHOLDER.findall(template))


class _Renderer:
    """Fills a log template's placeholders with plausible document numbers and ids."""

    def __init__(self, rng: random.Random, org: _Org) -> None:
        self.rng = rng
        self.org = org
        base = rng.randint(100, 9000)
        self.counters = {k: base * (i + 1) for i, k in enumerate(DOC_PREFIX)}
        stem = "".join(ch for ch in org.code if ch.isalpha())[:4] or "CUST"
        self.customers = [f"{stem}{n:03d}" for n in range(1, 9)]
        self.suppliers = [f"SUP-{w}" for w in ("BEANCO", "GLASSWORKS", "PACKRITE", "FREIGHTCO")]

    def render(self, template: str) -> tuple[str, str | None]:
        """The message and the document it names (the first document number, if any)."""
        document = None
        out = template
        for name in _placeholders(template):
            value = self._value(name)
            if document is None and name in DOCUMENT_PLACEHOLDERS:
                document = value
            out = out.replace("{" + name + "}", value, 1)
        return out, document

    def _value(self, name: str) -> str:
        rng = self.rng
        if name in DOC_PREFIX:
            self.counters[name] += 1
            return f"{DOC_PREFIX[name]}{self.counters[name]:08d}"
        if name == "CUST":
            return rng.choice(self.customers)
        if name == "SUPP":
            return rng.choice(self.suppliers)
        if name == "uuid":
            return _uuid(rng)
        if name == "n":
            return str(rng.randint(5, 59))
        if name == "tenant":
            return self.org.tenant.id
        if name == "previous_tenant":
            return self.org.previous_tenant.id if self.org.previous_tenant else _uuid(rng)
        raise ValueError(name)


# --- planning ------------------------------------------------------------------------------------


def _profile_weight(p: OrgProfile) -> float:
    broken = any(i.level == "error" and i.per_day >= 1 or i.count for i in p.incidents) or (
        p.state != "active"
    )
    return 4.0 if broken else 100.0


def _expected_rows(p: OrgProfile) -> float:
    info = p.info_per_day * (WEEK_HOURS - p.until_hours) / 24
    return info + sum(
        i.count if i.count is not None else i.per_day * (i.since_hours - i.until_hours) / 24
        for i in p.incidents
    )


def _tenant_copy(rng: random.Random, spec: TenantSpec, name: str) -> TenantSpec:
    return replace(spec, key=f"gen-{spec.key}", id=_uuid(rng), name=name)


def _plan(
    profiles: list[OrgProfile], tenants: dict[str, TenantSpec], n: int | None, rng: random.Random
) -> list[_Org]:
    if n is None:
        return [
            _Org(
                i + 1,
                p.code,
                p.name,
                p,
                tenants[p.tenant],
                tenants[p.previous_tenant] if p.previous_tenant else None,
                tuple(tenants[t] for t in p.other_tenants),
                1.0,
            )
            for i, p in enumerate(profiles)
        ]
    weights = [_profile_weight(p) for p in profiles]
    shared = {t.key: t for t in tenants.values() if t.name.startswith("Demo Company")}
    orgs = []
    for i in range(n):
        p = rng.choices(profiles, weights)[0]
        place, trade = rng.choice(PLACES), rng.choice(TRADES)
        name = f"{place} {trade} {rng.choice(SUFFIX[p.region])}"
        code = f"{place.split()[0][:5].upper()}{i + 1:04d}"
        own = _tenant_copy(
            rng, tenants[p.tenant], name if rng.random() < 0.7 else f"{place} {trade}"
        )
        previous = others = None
        if p.previous_tenant:  # reconnected to a different (shared demo) organisation
            previous = _tenant_copy(rng, tenants[p.previous_tenant], name)
            own = shared.get(p.tenant, own)
        others = tuple(
            previous if t == p.previous_tenant and previous else shared.get(t, own)
            for t in p.other_tenants
        )
        orgs.append(_Org(i + 1, code, name, p, own, previous, others, 1.0))
    return orgs


def _scaled(orgs: list[_Org], log_rows: int | None) -> list[_Org]:
    if log_rows is None:
        return orgs
    total = sum(_expected_rows(o.profile) for o in orgs) or 1.0
    return [replace(o, scale=log_rows / total) for o in orgs]


# --- rows ----------------------------------------------------------------------------------------


def _counts(rng: random.Random, expected: float) -> int:
    whole = math.floor(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _log_rows(
    org: _Org, rng: random.Random, now: float, classify: Classifier
) -> Iterator[tuple[float, int, str, str | None, str, str | None, str | None]]:
    """(time, org id, level, document, message, kind, correlation id) for one organisation."""
    p, render = org.profile, _Renderer(rng, org)
    templates = [t for _, t in INFO_TEMPLATES]
    kinds = classify.memo
    start = now - WEEK_HOURS * 3600
    info_end = now - p.until_hours * 3600
    for _ in range(_counts(rng, p.info_per_day * (info_end - start) / 86400 * org.scale)):
        template = rng.choices(templates, cum_weights=INFO_CUM_WEIGHTS)[0]
        message, document = render.render(template)
        yield (
            rng.uniform(start, info_end),
            org.id,
            "info",
            document,
            message,
            _kind(kinds, classify, template, message, "info"),
            None,
        )
    for inc in p.incidents:
        lo, hi = now - inc.since_hours * 3600, now - inc.until_hours * 3600
        n = (
            inc.count
            if inc.count is not None
            else _counts(rng, inc.per_day * (hi - lo) / 86400 * org.scale)
        )
        for _ in range(n):
            message, document = render.render(inc.message)
            kind = _kind(kinds, classify, inc.message, message, inc.level)
            corr = (
                _uuid(rng)
                if inc.level == "error"
                and message.startswith(
                    ("Xero API", "Sales", "Credit", "Purchase", "Customer CUST", "Stock")
                )
                else None
            )
            yield rng.uniform(lo, hi), org.id, inc.level, document, message, kind, corr


def _kind(
    cache: dict[str, str | None], classify: Classifier, template: str, message: str, level: str
) -> str | None:
    # Classify once per template (its first rendering), not per row: a million regex scans
    # would dominate the build, and a template's kind does not depend on its placeholders.
    key = level + "|" + template
    if key not in cache:
        cache[key] = classify.classify(message, level)
    return cache[key]


def _queue_rows(org: _Org, rng: random.Random, now: float) -> list[dict[str, Any]]:
    p = org.profile
    first_error = next(
        (i.message.split("failed: ", 1)[-1] for i in p.incidents if i.level == "error"), None
    )
    end = now - max(p.until_hours, 0.5) * 3600
    rows = []
    for status, count in p.queue.items():
        for _ in range(count):
            doc_type, prefix = rng.choice(DOC_TYPES)
            created = rng.uniform(now - WEEK_HOURS * 3600, end)
            row = {
                "org_id": org.id,
                "doc_type": doc_type,
                "number": f"{prefix}{rng.randint(1000, 99999999):08d}",
                "contact": f"Contact {rng.randint(1, 400)}",
                "amount": round(rng.lognormvariate(6.5, 1.1), 2),
                "currency": org.tenant.currency,
                "status": status,
                "attempts": {"exported": 1, "failed": rng.randint(1, 5)}.get(status, 0),
                "last_error": first_error if status == "failed" else None,
                "created_at": _iso(created),
                "updated_at": _iso(created),
                "exported_at": None,
            }
            if status == "exported":
                exported = min(created + rng.uniform(5, 600), end)
                row["exported_at"] = row["updated_at"] = _iso(exported)
            rows.append(row)
    return rows


def _contacts(rng: random.Random, org: _Org) -> list[dict[str, str]]:
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

    Raises StoreExists without force, SampleDataError for bad YAML (before touching path).
    """
    started = time.perf_counter()
    path = Path(path)
    if path.exists() and not force:
        raise dbm.StoreExists(f"{path} already exists; pass --force to replace it.")
    data_dir = data_dir or sample_dir()
    knowledge = load_knowledge(data_dir / "knowledge_base.yaml")
    tenants = load_xero(data_dir / "xero.yaml")
    profiles = load_orgs(tenants, data_dir / "orgs.yaml")
    report = progress or (lambda stage, done, total: None)
    tmp = path.with_name(f".{path.name}.building")
    db = dbm.create_store(tmp, force=True)
    try:
        save_knowledge(db, knowledge)
        if empty:
            counts = (0, 0)
        else:
            counts = _fill(
                db,
                profiles,
                tenants,
                Classifier(knowledge),
                orgs,
                log_rows,
                random.Random(seed),
                now or clock.now(),
                report,
            )
        dbm.set_meta(db, "seed", str(seed))
        dbm.set_meta(db, "source", "empty" if empty else ("generated" if orgs else "sample"))
        db.conn.execute("PRAGMA journal_mode = WAL")
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.conn.close()
        for suffix in ("-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        os.replace(tmp, path)
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(str(tmp) + suffix).unlink(missing_ok=True)
    return BuildReport(str(path), counts[0], counts[1], time.perf_counter() - started)


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
    plan = _scaled(_plan(profiles, tenants, n_orgs, rng), log_rows)
    conn = db.conn
    # The file is private until renamed into place, so durability can wait for the end: no
    # journal (a WAL would write every page twice), and a big page cache lets index builds
    # sort in memory. build_store puts the store back in WAL mode before renaming it.
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -524288")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("BEGIN")
    _write_orgs(db, plan, rng, now, report)
    rows = [row for org in plan for row in _log_rows(org, rng, now, classify)]
    if log_rows is not None:  # hit the requested size exactly
        rows = _exact(rows, log_rows, rng, plan, now, classify)
    rows.sort(key=lambda r: r[0])
    dbm.drop_log_indexes(conn)
    sql = (
        "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)"
    )
    for start in range(0, len(rows), BATCH):
        chunk = rows[start : start + BATCH]
        conn.executemany(sql, ((_iso_fast(r[0]),) + r[1:] for r in chunk))
        report("log", start + len(chunk), len(rows))
    report("indexes", 0, 1)
    dbm.create_log_indexes(conn)
    conn.execute("COMMIT")
    report("indexes", 1, 1)
    return len(plan), len(rows)


def _exact(
    rows: list[tuple],
    target: int,
    rng: random.Random,
    plan: list[_Org],
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
        rows.extend(list(_log_rows(extra, rng, now, classify))[: target - len(rows)])
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
    db: Any, plan: list[_Org], rng: random.Random, now: float, report: Progress
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
        uninstalled = p.state == "uninstalled"
        conn_id = _uuid(rng)
        access, refresh = f"sbx-at-{_uuid(rng)}", f"sbx-rt-{_uuid(rng)}"
        access_exp = now + 25 * 60 if p.access_token == "valid" else now - 50 * 3600
        refresh_exp = now + 45 * 86400 if p.refresh_token == "valid" else now - 2 * 86400
        q = _queue_rows(org, rng, now)
        queue.extend(q)
        exported = [r["exported_at"] for r in q if r["exported_at"]]
        changed = now - (p.until_hours or rng.uniform(300, 2000)) * 3600
        previous = org.previous_tenant or (org.tenant if uninstalled else None)
        integ.append(
            {
                "org_id": org.id,
                "state": p.state,
                "tenant_id": None if uninstalled else org.tenant.id,
                "tenant_name": None if uninstalled else org.tenant.name,
                "connection_id": None if uninstalled else conn_id,
                "previous_tenant_id": previous.id if previous else None,
                "previous_tenant_name": previous.name if previous else None,
                "token_expires_at": None if uninstalled else _iso(access_exp),
                "refresh_expires_at": None if uninstalled else _iso(refresh_exp),
                "scopes": "openid profile email offline_access accounting.transactions "
                "accounting.contacts accounting.settings",
                "last_export_at": max(exported) if exported else None,
                "version": 1,
                "state_changed_at": _iso(changed),
                "updated_at": _iso(changed),
                "updated_by": "sample",
            }
        )
        if not uninstalled:
            creds.append({"org_id": org.id, "access_token": access, "refresh_token": refresh})
            settings.extend(
                {"org_id": org.id, "key": k, "value": json.dumps(v)} for k, v in p.settings.items()
            )
            mappings.extend(
                {"org_id": org.id, "kind": k, "local": loc, "remote": rem}
                for k, loc, rem in p.mappings
            )
        live = p.connection == "connected" and not uninstalled
        grants.append(
            {
                "org_id": org.id,
                "tenant_ids": json.dumps(sorted({t.id for t in (org.tenant, *org.other_tenants)})),
                "connections": json.dumps(
                    [
                        {
                            "id": conn_id,
                            "tenantId": org.tenant.id,
                            "tenantType": "ORGANISATION",
                            "tenantName": org.tenant.name,
                            "authEventId": _uuid(rng),
                            "createdDateUtc": _iso(changed),
                            "updatedDateUtc": _iso(changed),
                        }
                    ]
                    if live
                    else []
                ),
                "refresh_token": refresh
                if p.refresh_token == "valid" and not uninstalled
                else None,
                "access_token": access if not uninstalled else None,
                "access_expires_at": _iso(access_exp),
            }
        )
        if p.state != "active":
            actor = {"inactive": "m.tane", "uninstalled": "r.patel"}.get(p.state, "xero")
            before = "active" if p.state != "uninstalled" else "inactive"
            audit.append(
                {
                    "at": _iso(changed),
                    "org_id": org.id,
                    "actor": actor,
                    "action": {
                        "inactive": "deactivate",
                        "uninstalled": "uninstall",
                        "disconnected": "mark_disconnected",
                    }[p.state],
                    "before_state": before,
                    "after_state": p.state,
                    "detail": "recorded in the sample data",
                }
            )
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
        ("queue", queue),
    ):
        _insert(db.conn, table, rows)
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
        ],
    )
    report("orgs", len(plan), len(plan))
