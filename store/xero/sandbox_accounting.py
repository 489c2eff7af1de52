"""The embedded Xero's Accounting API reads: GET Organisation, Accounts, TaxRates,
TrackingCategories and Contacts (where=EmailAddress=="..."), in Xero's JSON shapes, served from
the tenant's row in sandbox_tenants.
"""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from store.xero.sandbox_common import NS, envelope

_WHERE_EMAIL = re.compile(r'EmailAddress\s*==\s*"((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_CLASS = {
    **dict.fromkeys(("REVENUE", "SALES", "OTHERINCOME"), "REVENUE"),
    **dict.fromkeys(("DIRECTCOSTS", "EXPENSE", "OVERHEADS", "DEPRECIATN"), "EXPENSE"),
    **dict.fromkeys(("CURRLIAB", "LIABILITY", "TERMLIAB", "PAYG"), "LIABILITY"),
    "EQUITY": "EQUITY",
}
_VERSION = {"NZ": ("NZ", "NZ"), "AU": ("AU", "AU"), "UK": ("UK", "GB")}


def _organisation(
    tenant: sqlite3.Row, request: httpx.Request, clock: Callable[[], float]
) -> httpx.Response:
    version, country = _VERSION.get(tenant["region"], ("GLOBAL", tenant["region"]))
    return envelope(
        clock,
        "Organisations",
        [
            {
                "OrganisationID": tenant["tenant_id"],
                "APIKey": uuid.uuid5(NS, tenant["tenant_id"]).hex[:30].upper(),
                "Name": tenant["name"],
                "LegalName": tenant["name"],
                "PaysTax": True,
                "Version": version,
                "OrganisationType": "COMPANY",
                "BaseCurrency": tenant["currency"],
                "CountryCode": country,
                "IsDemoCompany": tenant["name"].startswith("Demo Company"),
                "OrganisationStatus": "ACTIVE",
                "FinancialYearEndDay": 31,
                "FinancialYearEndMonth": 3,
                "OrganisationEntityType": "COMPANY",
                "Edition": "BUSINESS",
                "Class": "PREMIUM",
                "ShortCode": "!" + tenant["tenant_id"][:5],
                "Addresses": [],
                "Phones": [],
                "ExternalLinks": [],
                "PaymentTerms": {},
            }
        ],
    )


def _account_json(tenant: sqlite3.Row, a: dict[str, Any]) -> dict[str, Any]:
    system = ""
    if a.get("system"):
        name = a.get("name", "").lower()
        system = "DEBTORS" if "receivable" in name else "CREDITORS" if "payable" in name else "GST"
    bank = a.get("type") == "BANK"
    out = {
        "AccountID": str(uuid.uuid5(NS, f"{tenant['tenant_id']}:{a['code']}")),
        "Code": a["code"],
        "Name": a.get("name", ""),
        "Status": a.get("status", "ACTIVE"),
        "Type": a.get("type", ""),
        "TaxType": a.get("tax_type", "NONE"),
        "Class": _CLASS.get(a.get("type", ""), "ASSET"),
        "EnablePaymentsToAccount": bank,
        "ShowInExpenseClaims": a.get("type") == "EXPENSE",
        "BankAccountType": "BANK" if bank else "",
        "ReportingCode": "",
        "HasAttachments": False,
        "UpdatedDateUTC": "/Date(1700000000000+0000)/",
        "AddToWatchlist": False,
    }
    if bank:
        out["CurrencyCode"] = tenant["currency"]
    if system:
        out["SystemAccount"] = system
    return out


def _accounts(
    tenant: sqlite3.Row, request: httpx.Request, clock: Callable[[], float]
) -> httpx.Response:
    accounts = json.loads(tenant["accounts"])
    return envelope(clock, "Accounts", [_account_json(tenant, a) for a in accounts])


def _tax_rates(
    tenant: sqlite3.Row, request: httpx.Request, clock: Callable[[], float]
) -> httpx.Response:
    rates = []
    for t in json.loads(tenant["tax_rates"]):
        rate = float(t.get("rate", 0.0))
        rates.append(
            {
                "Name": t.get("name", t["tax_type"]),
                "TaxType": t["tax_type"],
                "ReportTaxType": "OUTPUT" if t.get("revenue") else "INPUT",
                "CanApplyToAssets": True,
                "CanApplyToEquity": True,
                "CanApplyToExpenses": bool(t.get("expenses", True)),
                "CanApplyToLiabilities": True,
                "CanApplyToRevenue": bool(t.get("revenue", True)),
                "DisplayTaxRate": rate,
                "EffectiveRate": rate,
                "Status": t.get("status", "ACTIVE"),
                "TaxComponents": [
                    {
                        "Name": "Tax",
                        "Rate": rate,
                        "IsCompound": False,
                        "IsNonRecoverable": False,
                    }
                ],
            }
        )
    return envelope(clock, "TaxRates", rates)


def _tracking(
    tenant: sqlite3.Row, request: httpx.Request, clock: Callable[[], float]
) -> httpx.Response:
    behaviour = json.loads(tenant["behaviour"] or "{}")
    return envelope(clock, "TrackingCategories", behaviour.get("tracking_categories", []))


def _contacts(
    tenant: sqlite3.Row, request: httpx.Request, clock: Callable[[], float]
) -> httpx.Response:
    where = request.url.params.get("where") or ""
    match = _WHERE_EMAIL.search(where)
    wanted = match.group(1).replace('\\"', '"').lower() if match else None
    found = []
    for c in json.loads(tenant["contacts"]):
        if wanted is not None and (c.get("email") or "").lower() != wanted:
            continue
        number = c.get("contact_number") or ""
        found.append(
            {
                "ContactID": str(uuid.uuid5(NS, f"{tenant['tenant_id']}:{c['name']}")),
                "ContactNumber": number,
                "ContactStatus": "ACTIVE",
                "Name": c["name"],
                "EmailAddress": c.get("email", ""),
                "IsSupplier": number.startswith("SUP"),
                "IsCustomer": not number.startswith("SUP"),
                "UpdatedDateUTC": "/Date(1700000000000+0000)/",
            }
        )
    return envelope(clock, "Contacts", found)


READS: dict[str, Callable[[sqlite3.Row, httpx.Request, Callable[[], float]], httpx.Response]] = {
    "organisation": _organisation,
    "accounts": _accounts,
    "taxrates": _tax_rates,
    "trackingcategories": _tracking,
    "contacts": _contacts,
}
