"""Reading sample_data/*.yaml into typed specs, with messages that name the file and the key.

Three files: orgs.yaml (customers, their integrations and what their week looked like),
xero.yaml (the sandbox's charts of accounts, tax rates and tenants) and knowledge_base.yaml
(known connection-log errors). yaml.YAMLError and every shape problem become SampleDataError.
This module reads the knowledge base and the organisations; store/sample_xero.py reads xero.yaml
and store/sample_yaml.py holds the checker all three share.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from store.enums import Level, State, StepName
from store.models import KnowledgeEntry
from store.sample_xero import REGIONS, UUID, TenantSpec
from store.sample_yaml import SampleDoc, sample_dir
from store.schema import LEVELS, QUEUE_STATUSES, STATES

KB_CATEGORIES = (
    "mapping",
    "tax",
    "contact",
    "document",
    "auth",
    "connection",
    "rate_limit",
    "xero_outage",
    "plan",
    "data",
)
REFRESH_STEPS = ("none", StepName.DEACTIVATE, StepName.UNINSTALL, StepName.RECONNECT)
KB_ACTIONS = (
    "map",
    "fix_in_xero",
    "fix_in_inventory",
    "wait",
    "reconnect",
    "retry",
    "escalate",
    "activate",
    "none",
)
PLACEHOLDER = re.compile(r"\{([A-Za-z_]+)\}")
PLACEHOLDERS = {
    "SI",
    "PO",
    "SC",
    "SO",
    "SA",
    "SR",
    "CUST",
    "SUPP",
    "uuid",
    "n",
    "tenant",
    "previous_tenant",
}


# --- knowledge base ----------------------------------------------------------------------------

KB_KEYS = {
    "kind",
    "title",
    "pattern",
    "level",
    "category",
    "cause",
    "fix",
    "refresh_step",
    "action",
    "retryable",
    "example",
}


def load_knowledge(
    path: Path | None = None, *, doc: SampleDoc | None = None
) -> list[KnowledgeEntry]:
    """Read and check the knowledge base, in match order (first match wins).

    Raises SampleDataError naming the file, line and key of the first problem.
    """
    doc = doc or SampleDoc(path or sample_dir() / "knowledge_base.yaml")
    doc.version()
    entries: list[KnowledgeEntry] = []
    seen: set[str] = set()
    for at, item in doc.items(doc.data.get("errors"), "errors", KB_KEYS):
        kind = doc.get(item, "kind", at, str)
        if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
            raise doc.fail(f"{at}.kind", f"must be snake_case (got {kind!r})")
        if kind in seen:
            raise doc.fail(f"{at}.kind", f"duplicate kind {kind!r}")
        seen.add(kind)
        pattern = doc.get(item, "pattern", at, str)
        try:
            compiled = re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise doc.fail(f"{at}.pattern", f"not a valid regular expression ({exc})") from exc
        example = doc.get(item, "example", at, str)
        if not compiled.search(example):
            raise doc.fail(f"{at}.example", "does not match its own pattern")
        entries.append(
            KnowledgeEntry(
                kind=kind,
                title=doc.get(item, "title", at, str),
                pattern=pattern,
                level=Level(doc.get(item, "level", at, str, choices=LEVELS)),
                category=doc.get(item, "category", at, str, choices=KB_CATEGORIES),
                cause=doc.get(item, "cause", at, str).strip(),
                fix=doc.get(item, "fix", at, str).strip(),
                refresh_step=doc.get(item, "refresh_step", at, str, choices=REFRESH_STEPS),
                action=doc.get(item, "action", at, str, choices=KB_ACTIONS),
                retryable=doc.get(item, "retryable", at, bool),
                example=example,
            )
        )
    if not entries:
        raise doc.fail("errors", "the knowledge base is empty")
    return entries


# --- organisations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Incident:
    message: str
    level: Level
    per_day: float
    count: int | None
    since_hours: float
    until_hours: float


@dataclass(frozen=True, slots=True)
class OrgProfile:
    """One sample organisation: what it is, and what its week of log and queue looked like."""

    code: str
    name: str
    region: str
    state: State
    tenant: str | None  # a sandbox tenant's key; None for a real Xero organisation
    connection: str
    refresh_token: str
    access_token: str
    previous_tenant: str | None
    other_tenants: tuple[str, ...]
    settings: dict[str, Any]
    mappings: tuple[tuple[str, str, str], ...]
    queue: dict[str, int]
    info_per_day: float
    until_hours: float
    incidents: tuple[Incident, ...]
    real_tenant: tuple[str, str] | None = None  # (id, name) of a real Xero organisation
    scopes: str = "granular"  # or "broad": consented before Xero's granular scopes


ORG_KEYS = {"code", "name", "region", "state", "xero", "settings", "mappings", "queue", "log"}
XERO_KEYS = {
    "tenant",
    "connection",
    "refresh_token",
    "access_token",
    "previous_tenant",
    "other_tenants",
    "tenant_id",
    "tenant_name",
    "scopes",
}
SANDBOX_ONLY = ("connection", "refresh_token", "access_token", "previous_tenant", "other_tenants")
INCIDENT_KEYS = {"message", "level", "per_day", "count", "since_hours", "until_hours"}


def _mappings(doc: SampleDoc, raw: Any, at: str) -> list[tuple[str, str, str]]:
    out = []
    for where, m in doc.items(raw, at, {"kind", "local", "remote"}):
        out.append(tuple(doc.get(m, k, where, str) for k in ("kind", "local", "remote")))
    return out


def _queue(doc: SampleDoc, raw: Any, at: str, base: dict[str, int]) -> dict[str, int]:
    raw = doc.mapping(raw, at)
    doc.unknown_keys(raw, set(QUEUE_STATUSES), at)
    out = dict(base)
    for status in raw:
        count = doc.get(raw, status, at, int)
        if count < 0:
            raise doc.fail(f"{at}.{status}", "must not be negative")
        out[status] = count
    return out


def _incident(doc: SampleDoc, raw: Any, at: str) -> Incident:
    item = doc.mapping(raw, at)
    doc.unknown_keys(item, INCIDENT_KEYS, at)
    message = doc.get(item, "message", at, str)
    for name in PLACEHOLDER.findall(message):
        if name not in PLACEHOLDERS:
            raise doc.fail(f"{at}.message", f"unknown placeholder {{{name}}}")
    count = doc.get(item, "count", at, int, default=None)
    per_day = doc.get(item, "per_day", at, float, default=None)
    if (count is None) == (per_day is None):
        raise doc.fail(at, "give exactly one of per_day or count")
    since = doc.get(item, "since_hours", at, float, default=168.0)
    until = doc.get(item, "until_hours", at, float, default=0.0)
    if not 0 <= until <= since <= 168:
        raise doc.fail(at, "needs 0 <= until_hours <= since_hours <= 168")
    return Incident(
        message,
        Level(doc.get(item, "level", at, str, default=Level.ERROR, choices=LEVELS)),
        per_day or 0.0,
        count,
        since,
        until,
    )


def _real_tenant(
    doc: SampleDoc, item: dict[str, Any], xero: dict[str, Any], at: str, *, allowed: bool
) -> tuple[str, str] | None:
    """(id, name) when the organisation names a real Xero organisation, None for a sandbox one."""
    if "tenant_id" not in xero and "tenant_name" not in xero:
        return None
    if not allowed:
        raise doc.fail(f"{at}.xero.tenant_id", "a real Xero organisation is for `syncdesk import`")
    if "tenant" in xero:
        raise doc.fail(
            f"{at}.xero.tenant",
            "give tenant (a sandbox tenant) or tenant_id and tenant_name (a real Xero "
            "organisation), not both",
        )
    tenant_id = doc.get(xero, "tenant_id", f"{at}.xero", str)
    if not UUID.fullmatch(tenant_id):
        raise doc.fail(f"{at}.xero.tenant_id", f"must be a lower-case UUID (got {tenant_id!r})")
    for key in SANDBOX_ONLY:
        if key in xero:
            raise doc.fail(f"{at}.xero.{key}", "only a sandbox tenant has this")
    if "queue" in item:
        raise doc.fail(
            f"{at}.queue",
            "a real Xero organisation's documents come from the platform, not from a file "
            "(only sandbox organisations get demo documents)",
        )
    return tenant_id, doc.get(xero, "tenant_name", f"{at}.xero", str)


def load_orgs(
    tenants: dict[str, TenantSpec],
    path: Path | None = None,
    *,
    doc: SampleDoc | None = None,
    real_tenants: bool = False,
) -> list[OrgProfile]:
    """Read the sample organisations, checking every tenant they name exists.

    With real_tenants (`syncdesk import`), an organisation may name a real Xero organisation
    (`xero: {tenant_id, tenant_name}`) instead of a sandbox tenant.

    Raises SampleDataError naming the file, line and key of the first problem.
    """
    doc = doc or SampleDoc(path or sample_dir() / "orgs.yaml")
    doc.version()
    top = doc.data
    defaults = doc.mapping(top.get("defaults", {}), "defaults")
    base_settings = doc.mapping(defaults.get("settings", {}), "defaults.settings")
    base_mappings = _mappings(doc, defaults.get("mappings", []), "defaults.mappings")
    by_region = doc.mapping(defaults.get("mappings_by_region", {}), "defaults.mappings_by_region")
    region_mappings = {
        r: _mappings(doc, v, f"defaults.mappings_by_region.{r}") for r, v in by_region.items()
    }
    base_queue = _queue(
        doc, defaults.get("queue", {}), "defaults.queue", dict.fromkeys(QUEUE_STATUSES, 0)
    )
    base_log = doc.mapping(defaults.get("log", {}), "defaults.log")
    noise = [
        _incident(doc, r, f"defaults.noise[{j}]")
        for j, r in enumerate(doc.seq(defaults.get("noise", []), "defaults.noise"))
    ]
    profiles: list[OrgProfile] = []
    codes: set[str] = set()
    for at, item in doc.items(top.get("orgs"), "orgs", ORG_KEYS):
        code = doc.get(item, "code", at, str)
        if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,19}", code):
            raise doc.fail(
                f"{at}.code", f"must be 1-20 upper-case letters, digits, - or _ (got {code!r})"
            )
        if code in codes:
            raise doc.fail(f"{at}.code", f"duplicate code {code!r}")
        codes.add(code)
        region = doc.get(item, "region", at, str, choices=REGIONS)
        xero = doc.mapping(item.get("xero"), f"{at}.xero")
        doc.unknown_keys(xero, XERO_KEYS, f"{at}.xero")

        def tenant_key(value: str, key: str) -> str:
            if value not in tenants:
                where = "xero.yaml" if not real_tenants else "the import's xero files or the store"
                raise doc.fail(key, f"no tenant {value!r} in {where}")
            return value

        for token in ("refresh_token", "access_token"):
            if xero.get(token) not in (None, "valid", "expired"):  # never echo what may be a token
                raise doc.fail(
                    f"{at}.xero.{token}",
                    "must be valid or expired: the sandbox token's state (real tokens are never "
                    "read from a file; they come from the customer's consent)",
                )
        real = _real_tenant(doc, item, xero, f"{at}", allowed=real_tenants)
        tenant = (
            None
            if real
            else tenant_key(doc.get(xero, "tenant", f"{at}.xero", str), f"{at}.xero.tenant")
        )
        previous = xero.get("previous_tenant")
        if previous is not None:
            tenant_key(
                doc.get(xero, "previous_tenant", f"{at}.xero", str), f"{at}.xero.previous_tenant"
            )
        others = tuple(
            tenant_key(t, f"{at}.xero.other_tenants")
            for t in doc.seq(xero.get("other_tenants", []), f"{at}.xero.other_tenants")
        )
        settings = {**base_settings, **doc.mapping(item.get("settings", {}), f"{at}.settings")}
        mappings = {
            (k, loc): rem
            for k, loc, rem in base_mappings
            + region_mappings.get(region, [])
            + _mappings(doc, item.get("mappings", []), f"{at}.mappings")
        }
        log = {**base_log, **doc.mapping(item.get("log", {}), f"{at}.log")}
        doc.unknown_keys(log, {"info_per_day", "until_hours", "incidents"}, f"{at}.log")
        until = doc.get(log, "until_hours", f"{at}.log", float, default=0.0)
        incidents = tuple(
            _incident(doc, r, f"{at}.log.incidents[{j}]")
            for j, r in enumerate(doc.seq(log.get("incidents", []), f"{at}.log.incidents"))
        )
        incidents += tuple(replace(n, until_hours=max(n.until_hours, until)) for n in noise)
        profiles.append(
            OrgProfile(
                code=code,
                name=doc.get(item, "name", at, str),
                region=region,
                state=State(doc.get(item, "state", at, str, choices=STATES)),
                tenant=tenant,
                connection=doc.get(
                    xero,
                    "connection",
                    f"{at}.xero",
                    str,
                    default="connected",
                    choices=("connected", "removed"),
                ),
                refresh_token=doc.get(
                    xero,
                    "refresh_token",
                    f"{at}.xero",
                    str,
                    default="valid",
                    choices=("valid", "expired"),
                ),
                access_token=doc.get(
                    xero,
                    "access_token",
                    f"{at}.xero",
                    str,
                    default="valid",
                    choices=("valid", "expired"),
                ),
                previous_tenant=previous,
                other_tenants=others,
                settings=settings,
                mappings=tuple((k, loc, rem) for (k, loc), rem in mappings.items()),
                queue=_queue(doc, item.get("queue", {}), f"{at}.queue", base_queue),
                info_per_day=doc.get(log, "info_per_day", f"{at}.log", float, default=24.0),
                until_hours=until,
                incidents=incidents,
                real_tenant=real,
                scopes=doc.get(
                    xero,
                    "scopes",
                    f"{at}.xero",
                    str,
                    default="granular",
                    choices=("granular", "broad"),
                ),
            )
        )
    if not profiles:
        raise doc.fail("orgs", "no organisations")
    return profiles
