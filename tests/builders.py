"""Organisations built inside a test: a sandbox tenant and an organisation on it, imported as
`syncdesk import` would (store/importer.py), then the log rows the test wants, at times
relative to NOW. Each verdict test says in its own words what is broken."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from support import NOW

from store.enums import Level
from store.importer import import_files
from store.logs import record
from store.sample_yaml import sample_dir

CHARTS = yaml.safe_load((sample_dir() / "xero.yaml").read_text())["charts"]


def tenant_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"syncdesk-test/{key}"))


def build_org(
    db: Any,
    folder: Path,
    code: str,
    *,
    state: str = "active",
    region: str = "NZ",
    tenant: dict[str, Any] | None = None,
    xero: dict[str, Any] | None = None,
    more_tenants: tuple[dict[str, Any], ...] = (),
    mappings: list[dict[str, str]] | None = None,
    queue: dict[str, int] | None = None,
    errors: tuple[tuple[int, str], ...] = (),
) -> str:
    """Build organisation `code` on its own sandbox tenant (`tenant` changes it: accounts,
    tax_rates, rate_limit, outage); `xero` adds the organisation's sandbox keys (refresh_token,
    connection, previous_tenant, other_tenants); `errors` are (minutes before NOW, message)
    rows in the connection log. Returns the code."""
    key = code.lower()
    spec = {
        "key": key,
        "id": tenant_id(key),
        "name": f"{code.title()} Ltd",
        "region": region,
        **(tenant or {}),
    }
    others = [
        {"id": tenant_id(t["key"]), "name": f"{t['key'].title()} Ltd", "region": region, **t}
        for t in more_tenants
    ]
    org: dict[str, Any] = {
        "code": code,
        "name": f"{code.title()} Trading Ltd",
        "region": region,
        "state": state,
        "xero": {"tenant": key, **(xero or {})},
    }
    if mappings:
        org["mappings"] = mappings
    if queue:
        org["queue"] = queue
    folder.mkdir(parents=True, exist_ok=True)
    orgs_file = folder / f"{key}-orgs.yaml"
    xero_file = folder / f"{key}-xero.yaml"
    orgs_file.write_text(yaml.safe_dump({"version": 1, "orgs": [org]}, sort_keys=False))
    xero_file.write_text(
        yaml.safe_dump(
            {"version": 1, "charts": CHARTS, "tenants": [spec, *others]}, sort_keys=False
        )
    )
    import_files(db, [orgs_file, xero_file], actor="test", now=NOW)
    for minutes, message in errors:
        record(db, code, Level.ERROR, message, at=NOW - timedelta(minutes=minutes))
    return code
