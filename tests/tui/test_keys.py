"""Every key reachable at 80×24: footers that fit, `?` with the screen's own keys first."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import settle
from textual.widgets._footer import FooterKey

from tui.app import SyncdeskApp
from tui.screens.keys import KeysScreen
from tui.screens.logs import LogsScreen
from tui.screens.org import OrgScreen
from tui.screens.wizard import WizardScreen
from tui.widgets.key_footer import KeyFooter, key_width


@pytest.fixture(autouse=True)
def packets_in_tmp(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def footer_keys(app: SyncdeskApp) -> list[FooterKey]:
    footer = app.screen.query_one(KeyFooter)
    return [key for key in footer.query(FooterKey) if "-command-palette" not in key.classes]


def assert_fits(app: SyncdeskApp, width: int) -> list[str]:
    """No key is cut: each key's region ends before the palette key starts."""
    footer = app.screen.query_one(KeyFooter)
    palette = footer.query_one(".-command-palette", FooterKey)
    keys = footer_keys(app)
    assert keys, "the footer shows no key"
    for key in keys:
        assert key.region.right <= palette.region.x <= width, (key.description, key.region)
        # the room KeyFooter counts is the room the key takes (and its margin)
        assert key.region.width + 1 == key_width(key.key_display, key.description, True)
    return [key.description for key in keys]


async def open_screen(pilot, store_path: Path, which: str) -> None:
    await settle(pilot)
    app = pilot.app
    if which == "org-active":
        app.open_org("KAURI")
    elif which == "org-inactive":
        app.open_org("KELP")
    elif which == "org-disconnected":
        app.open_org("SXBREW")
    elif which == "org-uninstalled":
        app.open_org("COPPER")
    elif which == "log":
        app.open_logs(None)
    elif which == "wizard":
        app.push_screen(WizardScreen(store_path, "KAURI", actor="tester"))
    await settle(pilot)


SCREENS = ("dashboard", "org-active", "org-inactive", "org-disconnected", "org-uninstalled")


@pytest.mark.parametrize("which", [*SCREENS, "log", "wizard"])
async def test_footer_fits_80_columns_with_keys_and_help(store_path: Path, which: str) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, store_path, which)
        shown = assert_fits(app, 80)
        assert "Keys" in shown  # `?` always stays
        if which.startswith("org"):
            assert shown[0] == "Back" and "Check" in shown


async def test_footer_keys_follow_the_state(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, store_path, "org-inactive")
        assert "Activate" in assert_fits(app, 80)
        await pilot.press("escape")
        await open_screen(pilot, store_path, "org-uninstalled")
        shown = assert_fits(app, 80)
        assert "Reconnect" in shown and "Activate" not in shown and "Retry" not in shown


async def test_wider_footer_shows_more_keys(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_screen(pilot, store_path, "org-active")
        shown = assert_fits(app, 160)
        assert "Deactivate" in shown and "Uninstall" in shown


@pytest.mark.parametrize(
    ("which", "title", "first"),
    [
        ("dashboard", "Organisations", "Filter"),
        ("org-active", "This organisation", "Back"),
        ("log", "Connection log", "Back"),
        ("wizard", "Refresh run", "Do step"),
    ],
)
async def test_help_lists_the_screens_own_keys_first(
    store_path: Path, which: str, title: str, first: str
) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_screen(pilot, store_path, which)
        below = app.screen
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, KeysScreen)
        (own_title, own), *rest = app.screen.parts
        assert own_title == title and own[0].description == first
        assert [t for t, _ in rest][0] == "Everywhere"
        text = str(app.screen.query_one("#keys-text").render())
        assert text.index(title) < text.index("Everywhere")
        # hidden from the footer, still listed here
        if isinstance(below, OrgScreen):
            assert {"Deactivate", "Uninstall", "Reload"} <= {line.description for line in own}
        if isinstance(below, LogsScreen):
            assert {"Time range", "Kind", "Errors only"} <= {line.description for line in own}
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is below
