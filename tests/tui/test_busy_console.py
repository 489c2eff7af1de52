"""A store another session is writing: the console says it is waiting, keeps trying for a
bounded time (STORE_PATIENCE), then either goes on or says, in the command line's words, that
nothing was changed. The lock is real: BEGIN IMMEDIATE on another connection, in a thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import notified, settle, until

from store.db import open_store
from store.transitions import integration
from tui.app import SyncdeskApp
from tui.screens import base
from tui.screens.org import OrgScreen
from tui.widgets.modals import Confirm


class Holder:
    """Another session holding the store's write lock on its own thread until released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.held, self.release = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()
        assert self.held.wait(5)

    def _hold(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        self.held.set()
        self.release.wait(30)
        conn.execute("ROLLBACK")
        conn.close()

    def let_go(self) -> None:
        self.release.set()
        self.thread.join(5)


@pytest.fixture
def holder(store_path: Path) -> Iterator[list[Holder]]:
    held: list[Holder] = []
    yield held
    for h in held:
        h.let_go()


def _state(path: Path) -> str:
    with open_store(path, read_only=True) as db:
        return integration(db, "HARBOUR").state


async def _deactivate_while_held(pilot, store_path: Path, holder: list[Holder]) -> OrgScreen:
    await settle(pilot)
    pilot.app.open_org("HARBOUR")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, OrgScreen)
    await pilot.press("d")
    await settle(pilot)
    assert isinstance(pilot.app.screen, Confirm)
    holder.append(Holder(store_path))
    await pilot.press("y")
    return screen


def _waiting(app) -> list[str]:
    return [m for m in notified(app) if m.startswith(base.WAITING)]


async def test_released_mid_wait_the_action_goes_on(store_path: Path, holder) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _deactivate_while_held(pilot, store_path, holder)
        await until(pilot, lambda: _waiting(app))
        assert _waiting(app) == [f"{base.WAITING} (up to 10 s)"]
        assert _state(store_path) == "active"  # still waiting, nothing done
        holder[0].let_go()
        await until(pilot, lambda: any(m.startswith("Deactivate:") for m in notified(app)))
        await settle(pilot)
        assert not [m for m in notified(app) if "busy" in m]
    assert _state(store_path) == "inactive"


async def test_never_released_it_gives_up_and_says_so(
    store_path: Path, holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "STORE_PATIENCE", 1.5)  # the bound, shortened for the test
    app = SyncdeskApp(store_path)
    told: list[str] = []  # every notification as it is made: the waiting one lasts 1.5 s here
    shown = app.notify
    monkeypatch.setattr(app, "notify", lambda text, **kw: told.append(text) or shown(text, **kw))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _deactivate_while_held(pilot, store_path, holder)
        started = time.monotonic()
        await until(pilot, lambda: any("is busy" in m for m in notified(app)))
        waited = time.monotonic() - started
        assert 1 <= waited < 5, waited  # about the bound: not the 5 s of each try, not forever
        said = next(m for m in notified(app) if "is busy" in m)
        assert said == (
            f"the store {store_path} is busy: another session kept it locked for over 1.5 s, "
            "so nothing was changed; try again in a moment."
        )
        assert [m for m in told if m.startswith(base.WAITING)]  # it had said it was waiting
        assert app.screen is screen and app.is_running
    assert _state(store_path) == "active"
