"""An organisation's account and tax mappings against a tenant's chart: what each mapping may
point at, what is wrong with it, and which codes would do instead."""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.orgs import org_id
from store.words import article
from store.xero.client import XeroClient
from store.xero.common import session
from store.xero.models import Account, MappingProblem, TaxRate
from store.xero.tokens import with_token

if TYPE_CHECKING:
    import sqlite_utils

# Which Xero account types each account mapping may point at.
ACCOUNT_TYPES: dict[str, tuple[str, ...]] = {
    "sales_account": ("REVENUE", "SALES"),
    "cogs_account": ("DIRECTCOSTS",),
    "inventory_account": ("CURRENT", "INVENTORY"),
    "purchase_account": ("EXPENSE", "DIRECTCOSTS", "OVERHEADS"),
    "freight_account": ("REVENUE", "SALES", "OTHERINCOME", "DIRECTCOSTS", "EXPENSE"),
    "adjustment_account": ("DIRECTCOSTS", "EXPENSE", "OVERHEADS"),
    "payment_account": ("BANK",),
}
TAX_KINDS = ("tax_rate",)


def stored_mappings(db: sqlite_utils.Database, oid: int) -> list[tuple[str, str, str]]:
    """The organisation's (kind, local, remote) mappings, by kind and local name."""
    return [
        (r[0], r[1], r[2])
        for r in db.execute(
            "SELECT kind, local, remote FROM mappings WHERE org_id = ? ORDER BY kind, local", [oid]
        ).fetchall()
    ]


def is_purchase(local: str) -> bool:
    """Whether a local tax is named as a purchase tax."""
    return "purchase" in local.lower()


def validate_mappings(
    db: sqlite_utils.Database, org: str, accounts: list[Account], tax_rates: list[TaxRate]
) -> list[MappingProblem]:
    """Every account and tax mapping of org that the given chart cannot honour.

    Raises UnknownOrganisation.
    """
    problems = (
        check_mapping(kind, local, remote, accounts, tax_rates)
        for kind, local, remote in stored_mappings(db, org_id(db, org))
    )
    return [p for p in problems if p is not None]


def check_mapping(
    kind: str, local: str, remote: str, accounts: list[Account], tax_rates: list[TaxRate]
) -> MappingProblem | None:
    """What is wrong with one mapping against a tenant's chart, or None if it is fine.

    Account mappings must name an ACTIVE, non-system account of a type that fits the mapping
    kind (ACCOUNT_TYPES); tax mappings an ACTIVE rate usable on sales (or, for a local tax
    named as a purchase tax, on purchases). Other kinds are not checked. The problem suggests
    the codes that would do.
    """
    if kind in TAX_KINDS:
        problem = _tax_problem({t.tax_type: t for t in tax_rates}.get(remote), remote, local)
        if not problem:
            return None
        purchase = is_purchase(local)
        good = tuple(
            t.tax_type
            for t in tax_rates
            if t.status == "ACTIVE"
            and (t.can_apply_to_expenses if purchase else t.can_apply_to_revenue)
        )
        return MappingProblem(kind, local, remote, problem, good)
    if kind.endswith("_account"):
        allowed = ACCOUNT_TYPES.get(kind)
        by_code = {a.code: a for a in accounts if a.code}
        problem = _account_problem(by_code.get(remote), remote, kind, allowed)
        if not problem:
            return None
        good = tuple(
            sorted(
                a.code
                for a in accounts
                if a.code
                and a.status == "ACTIVE"
                and not a.system_account
                and (allowed is None or a.type in allowed)
            )
        )
        return MappingProblem(kind, local, remote, problem, good)
    return None


def _account_problem(
    account: Account | None, code: str, kind: str, allowed: tuple[str, ...] | None
) -> str | None:
    if account is None:
        return f"account {code} does not exist in Xero (deleted or recoded)"
    if account.status != "ACTIVE":
        return f"account {code} ({account.name}) is {account.status} in Xero"
    if account.system_account:
        return (
            f"account {code} ({account.name}) is a Xero system account "
            f"({account.system_account}) and cannot be mapped"
        )
    if allowed and account.type not in allowed:
        if kind == "payment_account" and account.enable_payments:
            return None
        return (
            f"account {code} ({account.name}) is {account.type}; "
            f"{article(kind.replace('_', ' '))} must be {' or '.join(allowed)}"
        )
    return None


def _tax_problem(rate: TaxRate | None, tax_type: str, local: str) -> str | None:
    if rate is None:
        return f"tax rate {tax_type} does not exist in Xero"
    if rate.status != "ACTIVE":
        return f"tax rate {tax_type} ({rate.name}) is {rate.status} in Xero"
    if is_purchase(local) and not rate.can_apply_to_expenses:
        return f"tax rate {tax_type} ({rate.name}) cannot be used on purchases"
    if not is_purchase(local) and not rate.can_apply_to_revenue:
        return f"tax rate {tax_type} ({rate.name}) cannot be used on sales"
    return None


def problem_kind(problem: MappingProblem) -> str:
    """The knowledge-base kind of error a mapping problem causes on export."""
    if problem.kind in TAX_KINDS:
        return "tax_type_invalid"
    return (
        "account_code_removed" if "does not exist" in problem.problem else ("account_code_invalid")
    )


def tenant_chart(
    db: sqlite_utils.Database, org: str, tenant_id: str, *, client: XeroClient | None = None
) -> tuple[list[Account], list[TaxRate]]:
    """The chart of accounts and tax rates of one of org's authorised tenants.

    Raises UnknownOrganisation and XeroError (logged).
    """
    with session(db, client) as xero:
        accounts = with_token(db, org, xero, lambda t: xero.accounts(t, tenant_id))
        rates = with_token(db, org, xero, lambda t: xero.tax_rates(t, tenant_id))
    return accounts, rates
