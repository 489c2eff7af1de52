"""A read-only console (--read-only, or a store the file system does not let this user write):
the header says so, the keys that change things are hidden from the footer and `?`, and pressed
anyway they are refused with one line; nothing changes."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import notified, settle
from textual.content import Content

from store.db import open_store
from store.runs import latest_run
from store.transitions import integration
from tui.app import SyncdeskApp
from tui.screens.keys import sections
from tui.screens.org import OrgScreen
from tui.screens.wizard import WizardScreen
from tui.widgets.key_footer import KeyFooter

ORG_CHANGES = {"check", "retry", "deactivate", "activate", "uninstall", "reconnect", "map"}


def _shown(app: SyncdeskApp) -> set[str]:
    """The actions whose keys the footer and `?` offer on the current screen."""
    return {binding.action for _, binding, _, _ in app.screen.active_bindings.values()}


# What the organisation screen's changing keys are called in its footer and under ?.
ORG_CHANGE_WORDS = {"Check", "Retry", "Fix map", "Deactivate", "Activate", "Uninstall"}


def _offered(app: SyncdeskApp) -> tuple[set[str], set[str]]:
    """What the screen's own footer (at any width) and its ? dialog list."""
    footer = {binding.description for binding, _, _ in app.screen.query_one(KeyFooter).fitted(200)}
    listed = {line.description for _, lines in sections(app.screen, app) for line in lines}
    return footer, listed


def _header(app: SyncdeskApp) -> str:
    title = app.format_title(app.screen.title or app.title, app.screen.sub_title or "")
    assert isinstance(title, Content)
    return title.plain


def _state(store_path: Path, code: str) -> tuple[str, int]:
    with open_store(store_path, read_only=True) as db:
        found = integration(db, code)
        return found.state, found.version


async def _refused_keys(app: SyncdeskApp, pilot, store_path: Path, reason: str) -> None:
    before = _state(store_path, "HARBOUR")
    await settle(pilot)
    assert _header(app).startswith("READ-ONLY")
    app.open_org("HARBOUR")
    await settle(pilot)
    assert isinstance(app.screen, OrgScreen)
    assert _header(app).startswith("READ-ONLY syncdesk · HARBOUR")
    shown = _shown(app)
    assert not shown & ORG_CHANGES, shown
    assert {"logs", "wizard"} <= shown  # looking is still offered
    footer, listed = _offered(app)
    assert not (footer | listed) & ORG_CHANGE_WORDS, (footer, listed)
    assert "Log" in footer and "Log" in listed and "Keys" in footer
    for key in ("d", "k", "t", "u"):
        await pilot.press(key)
        await settle(pilot)
        assert isinstance(app.screen, OrgScreen)  # no confirmation dialog opened
    said = [m for m in notified(app) if "read-only" in m]
    assert said and all(m == said[0] for m in said) and len(said[0].splitlines()) == 1
    assert f"read-only ({reason})" in said[0]
    assert not app.screen.query_one("#org-check").display  # the live check never ran
    app.open_wizard("HARBOUR")
    await settle(pilot)
    assert isinstance(app.screen, WizardScreen)
    assert not _shown(app) & set(WizardScreen.CHANGES)
    assert {"perform", "override", "start_new", "note", "take_over"} <= WizardScreen.CHANGES
    await pilot.press("enter")
    await settle(pilot)
    assert _state(store_path, "HARBOUR") == before
    with open_store(store_path, read_only=True) as db:
        assert latest_run(db, "HARBOUR") is None  # enter did not start a run


async def test_read_only_flag(store_path: Path) -> None:
    app = SyncdeskApp(store_path, read_only=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await _refused_keys(app, pilot, store_path, "--read-only")
        assert "start syncdesk without --read-only" in notified(app)[-1]


async def test_a_writable_console_offers_and_does(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert not _header(app).startswith("READ-ONLY")
        app.open_org("HARBOUR")
        await settle(pilot)
        assert {"deactivate", "check", "uninstall"} <= _shown(app)
        footer, listed = _offered(app)
        assert {"Deactivate", "Uninstall"} <= footer and {"Deactivate", "Uninstall"} <= listed
        await pilot.press("d")
        await settle(pilot)
        assert not isinstance(app.screen, OrgScreen)  # the confirmation is up


@pytest.fixture
def locked_store(store_path: Path) -> Iterator[Path]:
    """The store and its directory as a reader without write access sees them."""
    if os.geteuid() == 0:
        pytest.skip("running as root: the file system lets root write a read-only file anyway")
    store_path.chmod(0o444)
    store_path.parent.chmod(0o555)
    try:
        yield store_path
    finally:
        store_path.parent.chmod(0o755)
        store_path.chmod(0o644)


async def test_a_store_the_file_system_keeps_from_us(locked_store: Path) -> None:
    app = SyncdeskApp(locked_store)
    assert app.read_only
    async with app.run_test(size=(80, 24)) as pilot:
        await _refused_keys(app, pilot, locked_store, f"you cannot write {locked_store}")
        assert "ask a member of the store's group" in notified(app)[-1]
