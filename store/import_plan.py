"""`syncdesk import`, part one: reading the files and saying what they would change.

A file is known by its keys, whatever its name: `orgs` (as sample_data/orgs.yaml), `tenants`
and `charts` (as xero.yaml, the sandbox), `errors` (as knowledge_base.yaml); YAML, or JSON with
the same keys when it is named *.json. Every file is checked by the sample loaders
(store/sample*.py), the validator `init` uses, so a problem names the file, the line and the
key. An organisation may name a sandbox tenant from an xero file of the same import, a sandbox
tenant the store already has (by its id), or a real Xero organisation (`tenant_id`,
`tenant_name`).

The plan compares each organisation (by code), tenant (by id) and knowledge-base entry (by
kind) with the store: added, changed (and which fields), left alone. store/importer.py applies
it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store.kb import knowledge
from store.models import KnowledgeEntry, to_json
from store.sample import OrgProfile, load_knowledge, load_orgs
from store.sample_xero import TenantSpec, load_xero
from store.sample_yaml import SampleDoc

if TYPE_CHECKING:
    import sqlite_utils

ORGS, XERO, KNOWLEDGE = "orgs", "xero", "knowledge"
_SHAPES = ((ORGS, {"orgs"}), (XERO, {"tenants", "charts"}), (KNOWLEDGE, {"errors"}))
UNINSTALLED = "uninstalled"


@dataclass(frozen=True, slots=True)
class OrgChange:
    """One organisation of the files and what importing it does: add, change or nothing."""

    profile: OrgProfile
    file: str
    action: str  # "add" | "change" | "same"
    fields: tuple[str, ...] = ()
    tenant: TenantSpec | None = None  # the sandbox tenant (None: a real Xero organisation)
    previous: TenantSpec | None = None  # sandbox tenants it was connected to before
    others: tuple[TenantSpec, ...] = ()  # and may connect to (its Xero user's other tenants)

    def to_json(self) -> dict[str, Any]:
        return {"code": self.profile.code, "file": self.file, "fields": list(self.fields)}


@dataclass(slots=True)
class ImportPlan:
    """Everything the files say, checked, and how it compares with the store."""

    files: list[str]
    orgs: list[OrgChange] = field(default_factory=list)
    tenants: dict[str, TenantSpec] = field(default_factory=dict)  # from xero files, by key
    tenant_actions: dict[str, str] = field(default_factory=dict)  # tenant id -> add|change|same
    knowledge: list[KnowledgeEntry] | None = None  # None: no knowledge-base file
    knowledge_actions: dict[str, str] = field(default_factory=dict)  # kind -> add|change|...
    knowledge_reordered: bool = False  # entries kept, but in another match order

    def orgs_by(self, action: str) -> list[OrgChange]:
        return [o for o in self.orgs if o.action == action]

    def knowledge_changed(self) -> bool:
        return self.knowledge_reordered or any(a != "same" for a in self.knowledge_actions.values())

    def to_json(self) -> dict[str, Any]:
        names = {t.id: t.name for t in self.tenants.values()}
        tenants = {
            key: [{"id": i, "name": names[i]} for i, a in self.tenant_actions.items() if a == act]
            for key, act in (("added", "add"), ("changed", "change"), ("unchanged", "same"))
        }
        kb = None
        if self.knowledge is not None:
            kb = {
                key: [k for k, a in self.knowledge_actions.items() if a == act]
                for key, act in (
                    ("added", "add"),
                    ("changed", "change"),
                    ("removed", "remove"),
                    ("unchanged", "same"),
                )
            }
            kb["reordered"] = self.knowledge_reordered
        return {
            "files": self.files,
            "orgs": {
                "added": [o.profile.code for o in self.orgs_by("add")],
                "changed": [to_json(o) for o in self.orgs_by("change")],
                "unchanged": [o.profile.code for o in self.orgs_by("same")],
            },
            "tenants": tenants,
            "knowledge": kb,
        }


@dataclass(slots=True)
class ImportFiles:
    """What the files say, checked: read before the import takes the store's write lock."""

    files: list[str]
    tenants: dict[str, TenantSpec] = field(default_factory=dict)  # from xero files, by key
    knowledge: list[KnowledgeEntry] | None = None
    orgs: list[tuple[OrgProfile, str]] = field(default_factory=list)  # and its file's name
    known: dict[str, TenantSpec] = field(default_factory=dict)  # every tenant an org may name


def read_import(db: sqlite_utils.Database, paths: list[Path]) -> ImportFiles:
    """Read and check the files (tenants they name may be the store's, by id).

    Raises SampleDataError naming the file, line and key of the first problem.
    """
    docs: dict[str, list[SampleDoc]] = {ORGS: [], XERO: [], KNOWLEDGE: []}
    for path in paths:
        doc = SampleDoc(path)
        docs[_shape(doc)].append(doc)
    read = ImportFiles(files=[str(p) for p in paths])
    for doc in docs[XERO]:
        for key, spec in load_xero(doc=doc).items():
            if key in read.tenants:
                raise doc.fail(f"tenants[{_index(doc, key)}].key", f"tenant {key!r} twice")
            read.tenants[key] = spec
    if len(docs[KNOWLEDGE]) > 1:
        raise docs[KNOWLEDGE][1].fail(
            "errors", "one knowledge-base file at a time (its order is the match order)"
        )
    if docs[KNOWLEDGE]:
        read.knowledge = load_knowledge(doc=docs[KNOWLEDGE][0])
    read.known = {**store_tenants(db), **read.tenants}
    seen: dict[str, str] = {}
    for doc in docs[ORGS]:
        for i, profile in enumerate(load_orgs(read.known, doc=doc, real_tenants=True)):
            if profile.code in seen:
                raise doc.fail(f"orgs[{i}].code", f"{profile.code} is in {seen[profile.code]} too")
            seen[profile.code] = doc.name
            read.orgs.append((profile, doc.name))
    return read


def plan_import(db: sqlite_utils.Database, read: ImportFiles) -> ImportPlan:
    """Compare what the files say with the store: added, changed, left alone."""
    plan = ImportPlan(files=read.files, tenants=read.tenants, knowledge=read.knowledge)
    plan.tenant_actions = _tenant_actions(db, read.tenants.values())
    if read.knowledge is not None:
        stored = knowledge(db)
        plan.knowledge_actions = _knowledge_actions(stored, read.knowledge)
        plan.knowledge_reordered = _reordered(stored, read.knowledge)
    plan.orgs = [_compare(db, profile, file, read.known) for profile, file in read.orgs]
    return plan


def _shape(doc: SampleDoc) -> str:
    top = doc.mapping(doc.data, "top level")
    found = [name for name, keys in _SHAPES if keys & set(top)]
    if len(found) != 1:
        raise doc.fail(
            "top level",
            "expected the keys of one of orgs.yaml (orgs), xero.yaml (tenants, charts) or "
            "knowledge_base.yaml (errors)",
        )
    return found[0]


def _index(doc: SampleDoc, key: str) -> int:
    for i, item in enumerate(doc.data.get("tenants") or []):
        if isinstance(item, dict) and item.get("key") == key:
            return i
    return 0


def store_tenants(db: sqlite_utils.Database) -> dict[str, TenantSpec]:
    """The sandbox tenants the store has, by id (an organisation may name one by its id)."""
    out = {}
    for row in db.execute("SELECT * FROM sandbox_tenants").fetchall():
        out[row["tenant_id"]] = TenantSpec(
            key=row["tenant_id"],
            id=row["tenant_id"],
            name=row["name"],
            region=row["region"],
            currency=row["currency"],
            accounts=tuple(json.loads(row["accounts"])),
            tax_rates=tuple(json.loads(row["tax_rates"])),
            contacts=tuple(json.loads(row["contacts"])),
            behaviour=json.loads(row["behaviour"]),
        )
    return out


def tenant_fields(spec: TenantSpec) -> dict[str, Any]:
    """What the store keeps of a sandbox tenant from xero.yaml (contacts are the sandbox's own
    state once created, so an import leaves them alone)."""
    return {
        "name": spec.name,
        "region": spec.region,
        "currency": spec.currency,
        "accounts": json.dumps(spec.accounts),
        "tax_rates": json.dumps(spec.tax_rates),
        "behaviour": json.dumps(spec.behaviour),
    }


def _tenant_actions(db: sqlite_utils.Database, specs: Any) -> dict[str, str]:
    out = {}
    for spec in specs:
        row = db.execute("SELECT * FROM sandbox_tenants WHERE tenant_id = ?", [spec.id]).fetchone()
        if row is None:
            out[spec.id] = "add"
            continue
        wanted = tenant_fields(spec)
        same = all(
            (json.loads(row[k]) == json.loads(v))
            if k in ("accounts", "tax_rates", "behaviour")
            else row[k] == v
            for k, v in wanted.items()
        )
        out[spec.id] = "same" if same else "change"
    return out


def _knowledge_actions(
    stored: list[KnowledgeEntry], wanted: list[KnowledgeEntry]
) -> dict[str, str]:
    before = {e.kind: e for e in stored}
    out = {}
    for entry in wanted:
        old = before.pop(entry.kind, None)
        out[entry.kind] = "add" if old is None else ("same" if old == entry else "change")
    out.update(dict.fromkeys(before, "remove"))
    return out


def _reordered(stored: list[KnowledgeEntry], wanted: list[KnowledgeEntry]) -> bool:
    """Whether the entries both lists hold come in another order (the first match wins)."""
    kept = {e.kind for e in wanted}
    return [e.kind for e in stored if e.kind in kept] != [
        e.kind for e in wanted if e.kind in {s.kind for s in stored}
    ]


def wanted_integration(profile: OrgProfile, tenant: TenantSpec | None) -> dict[str, Any]:
    """The integration the file describes, as the store would hold it."""
    gone = profile.state == UNINSTALLED
    tenant_id, tenant_name = (
        (tenant.id, tenant.name)
        if tenant
        else profile.real_tenant
        or (
            None,
            None,
        )
    )
    return {
        "name": profile.name,
        "region": profile.region,
        "state": profile.state,
        "tenant_id": None if gone else tenant_id,
        "tenant_name": None if gone else tenant_name,
        "settings": {} if gone else dict(profile.settings),
        "mappings": set() if gone else set(profile.mappings),
    }


def stored_integration(db: sqlite_utils.Database, oid: int) -> dict[str, Any]:
    row = db.execute(
        "SELECT o.name, o.region, i.state, i.tenant_id, i.tenant_name FROM orgs o "
        "JOIN integrations i ON i.org_id = o.id WHERE o.id = ?",
        [oid],
    ).fetchone()
    settings = {
        k: json.loads(v)
        for k, v in db.execute("SELECT key, value FROM settings WHERE org_id = ?", [oid])
    }
    mappings = {
        tuple(r)
        for r in db.execute("SELECT kind, local, remote FROM mappings WHERE org_id = ?", [oid])
    }
    return {**dict(row), "settings": settings, "mappings": mappings}


def _compare(
    db: sqlite_utils.Database, profile: OrgProfile, file: str, known: dict[str, TenantSpec]
) -> OrgChange:
    tenant = known[profile.tenant] if profile.tenant else None
    previous = known[profile.previous_tenant] if profile.previous_tenant else None
    others = tuple(known[t] for t in profile.other_tenants)
    row = db.execute("SELECT id FROM orgs WHERE code = ? COLLATE NOCASE", [profile.code]).fetchone()
    if row is None:
        return OrgChange(profile, file, "add", (), tenant, previous, others)
    wanted = wanted_integration(profile, tenant)
    stored = stored_integration(db, row[0])
    changed = tuple(k for k in wanted if wanted[k] != stored[k])
    action = "change" if changed else "same"
    return OrgChange(profile, file, action, changed, tenant, previous, others)
