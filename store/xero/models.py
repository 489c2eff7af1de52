"""What the Xero client returns and what checks and retries report: frozen dataclasses.

`from_json` reads Xero's own shapes (PascalCase for the Accounting API, camelCase for
/connections, snake_case for the token endpoint). Secrets are kept out of every repr.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from store.enums import State
from store.errors import XeroBadResponse
from store.models import to_json


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


@dataclass(frozen=True, slots=True)
class TokenSet:
    """What POST /connect/token returns. The tokens never show in a repr."""

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int
    token_type: str = "Bearer"
    scope: str | None = None
    id_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TokenSet:
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=_text(data.get("refresh_token")),
            expires_in=int(data.get("expires_in") or 1800),
            token_type=str(data.get("token_type") or "Bearer"),
            scope=_text(data.get("scope")),
            id_token=_text(data.get("id_token")),
        )


MAX_EXPIRES_IN = 86_400  # a token's lifetime longer than a day is not something Xero sends


def checked_tokens(data: dict[str, Any], grant_type: str) -> TokenSet:
    """The token response checked before anything is stored: an access token, a refresh token
    (Xero always rotates it), and an expires_in that is a whole number of seconds Xero could
    mean. Raises XeroBadResponse naming what is wrong."""
    expires = data.get("expires_in", 1800)
    problem = None
    if not isinstance(data.get("refresh_token"), str) or not data["refresh_token"]:
        problem = "no refresh token"
    elif isinstance(expires, bool) or not isinstance(expires, int | float | str):
        problem = f"expires_in {expires!r}"
    else:
        try:
            seconds = float(expires)
        except ValueError:
            seconds = math.nan
        whole = math.isfinite(seconds) and seconds == int(seconds)
        if not whole or not 0 < seconds <= MAX_EXPIRES_IN:
            problem = f"expires_in {str(expires)[:20]!r}"
    if problem is None and not isinstance(data.get("scope", ""), str | type(None)):
        problem = "a scope that is not text"
    if problem is not None:
        raise XeroBadResponse(
            f"Xero's token service answered the {grant_type or 'token'} request with {problem}; "
            "nothing was stored. Try again, and escalate if it persists.",
            log_message=f"Token refresh failed: unusable token response ({problem})",
        )
    return TokenSet.from_json({**data, "expires_in": int(float(expires))})


@dataclass(frozen=True, slots=True)
class Connection:
    """One tenant connection as GET /connections lists it."""

    id: str
    tenant_id: str
    tenant_name: str
    tenant_type: str = "ORGANISATION"
    auth_event_id: str | None = None
    created: str | None = None
    updated: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Connection:
        return cls(
            id=str(data["id"]),
            tenant_id=str(data["tenantId"]),
            tenant_name=str(data.get("tenantName") or ""),
            tenant_type=str(data.get("tenantType") or "ORGANISATION"),
            auth_event_id=_text(data.get("authEventId")),
            created=_text(data.get("createdDateUtc")),
            updated=_text(data.get("updatedDateUtc")),
        )


@dataclass(frozen=True, slots=True)
class Organisation:
    organisation_id: str | None
    name: str
    legal_name: str | None = None
    base_currency: str | None = None
    country_code: str | None = None
    version: str | None = None
    status: str | None = None
    is_demo_company: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Organisation:
        return cls(
            organisation_id=_text(data.get("OrganisationID")),
            name=str(data.get("Name") or ""),
            legal_name=_text(data.get("LegalName")),
            base_currency=_text(data.get("BaseCurrency")),
            country_code=_text(data.get("CountryCode")),
            version=_text(data.get("Version")),
            status=_text(data.get("OrganisationStatus")),
            is_demo_company=bool(data.get("IsDemoCompany")),
        )


@dataclass(frozen=True, slots=True)
class Account:
    code: str | None
    name: str
    type: str
    status: str = "ACTIVE"
    account_id: str | None = None
    tax_type: str | None = None
    system_account: str | None = None
    enable_payments: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Account:
        return cls(
            code=_text(data.get("Code")),
            name=str(data.get("Name") or ""),
            type=str(data.get("Type") or ""),
            status=str(data.get("Status") or "ACTIVE"),
            account_id=_text(data.get("AccountID")),
            tax_type=_text(data.get("TaxType")),
            system_account=_text(data.get("SystemAccount")),
            enable_payments=bool(data.get("EnablePaymentsToAccount")),
        )


@dataclass(frozen=True, slots=True)
class TaxRate:
    tax_type: str
    name: str
    status: str = "ACTIVE"
    rate: float | None = None
    can_apply_to_revenue: bool = True
    can_apply_to_expenses: bool = True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaxRate:
        rate = data.get("EffectiveRate", data.get("DisplayTaxRate"))
        return cls(
            tax_type=str(data.get("TaxType") or ""),
            name=str(data.get("Name") or ""),
            status=str(data.get("Status") or "ACTIVE"),
            rate=float(rate) if rate is not None else None,
            can_apply_to_revenue=bool(data.get("CanApplyToRevenue", True)),
            can_apply_to_expenses=bool(data.get("CanApplyToExpenses", True)),
        )


@dataclass(frozen=True, slots=True)
class TrackingCategory:
    tracking_category_id: str | None
    name: str
    status: str = "ACTIVE"
    options: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrackingCategory:
        return cls(
            tracking_category_id=_text(data.get("TrackingCategoryID")),
            name=str(data.get("Name") or ""),
            status=str(data.get("Status") or "ACTIVE"),
            options=tuple(
                str(o.get("Name") or "")
                for o in data.get("Options") or ()
                if (o.get("Status") or "ACTIVE") == "ACTIVE"
            ),
        )


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str | None
    name: str
    email: str | None = None
    contact_number: str | None = None
    status: str = "ACTIVE"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Contact:
        return cls(
            contact_id=_text(data.get("ContactID")),
            name=str(data.get("Name") or ""),
            email=_text(data.get("EmailAddress")),
            contact_number=_text(data.get("ContactNumber")),
            status=str(data.get("ContactStatus") or "ACTIVE"),
        )


# --- what checks and retries report ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Finding:
    """One line of a health check: what was checked, whether it passed, and the fix if not."""

    check: str
    ok: bool
    detail: str
    fix: str | None = None
    kind: str | None = None  # the knowledge-base kind this problem shows up as in the log


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Everything `syncdesk check` found for one organisation."""

    org: str
    findings: tuple[Finding, ...]
    tenant_id: str | None = None
    tenant_name: str | None = None
    state: State | None = None  # the state after the check (a check may record `disconnected`)

    @property
    def healthy(self) -> bool:
        return all(f.ok for f in self.findings)

    @property
    def problems(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.ok)

    def to_json(self) -> list[dict[str, Any]]:
        # `check --json` prints the findings alone.
        return to_json(self.findings)


@dataclass(frozen=True, slots=True)
class LiveCheck:
    """What Xero said about one organisation, before the lifecycle records any of it."""

    org: str
    state: State  # the integration's state when the check began
    findings: tuple[Finding, ...]
    tenant_id: str | None = None
    tenant_name: str | None = None
    removed: str | None = None  # why Xero no longer has the connection; None while it has


@dataclass(frozen=True, slots=True)
class MappingProblem:
    """A mapping that the tenant's chart of accounts or tax rates cannot honour."""

    kind: str
    local: str
    remote: str
    problem: str
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RetryReport:
    """Queue counts before and after a retry, and what happened to what was sent."""

    org: str
    before: dict[str, int]
    after: dict[str, int]
    sent: int
    exported: int
    failed: int
    stopped_reason: str | None = None
    stopped_kind: str | None = None
    failures: tuple[tuple[str, str], ...] = ()  # (document number, Xero's message)


@dataclass(frozen=True, slots=True)
class RetrySent:
    """What one pass over the held and failed exports sent, before its summary is recorded."""

    org: str
    before: dict[str, int]
    queued: int  # held and failed exports found
    sent: int
    exported: int
    failed: int
    stopped_reason: str | None = None
    stopped_kind: str | None = None
    failures: tuple[tuple[str, str], ...] = ()
    removed: str | None = None  # why Xero no longer has the connection, when a send said so
