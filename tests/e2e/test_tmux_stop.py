"""Work that can be stopped, in a real terminal: `q` quits at once while Xero does not answer."""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from e2e.test_tmux import Terminal
from support import wait_until
from xero_stub import XeroStub

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

HANGS = 30.0  # seconds Xero takes to answer: far longer than anyone waits to quit
ROUTES = (
    ("POST", "/identity/connect/token"),
    ("GET", "/api/connections"),
    ("GET", "/api/api.xro/2.0/Organisation"),
    ("GET", "/api/api.xro/2.0/Accounts"),
    ("GET", "/api/api.xro/2.0/TaxRates"),
)


@pytest.mark.parametrize("key", ["q", "C-q"])
def test_quit_is_at_once_while_a_xero_call_hangs(store_path: Path, stub: XeroStub, key) -> None:
    for method, path in ROUTES:
        stub.answer(method, path, (200, {}, b"{}", HANGS))
    env = {
        "SYNCDESK_DB": str(store_path),
        "TERM": "xterm-256color",
        "PYTHONPATH": os.pathsep.join(sys.path),
        "SYNCDESK_NOW": os.environ["SYNCDESK_NOW"],
        "SYNCDESK_XERO_API_URL": stub.api_url,
        "SYNCDESK_XERO_IDENTITY_URL": stub.identity_url,
        "SYNCDESK_XERO_CLIENT_ID": "stub-id",
        "SYNCDESK_XERO_CLIENT_SECRET": "stub-secret",
        "SYNCDESK_XERO_REDIRECT_URI": "http://localhost:8765/callback",  # real Xero needs it
    }
    term = Terminal([sys.executable, "-m", "tui"], 80, 24, env)
    try:
        term.wait_for("q Quit")
        term.filter("harbour")
        term.keys("Enter")
        term.wait_for("Integration", "State: active")
        term.keys("k")  # the live check: its calls hang
        wait_until(lambda: any(path != "/identity/connect/token" for _, path, _ in stub.seen))
        started = time.monotonic()
        term.keys(key)
        term.wait_for("EXITED 0", timeout=HANGS / 2)
        took = time.monotonic() - started
        # Within a second, plus the reading of the screen (two captures 0.1 s apart, each a
        # tmux process) on a loaded machine.
        assert took < 2.0, f"quitting took {took:.1f} s while Xero hung"
    finally:
        term.close()
