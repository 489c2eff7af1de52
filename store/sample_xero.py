"""Reading xero.yaml: the sandbox's charts of accounts and tax rates per region, and its
tenants, each with its chart resolved (the region's chart plus the tenant's own changes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.sample_yaml import SampleDoc, sample_dir

REGIONS = ("NZ", "AU", "UK")
ACCOUNT_STATUSES = ("ACTIVE", "ARCHIVED")
TAX_STATUSES = ("ACTIVE", "ARCHIVED", "DELETED")


@dataclass(frozen=True, slots=True)
class TenantSpec:
    """One Xero organisation in the sandbox, its chart already resolved."""

    key: str
    id: str
    name: str
    region: str
    currency: str
    accounts: tuple[dict[str, Any], ...]
    tax_rates: tuple[dict[str, Any], ...]
    contacts: tuple[dict[str, Any], ...] = ()
    behaviour: dict[str, Any] = field(default_factory=dict)


ACCOUNT_KEYS = {"code", "name", "type", "status", "tax_type", "system", "removed"}
TAX_KEYS = {"tax_type", "name", "rate", "status", "revenue", "expenses", "removed"}
TENANT_KEYS = {
    "key",
    "id",
    "name",
    "region",
    "accounts",
    "tax_rates",
    "contacts",
    "rate_limit",
    "outage",
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _check_account(doc: SampleDoc, item: Any, at: str, partial: bool) -> dict[str, Any]:
    item = doc.mapping(item, at)
    doc.unknown_keys(item, ACCOUNT_KEYS, at)
    need = ... if not partial else None
    out = {"code": doc.get(item, "code", at, str)}
    for key, typ, choices in (
        ("name", str, None),
        ("type", str, None),
        ("status", str, ACCOUNT_STATUSES),
    ):
        value = doc.get(item, key, at, typ, default=need, choices=choices)
        if value is not None:
            out[key] = value
    for key, typ in (("tax_type", str), ("system", bool), ("removed", bool)):
        value = doc.get(item, key, at, typ, default=None)
        if value is not None:
            out[key] = value
    return out


def _check_tax(doc: SampleDoc, item: Any, at: str, partial: bool) -> dict[str, Any]:
    item = doc.mapping(item, at)
    doc.unknown_keys(item, TAX_KEYS, at)
    need = ... if not partial else None
    out = {"tax_type": doc.get(item, "tax_type", at, str)}
    for key, typ, choices in (
        ("name", str, None),
        ("rate", float, None),
        ("status", str, TAX_STATUSES),
        ("revenue", bool, None),
        ("expenses", bool, None),
    ):
        value = doc.get(item, key, at, typ, default=need, choices=choices)
        if value is not None:
            out[key] = value
    if doc.get(item, "removed", at, bool, default=False):
        out["removed"] = True
    return out


def _apply_changes(
    base: list[dict[str, Any]], changes: list[dict[str, Any]], key: str
) -> tuple[dict[str, Any], ...]:
    rows = {row[key]: dict(row) for row in base}
    for change in changes:
        if change.get("removed"):
            rows.pop(change[key], None)
        else:
            rows.setdefault(change[key], {}).update(change)
    return tuple(rows.values())


def load_xero(path: Path | None = None, *, doc: SampleDoc | None = None) -> dict[str, TenantSpec]:
    """Read the sandbox's charts and tenants, keyed by tenant key.

    Raises SampleDataError naming the file, line and key of the first problem.
    """
    doc = doc or SampleDoc(path or sample_dir() / "xero.yaml")
    doc.version()
    charts: dict[str, dict[str, Any]] = {}
    for region, raw in doc.mapping(doc.data.get("charts"), "charts").items():
        at = f"charts.{region}"
        if region not in REGIONS:
            raise doc.fail(at, f"unknown region (allowed: {', '.join(REGIONS)})")
        chart = doc.mapping(raw, at)
        accounts = [
            _check_account(doc, a, f"{at}.accounts[{i}]", False)
            for i, a in enumerate(doc.seq(chart.get("accounts"), f"{at}.accounts"))
        ]
        taxes = [
            _check_tax(doc, t, f"{at}.tax_rates[{i}]", False)
            for i, t in enumerate(doc.seq(chart.get("tax_rates"), f"{at}.tax_rates"))
        ]
        charts[region] = {
            "currency": doc.get(chart, "currency", at, str),
            "accounts": accounts,
            "tax_rates": taxes,
        }
    tenants: dict[str, TenantSpec] = {}
    ids: set[str] = set()
    for at, item in doc.items(doc.data.get("tenants"), "tenants", TENANT_KEYS):
        key = doc.get(item, "key", at, str)
        tenant_id = doc.get(item, "id", at, str)
        if not UUID.fullmatch(tenant_id):
            raise doc.fail(f"{at}.id", f"must be a lower-case UUID (got {tenant_id!r})")
        if key in tenants or tenant_id in ids:
            raise doc.fail(at, f"duplicate tenant {key!r}")
        region = doc.get(item, "region", at, str, choices=tuple(charts))
        chart = charts[region]
        account_changes = [
            _check_account(doc, a, f"{at}.accounts[{j}]", True)
            for j, a in enumerate(doc.seq(item.get("accounts", []), f"{at}.accounts"))
        ]
        tax_changes = [
            _check_tax(doc, t, f"{at}.tax_rates[{j}]", True)
            for j, t in enumerate(doc.seq(item.get("tax_rates", []), f"{at}.tax_rates"))
        ]
        contacts = []
        for j, c in enumerate(doc.seq(item.get("contacts", []), f"{at}.contacts")):
            c = doc.mapping(c, f"{at}.contacts[{j}]")
            contacts.append(
                {
                    k: doc.get(c, k, f"{at}.contacts[{j}]", str)
                    for k in ("name", "email", "contact_number")
                }
            )
        behaviour = {}
        for key_name in ("rate_limit", "outage"):
            if key_name in item:
                behaviour[key_name] = doc.mapping(item[key_name], f"{at}.{key_name}")
        tenants[key] = TenantSpec(
            key=key,
            id=tenant_id,
            name=doc.get(item, "name", at, str),
            region=region,
            currency=chart["currency"],
            accounts=_apply_changes(chart["accounts"], account_changes, "code"),
            tax_rates=_apply_changes(chart["tax_rates"], tax_changes, "tax_type"),
            contacts=tuple(contacts),
            behaviour=behaviour,
        )
        ids.add(tenant_id)
    return tenants
