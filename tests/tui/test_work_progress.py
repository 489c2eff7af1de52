"""Long work in the console: one progress display (a bar and "Retry 1/9 · sending INV-…"),
not a stack of notifications; `escape` stops it between items and the result says what was
done and what was not. Xero is the embedded sandbox, held back item by item by the test."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import notified, settle, until

from store.db import open_store
from store.xero import export
from store.xero.client import XeroClient
from tui.app import SyncdeskApp
from tui.screens.org import OrgScreen
from tui.widgets.progress import WorkProgress


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Semaphore]:
    """Each document sent waits for one release()."""
    gate = threading.Semaphore(0)
    send = export._send_document

    def held_send(*args, **kwargs):
        assert gate.acquire(timeout=20)
        return send(*args, **kwargs)

    monkeypatch.setattr(export, "_send_document", held_send)
    yield gate
    gate.release(50)  # nothing left waiting when the test ends


@pytest.fixture
def check_gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Semaphore]:
    """Each /connections asked (the live check's second step) waits for one release()."""
    gate = threading.Semaphore(0)
    connections = XeroClient.connections

    def held_connections(self, *args, **kwargs):
        assert gate.acquire(timeout=20)
        return connections(self, *args, **kwargs)

    monkeypatch.setattr(XeroClient, "connections", held_connections)
    yield gate
    gate.release(50)


def _line(screen) -> str:
    return str(screen.query_one(".work-progress-line").render())


def _display(screen: OrgScreen) -> WorkProgress:
    return screen.query_one(WorkProgress)


async def _open(pilot, code: str) -> OrgScreen:
    await settle(pilot)
    pilot.app.open_org(code)
    await until(pilot, lambda: isinstance(pilot.app.screen, OrgScreen))
    screen = pilot.app.screen
    await until(pilot, lambda: screen.detail is not None)  # loaded; the mappings' check waits
    return screen


def _waiting(store_path: Path, code: str) -> int:
    with open_store(store_path, read_only=True) as db:
        return db.execute(
            "SELECT count(*) FROM queue q JOIN orgs o ON o.id = q.org_id "
            "WHERE o.code = ? AND q.status IN ('held', 'failed')",
            [code],
        ).fetchone()[0]


async def test_retry_shows_one_display_and_escape_stops_it(
    store_path: Path, gate: threading.Semaphore
) -> None:
    before = _waiting(store_path, "KAURI")
    assert before == 9
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KAURI")
        await pilot.press("t")
        await until(pilot, lambda: _line(screen).startswith("Retry 0/9 · sending "))
        assert _display(screen).display and "escape cancels" in _line(screen)
        assert "cancel_work" in {b.action for _, b, _, _ in screen.active_bindings.values()}
        gate.release()  # the first document goes
        await until(pilot, lambda: _line(screen).startswith("Retry 1/9 · sending "))
        await pilot.press("escape")  # while the second is being sent
        await until(pilot, lambda: "cancelling after the current item" in _line(screen))
        assert app.screen is screen  # escape stopped the work, it did not leave the screen
        gate.release()  # the second document goes; the rest are not sent
        await until(pilot, lambda: any(m.startswith("Retry: ") for m in notified(app)))
        said = next(m for m in notified(app) if m.startswith("Retry: "))
        assert said.startswith("Retry: sent 2: ")
        assert said.endswith(
            "stopped: Cancelled after 2 of 9 documents; 7 not sent, still waiting in the queue."
        )
        await settle(pilot)
        assert not _display(screen).display  # the display has gone
        assert not [m for m in notified(app) if m.startswith("Retried")]  # no stack of toasts
        await pilot.press("escape")  # now escape goes back, as usual
        await settle(pilot)
        assert not isinstance(app.screen, OrgScreen)
    assert _waiting(store_path, "KAURI") >= 7


async def test_check_shows_its_steps_and_escape_says_what_was_not_checked(
    store_path: Path, check_gate: threading.Semaphore
) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "HARBOUR")
        await pilot.press("k")
        await until(pilot, lambda: _line(screen).startswith("Check 1/4 · asking Xero"))
        await pilot.press("escape")
        check_gate.release()
        await until(pilot, lambda: any(m.startswith("Check: ") for m in notified(app)))
        said = next(m for m in notified(app) if m.startswith("Check: "))
        assert said == (
            "Check: Cancelled after 2 of 4 steps; not done: reading the Xero organisation, "
            "reading the chart of accounts and tax rates."
        )
        await settle(pilot)
        assert not _display(screen).display
        assert "Cancelled after 2 of 4 steps" in str(screen.query_one("#org-check").render())


async def test_one_long_work_at_a_time(store_path: Path, check_gate: threading.Semaphore) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot, "KAURI")
        await pilot.press("k")
        await until(pilot, lambda: _line(screen).startswith("Check 1/4"))
        await pilot.press("t")
        await pilot.pause()
        assert "Check is still running; wait for it, or press escape to cancel it." in (
            notified(app)
        )
        assert _line(screen).startswith("Check 1/4")


async def test_the_wizards_verify_step_stops_between_documents(
    store_path: Path, gate: threading.Semaphore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IRONBARK's verify step retries 2 exports; escape while the first is sent stops it
    there, the step is recorded with what was sent and what was not, and the person is told."""
    from store.runs import latest_run
    from tui.screens.wizard import WizardScreen

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.push_screen(WizardScreen(store_path, "IRONBARK", actor="tester"))
        await settle(pilot)
        for _ in range(2):  # start, diagnose: verify is next
            await pilot.press("enter")
            await settle(pilot)
        screen = app.screen
        assert isinstance(screen, WizardScreen)
        await pilot.press("enter")  # verify: each document waits for the test
        await until(pilot, lambda: " 0/2 · sending " in _line(screen))
        await pilot.press("escape")
        await until(pilot, lambda: "cancelling after the current item" in _line(screen))
        assert app.screen is screen  # escape stopped the work, it did not leave the wizard
        gate.release()  # the first document goes; the second is not sent
        await until(pilot, lambda: not screen.busy)
        said = [m for m in notified(app) if "Cancelled after 1 of 2 documents" in m]
        assert len(said) == 1 and "1 not sent, still waiting in the queue" in said[0]
        assert not _display(screen).display
    with open_store(store_path, read_only=True) as db:
        verify = [s for s in latest_run(db, "IRONBARK").steps if s.name == "verify"][0]
    assert "Cancelled after 1 of 2 documents" in (verify.outcome or "")


async def test_a_wait_for_xero_shows_on_the_display(store_path: Path) -> None:
    """THISTLE's verify sat on "Working…" for 38 s while Xero's rate limit ran out: the wait
    is now said on the display, the count kept."""
    from textual.app import App, ComposeResult

    class One(App):
        def compose(self) -> ComposeResult:
            yield WorkProgress()

    app = One()
    async with app.run_test(size=(80, 10)) as pilot:
        display = app.query_one(WorkProgress)
        work = display.begin("Verify")
        work.progress(1, 3, "sending INV-0042")
        await until(pilot, lambda: "Verify 1/3 · sending INV-0042" in _line(display))
        with open_store(store_path) as db, work.xero(db) as xero:
            xero.on_wait(37, "Xero's minute limit")
        await until(
            pilot, lambda: "Verify 1/3 · waiting 37 s: Xero's minute limit" in _line(display)
        )
        display.end(work)
        await pilot.pause()
        assert not display.display
