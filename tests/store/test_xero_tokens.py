"""Tokens that survive a crash: a token response is checked before anything is stored, the
rotated pair is stored in one transaction, and after a crash between Xero's answer and the
store the previous refresh token still works within Xero's 30-minute grace."""

from __future__ import annotations

import json

import pytest
from support import sandbox_client

from store.errors import XeroBadResponse, XeroInvalidGrant
from store.orgs import org_id
from store.xero.config import client_from_env
from store.xero.tokens import ensure_token


def _stored(db, code: str) -> tuple:
    return tuple(
        db.execute(
            "SELECT c.access_token, c.refresh_token, i.token_expires_at FROM credentials c "
            "JOIN integrations i ON i.org_id = c.org_id WHERE c.org_id = ?",
            [org_id(db, code)],
        ).fetchone()
    )


def test_a_crash_after_xeros_answer_is_survived_within_the_grace(db, clock) -> None:
    client = sandbox_client(db, clock)
    before = _stored(db, "HARBOUR")
    client.refresh(before[1])  # Xero rotated; the process died before storing the answer
    assert _stored(db, "HARBOUR") == before
    clock.sleep(20 * 60)
    token = ensure_token(db, "HARBOUR", client, force=True)
    after = _stored(db, "HARBOUR")
    assert token == after[0] and after[1] != before[1]
    assert client.connections(token)


def test_after_the_grace_the_organisation_must_reconnect(db, clock) -> None:
    client = sandbox_client(db, clock)
    before = _stored(db, "HARBOUR")
    client.refresh(before[1])
    clock.sleep(31 * 60)
    with pytest.raises(XeroInvalidGrant):
        ensure_token(db, "HARBOUR", client, force=True)


@pytest.mark.parametrize(
    "answer",
    [
        {"expires_in": "abc"},
        {"expires_in": 1e300},
        {"expires_in": float("nan")},
        {"expires_in": -5},
        {"expires_in": True},
        {"refresh_token": None},
        {"refresh_token": ""},
        {"scope": ["not", "text"]},
    ],
    ids=lambda a: json.dumps(a, default=str)[:40],
)
def test_an_unusable_token_response_stores_nothing(stub_env, db, clock, answer) -> None:
    body = {
        "access_token": "stub-at-new",
        "refresh_token": "stub-rt-new",
        "expires_in": 1800,
        "token_type": "Bearer",
        **answer,
    }
    raw = json.dumps(body).encode()  # NaN as Python writes it: not JSON either
    stub_env.answer("POST", "/identity/connect/token", (200, {}, raw))
    client = client_from_env(db, sleep=clock.sleep, clock=clock.monotonic, retries=0)
    before = _stored(db, "HARBOUR")
    with pytest.raises(XeroBadResponse, match="nothing was stored"):
        ensure_token(db, "HARBOUR", client, force=True)
    assert _stored(db, "HARBOUR") == before
