"""Shared fixtures: one frozen clock, one demo store built at that instant, one Xero sandbox.

Every test runs with the store's clock (store/clock.py) frozen at NOW, in-process and, through
SYNCDESK_NOW, in every CLI or console process a test starts. The demo store is built as of NOW,
so "the last 24 h", the 7-day trend and token expiry read the same on any real date. Data that
must look recent is written relative to NOW (or `clock.now()`), never to a date in a test.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("xero_stub", "support")

from support import NOW, FakeClock, run_cli, sandbox_client  # noqa: E402
from xero_stub import XeroStub  # noqa: E402

from store import clock as store_clock  # noqa: E402
from store import db as store_db  # noqa: E402
from store import paths as store_paths  # noqa: E402
from store.db import open_store  # noqa: E402
from store.generate import build_store  # noqa: E402
from store.xero.client import XeroClient  # noqa: E402

XERO_ENV = (
    "SYNCDESK_XERO_CLIENT_ID",
    "SYNCDESK_XERO_CLIENT_SECRET",
    "SYNCDESK_XERO_API_URL",
    "SYNCDESK_XERO_IDENTITY_URL",
    "SYNCDESK_XERO_LOGIN_URL",
    "SYNCDESK_XERO_REDIRECT_URI",
    "SYNCDESK_XERO_SCOPES",
    "SYNCDESK_XERO_TIMEOUT",
    "SYNCDESK_XERO_RETRIES",
)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[datetime]:
    """The store's clock stands at NOW for this test and every process it starts."""
    monkeypatch.setenv(store_clock.ENV, NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))
    store_clock.freeze(NOW)
    yield NOW
    store_clock.thaw()


@pytest.fixture(autouse=True)
def writable_session() -> Iterator[None]:
    """A --read-only command run in-process leaves its process read-only; not the next test."""
    yield
    store_db.set_read_only(None)


@pytest.fixture(autouse=True)
def no_real_xero(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test may reach the real Xero: without these (and without a config file), syncdesk
    uses its embedded sandbox.

    Tests of the real client set them again, pointing at a server on 127.0.0.1.
    """
    for name in XERO_ENV:
        monkeypatch.delenv(name, raising=False)
    config = tmp_path_factory.mktemp("config") / "config.toml"
    monkeypatch.setenv("SYNCDESK_CONFIG", str(config))  # a file no test has written


@pytest.fixture
def now() -> datetime:
    return NOW


# --- stores ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "demo.db"
    with store_clock.frozen(NOW):
        build_store(path, now=NOW)
    return path


@pytest.fixture
def store_path(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo store."""
    path = tmp_path / "store.db"
    shutil.copy(demo_template, path)
    return path


@pytest.fixture
def cli(capsys: Any, store_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`syncdesk --db DB ARGS` in-process: (exit code, stdout, stderr), never a traceback.

    DB is the test's copy of the demo store unless `db=` names another.
    """
    monkeypatch.delenv("SYNCDESK_DB", raising=False)

    def invoke(*args: str, db: Path = store_path) -> tuple[int, str, str]:
        return run_cli(capsys, "--db", str(db), *args)

    return invoke


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The embedded sandbox (no real-Xero settings), no long backoffs, packets written under
    tmp_path (returned)."""
    for name in (
        "SYNCDESK_XERO_CLIENT_ID",
        "SYNCDESK_XERO_CLIENT_SECRET",
        "SYNCDESK_XERO_API_URL",
        "SYNCDESK_XERO_IDENTITY_URL",
        "SYNCDESK_DB",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SYNCDESK_XERO_RETRIES", "0")
    monkeypatch.setenv("SYNCDESK_XERO_TIMEOUT", "0.3")
    packets = tmp_path / "packets"
    monkeypatch.setattr(store_paths, "packets_dir", lambda: packets)
    return packets


@pytest.fixture
def db(store_path: Path) -> Iterator[Any]:
    database = open_store(store_path)
    yield database
    database.conn.close()


# --- Xero --------------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def xero(db: Any, clock: FakeClock) -> Iterator[XeroClient]:
    client = sandbox_client(db, clock)
    yield client
    client.close()


@pytest.fixture
def xero_later(db: Any, clock: FakeClock) -> Iterator[Any]:
    """A sandbox client made when first asked, after the test built its organisations (a
    transport made before an import answers for the organisations it knew)."""
    made: list[XeroClient] = []

    def client() -> XeroClient:
        if not made:
            made.append(sandbox_client(db, clock))
        return made[0]

    yield client
    for c in made:
        c.close()


@pytest.fixture
def stub() -> Iterator[XeroStub]:
    """A real HTTP server on 127.0.0.1 answering as Xero does (see xero_stub.py)."""
    server = XeroStub()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(2)


@pytest.fixture
def stub_env(stub: XeroStub, monkeypatch: pytest.MonkeyPatch) -> XeroStub:
    """The environment that points client_from_env at the stub."""
    monkeypatch.setenv("SYNCDESK_XERO_API_URL", stub.api_url)
    monkeypatch.setenv("SYNCDESK_XERO_IDENTITY_URL", stub.identity_url)
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_ID", "stub-id")
    monkeypatch.setenv("SYNCDESK_XERO_CLIENT_SECRET", "stub-secret")
    monkeypatch.setenv("SYNCDESK_XERO_LOGIN_URL", stub.login_url)
    monkeypatch.setenv("SYNCDESK_XERO_REDIRECT_URI", "http://localhost:8765/callback")
    return stub
