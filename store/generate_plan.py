"""Which organisations a build makes: one per sample profile for the demo store, or N drawn
from the profiles (healthy ones most often) with generated names and their own Xero tenants,
their log rates scaled so the week holds the requested number of rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from store.enums import Level, State
from store.sample import OrgProfile
from store.sample_xero import TenantSpec

WEEK_HOURS = 168.0

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
class PlannedOrg:
    """One organisation to build: its profile, identity and tenants."""

    id: int
    code: str
    name: str
    profile: OrgProfile
    tenant: TenantSpec
    previous_tenant: TenantSpec | None
    other_tenants: tuple[TenantSpec, ...]
    scale: float


def random_uuid(rng: random.Random) -> str:
    """A version-4-shaped UUID from the build's own random source (so a seed repeats it)."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _profile_weight(p: OrgProfile) -> float:
    broken = any(i.level == Level.ERROR and i.per_day >= 1 or i.count for i in p.incidents) or (
        p.state != State.ACTIVE
    )
    return 4.0 if broken else 100.0


def _expected_rows(p: OrgProfile) -> float:
    info = p.info_per_day * (WEEK_HOURS - p.until_hours) / 24
    return info + sum(
        i.count if i.count is not None else i.per_day * (i.since_hours - i.until_hours) / 24
        for i in p.incidents
    )


def _tenant_copy(rng: random.Random, spec: TenantSpec, name: str) -> TenantSpec:
    return replace(spec, key=f"gen-{spec.key}", id=random_uuid(rng), name=name)


def plan_orgs(
    profiles: list[OrgProfile], tenants: dict[str, TenantSpec], n: int | None, rng: random.Random
) -> list[PlannedOrg]:
    """One organisation per profile (n None), else n drawn from the profiles."""
    if n is None:
        return [
            PlannedOrg(
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
        orgs.append(PlannedOrg(i + 1, code, name, p, own, previous, others, 1.0))
    return orgs


def scaled(orgs: list[PlannedOrg], log_rows: int | None) -> list[PlannedOrg]:
    """The organisations with log rates scaled so the week holds about log_rows rows."""
    if log_rows is None:
        return orgs
    total = sum(_expected_rows(o.profile) for o in orgs) or 1.0
    return [replace(o, scale=log_rows / total) for o in orgs]
