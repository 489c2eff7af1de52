"""Contract tests: every kind of request the client sends and every answer the sandbox gives
(successes and error bodies) validated with openapi-core against Xero's own OpenAPI files in
../shared/xero-openapi/ (accounting v16.1.0 and identity).

Errata of the contract corrected before use (noted here, as the files are Xero's):
- boolean `default`/`example` values written as strings ("false") fail the OpenAPI schema
  itself: turned into booleans;
- read-only fields with defaults (HasErrors, IsDiscounted, ... `readOnly: true, default: false`):
  openapi-core would fill them into request bodies and then refuse them as read-only; their
  defaults are dropped;
- the identity file spells the path /Connections, Xero serves it (and documents it) as
  /connections: paths are matched case-insensitively;
- the token endpoint (identity.xero.com/connect/token) and Xero's plain-text offline 503 are not
  in the contract: not validated here (test_xero_http.py and test_xero_tokens.py cover them);
- the accounting operations list no 401 or 403 answer: those bodies are checked here against
  the problem shape Xero documents (Title, Status, Detail, Instance) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from support import sandbox_client

openapi_core = pytest.importorskip("openapi_core")
from openapi_core import OpenAPI  # noqa: E402
from openapi_core.datatypes import RequestParameters  # noqa: E402
from openapi_core.templating.responses.exceptions import ResponseNotFound  # noqa: E402
from werkzeug.datastructures import Headers, ImmutableMultiDict  # noqa: E402

from store.errors import XeroError  # noqa: E402
from store.orgs import org_id  # noqa: E402
from store.xero.export import build_document  # noqa: E402
from store.xero.mappings import stored_mappings  # noqa: E402
from store.xero.sandbox import SandboxTransport  # noqa: E402
from store.xero.tokens import ensure_token  # noqa: E402

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "xero-openapi"
if not CONTRACT.exists():
    CONTRACT = Path("/work/shared/xero-openapi")
HARBOUR = "0b6c7f0e-3c1a-4d52-9a57-6f3f2a4e8d11"
# The contracts' OAuth2 security scheme is one openapi-core does not check (it warns).
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type")


def _fix(node: Any) -> None:
    """The errata above, applied in place."""
    if isinstance(node, dict):
        if node.get("type") == "boolean":
            for key in ("default", "example"):
                value = node.get(key)
                if isinstance(value, str) and value.lower() in ("true", "false"):
                    node[key] = value.lower() == "true"
        if node.get("readOnly") and "default" in node:
            del node["default"]
        for value in node.values():
            _fix(value)
    elif isinstance(node, list):
        for value in node:
            _fix(value)


def _load(name: str) -> tuple[OpenAPI, dict[str, str]]:
    path = CONTRACT / name
    if not path.exists():
        pytest.skip(f"the contract {path} is not here")
    data = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    _fix(data)
    return OpenAPI.from_dict(data), {p.lower(): p for p in data["paths"]}


@pytest.fixture(scope="module")
def contracts() -> dict[str, tuple[OpenAPI, dict[str, str]]]:
    return {"accounting": _load("xero_accounting.yaml"), "identity": _load("xero-identity.yaml")}


class _Request:
    """An httpx.Request as openapi-core's Request protocol, on the contract's own host."""

    def __init__(self, request: httpx.Request, path: str, host: str) -> None:
        self.host_url = host
        self.path = path
        self.method = request.method.lower()
        self.body = request.content or None
        self.content_type = request.headers.get("Content-Type", "application/json")
        query = parse_qs(urlsplit(str(request.url)).query)
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(query),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.headers = Headers(dict(response.headers))
        self.content_type = response.headers.get("Content-Type", "application/json")
        self.data = response.content or None


class Recorder(httpx.BaseTransport):
    """The sandbox, keeping every request and answer."""

    def __init__(self, inner: SandboxTransport) -> None:
        self.inner = inner
        self.seen: list[tuple[httpx.Request, httpx.Response]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.seen.append((request, response))
        return response


def _contract_for(request: httpx.Request, contracts: dict) -> tuple | None:
    path = request.url.path
    if path.lower().startswith("/api.xro/2.0/"):
        api, paths = contracts["accounting"]
        return api, paths, "https://api.xero.com/api.xro/2.0", path[len("/api.xro/2.0") :]
    if path.lower().startswith("/connections"):
        api, paths = contracts["identity"]
        return api, paths, "https://api.xero.com", path
    return None  # the token endpoint: not in the contract


def _spec_path(paths: dict[str, str], path: str) -> str:
    """The contract's spelling of a path (Xero's paths are case-insensitive)."""
    parts = path.split("/")
    for key, spelled in paths.items():
        template = key.split("/")
        if len(template) == len(parts) and all(
            t.startswith("{") or t == p.lower() for t, p in zip(template, parts, strict=True)
        ):
            return "/".join(
                p if s.startswith("{") else s
                for s, p in zip(spelled.split("/"), parts, strict=True)
            )
    return path


def _problem_body(response: httpx.Response) -> bool:
    """Xero's problem body for a 401/403: Title, Status (the status), Detail, Instance."""
    try:
        body = response.json()
    except ValueError:
        return False
    return (
        isinstance(body, dict)
        and body.get("Status") == response.status_code
        and all(isinstance(body.get(k), str) for k in ("Title", "Detail", "Instance"))
    )


def _validate(seen: list, contracts: dict) -> tuple[int, list[str]]:
    checked, problems = 0, []
    for request, response in seen:
        found = _contract_for(request, contracts)
        if found is None:
            continue
        api, paths, server, path = found
        spelled = _spec_path(paths, path)
        host, _, base = server.partition("//")[2].partition("/")
        wrapped = _Request(request, ("/" + base if base else "") + spelled, f"https://{host}")
        where = f"{request.method} {path} -> {response.status_code}"
        answer = _Response(response)
        for what, call, args in (
            ("request", api.validate_request, (wrapped,)),
            ("response", api.validate_response, (wrapped, answer)),
        ):
            try:
                call(*args)
            except ResponseNotFound:
                if response.status_code not in (401, 403) or not _problem_body(response):
                    problems.append(f"{where}: {what}: not in the contract")
            except Exception as exc:  # every contract violation, named
                cause = getattr(exc, "__cause__", None)
                detail = getattr(exc, "schema_errors", None) or cause or exc
                problems.append(f"{where}: {what}: {type(exc).__name__}: {str(detail)[:400]}")
        checked += 1
    return checked, problems


def test_every_call_and_answer_conforms(db, clock, contracts) -> None:
    recorder = Recorder(SandboxTransport(db, clock=clock.time))
    client = sandbox_client(db, clock)
    client._http._transport = recorder  # the same sandbox, recorded
    oid = org_id(db, "HARBOUR")
    token = ensure_token(db, "HARBOUR", client, force=True)
    client.connections(token)
    client.organisation(token, HARBOUR)
    client.accounts(token, HARBOUR)
    client.tax_rates(token, HARBOUR)
    client.tracking_categories(token, HARBOUR)
    client.contacts_by_email(token, HARBOUR, 'a"b@example.com')
    mappings = stored_mappings(db, oid)
    row = {
        "number": "SI-CONTRACT-1",
        "amount": 120.0,
        "created_at": "2026-11-20T10:00:00Z",
        "currency": "NZD",
        "contact": "Contract Cafe",
    }
    for doc_type in ("sales_invoice", "bill", "credit_note", "supplier_return", "sales_journal"):
        resource, document = build_document({**row, "doc_type": doc_type}, mappings, {})
        create = {
            "Invoices": client.create_invoice,
            "CreditNotes": client.create_credit_note,
            "ManualJournals": client.create_manual_journal,
        }[resource]
        create(token, HARBOUR, document)
    client.find_documents(token, HARBOUR, "Invoices", "SI-CONTRACT-1")
    client.find_documents(token, HARBOUR, "CreditNotes", "SI-CONTRACT-1")
    # error answers: validation (bad account), 401, 403 (a tenant the grant does not reach)
    _, bad = build_document({**row, "doc_type": "sales_invoice", "number": "SI-X"}, [], {})
    bad["LineItems"][0]["AccountCode"] = "NOPE"
    for failing in (
        lambda: client.create_invoice(token, HARBOUR, bad),
        lambda: client.accounts("sbx-at-not-a-token", HARBOUR),
        lambda: client.accounts(token, "1d2e3f40-5a6b-4c7d-8e9f-0a1b2c3d4e5f"),
    ):
        with pytest.raises(XeroError):
            failing()
    checked, problems = _validate(recorder.seen, contracts)
    assert checked == 16  # every call but the token refresh (not in the contract)
    assert not problems, "\n".join(problems)


def test_the_validation_catches_a_wrong_shape(db, clock, contracts) -> None:
    """The check above is not vacuous: an answer off the contract is reported."""
    recorder = Recorder(SandboxTransport(db, clock=clock.time))
    client = sandbox_client(db, clock)
    client._http._transport = recorder
    token = ensure_token(db, "HARBOUR", client, force=True)
    client.accounts(token, HARBOUR)
    request, response = recorder.seen[-1]
    body = response.json()
    body["Accounts"][0]["Type"] = "NOT-A-TYPE"
    wrong = httpx.Response(200, json=body, headers={"Content-Type": "application/json"})
    checked, problems = _validate([(request, wrong)], contracts)
    assert checked == 1 and len(problems) == 1 and "response" in problems[0]
