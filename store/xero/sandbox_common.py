"""What every part of the embedded Xero answers with: Xero's response shapes and time formats."""

from __future__ import annotations

import calendar
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

NS = uuid.UUID("6f1c1c8e-8c9a-4f7e-9a51-5d0c3c1b2a77")  # stable ids for tenants' records


class Answer(Exception):
    """Stop handling a request and send this response."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response


def iso_time(epoch: float) -> str:
    """A store time ('YYYY-MM-DDTHH:MM:SSZ') for epoch seconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def epoch_of(stamp: str | None) -> float:
    """Epoch seconds of a store time ('YYYY-MM-DDTHH:MM:SSZ'); 0 for none."""
    if not stamp:
        return 0.0
    return float(calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")))


def msdate(epoch: float) -> str:
    """Xero's /Date(milliseconds+0000)/ form."""
    return f"/Date({int(epoch * 1000)}+0000)/"


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        status,
        content=json.dumps(body).encode(),
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )


def text_response(status: int, text: str, headers: dict[str, str] | None = None):
    return httpx.Response(
        status,
        content=text.encode(),
        headers={"Content-Type": "text/plain; charset=utf-8", **(headers or {})},
    )


def problem(status: int, title: str, detail: str, headers: dict[str, str] | None = None):
    """Xero's problem+json body, as the Accounting API sends with 401, 403, 404 and 5xx."""
    body = {
        "Type": None,
        "Title": title,
        "Status": status,
        "Detail": detail,
        "Instance": str(uuid.uuid4()),
        "Extensions": {},
    }
    return json_response(status, body, headers)


def envelope(clock: Callable[[], float], key: str, items: list[Any]) -> httpx.Response:
    """A 200 from the Accounting API: the items under `key` in Xero's envelope."""
    return json_response(
        200,
        {
            "Id": str(uuid.uuid4()),
            "Status": "OK",
            "ProviderName": "syncdesk",
            "DateTimeUTC": f"/Date({int(clock() * 1000)})/",
            key: items,
        },
    )
