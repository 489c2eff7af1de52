"""Connecting and disconnecting an organisation in Xero: authorise the app again, revoke it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from store.enums import Level
from store.errors import XeroConsentRequired, XeroError, XeroInvalidGrant, XeroNotFound
from store.logs import record
from store.orgs import org_id
from store.xero.client import XeroClient
from store.xero.common import integration_row, log_error, session
from store.xero.consent import fresh_consent, record_granted
from store.xero.models import Connection
from store.xero.sandbox import SANDBOX_REDIRECT
from store.xero.tokens import store_tokens, with_token

if TYPE_CHECKING:
    import sqlite_utils


def revoke(
    db: sqlite_utils.Database,
    org: str,
    *,
    client: XeroClient | None = None,
    connection_id: str | None = None,
    tenant_id: str | None = None,
) -> bool:
    """Remove org's connection in Xero if Xero still has it; True if one was deleted.

    The connection is the one given (an uninstall's recorded intent), else the stored one.
    Nothing to delete (connection already gone, 404) is not an error. Raises
    UnknownOrganisation and XeroError (invalid_grant included) for failures that may leave
    the connection in place.
    """
    oid = org_id(db, org)
    stored = integration_row(db, oid)
    if connection_id or tenant_id:
        stored = {**stored, "connection_id": connection_id, "tenant_id": tenant_id}
    with session(db, client) as xero:
        # An invalid grant propagates: the connection may well still be there in Xero, and
        # only someone in Xero can remove it now (the caller says so).
        connections = with_token(db, org, xero, xero.connections)
        mine = next(
            (
                x
                for x in connections
                if x.id == stored.get("connection_id") or x.tenant_id == stored.get("tenant_id")
            ),
            None,
        )
        if mine is None:
            return False
        try:
            with_token(db, org, xero, lambda t: xero.delete_connection(t, mine.id), log=False)
        except XeroNotFound:
            return False
        except XeroError as exc:
            log_error(db, org, exc)
            raise
    record(
        db,
        org,
        Level.INFO,
        f'Xero connection removed for tenant "{mine.tenant_name}" ({mine.tenant_id})',
    )
    return True


def authorise(
    db: sqlite_utils.Database, org: str, *, client: XeroClient | None = None
) -> list[Connection]:
    """Authorise the app again for org's Xero user; returns the tenants it can now reach.

    Against the sandbox this plays the consent screen (every tenant of the user connected) and
    exchanges the code; the new tokens are stored. The real API needs a person in a browser:
    within 10 minutes of their consent (store.xero.consent) its tokens list the tenants, else
    raises XeroConsentRequired. Also raises UnknownOrganisation and XeroError.
    """
    oid = org_id(db, org)
    with session(db, client) as xero:
        sandbox = xero.sandbox
        if sandbox is None and fresh_consent(db, oid):
            # A person consented in the last 10 minutes (reconnect --redirect-url, the
            # console's consent dialog): its tokens list what they connected.
            return with_token(db, org, xero, xero.connections)
        if sandbox is None:
            code_name = integration_row(db, oid).get("code", org)
            raise XeroConsentRequired(
                "Authorising a real Xero organisation needs a person to sign in to Xero in a "
                f"browser: make the link with `syncdesk reconnect {code_name} --auth-url` "
                f"(or wait for the browser with --listen), then complete it with "
                f"`syncdesk reconnect {code_name} --redirect-url ADDRESS`."
            )
        code = sandbox.consent(oid, SANDBOX_REDIRECT, scope=xero.scopes)
        try:
            tokens = xero.exchange_code(code, SANDBOX_REDIRECT)
            store_tokens(db, oid, tokens)
            connections = xero.connections(tokens.access_token)
        except XeroError as exc:
            log_error(db, org, exc)
            raise
    record_granted(db, org, connections, "authorisation")
    return connections


def tenant_listed(
    db: sqlite_utils.Database, org: str, *, client: XeroClient | None = None
) -> bool | None:
    """Whether Xero's /connections still lists org's tenant: True, False, or None when Xero
    could not be asked (a 403 elsewhere is then not taken for a disconnection)."""
    stored = integration_row(db, org_id(db, org))
    try:
        with session(db, client) as xero:
            connections = with_token(db, org, xero, xero.connections)
    except XeroInvalidGrant:
        return False  # the token endpoint says the grant is gone
    except XeroError:
        return None
    return any(
        c.tenant_id == stored.get("tenant_id") or c.id == stored.get("connection_id")
        for c in connections
    )
