"""The command palette reaches every organisation and action; names stay literal."""

from __future__ import annotations

from pathlib import Path

from support import settle
from textual.command import CommandPalette

from store.db import open_store
from tui.app import SyncdeskApp
from tui.screens.org import OrgScreen


def _prompts(app: SyncdeskApp) -> str:
    palette = app.screen
    assert isinstance(palette, CommandPalette)
    options = palette.query_one("CommandList")
    return "\n".join(
        str(options.get_option_at_index(i).prompt) for i in range(options.option_count)
    )


async def test_palette_opens_an_organisation(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"open kelp")
        await settle(pilot)
        assert "Open KELP" in _prompts(app)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, OrgScreen) and app.screen.code == "KELP"


async def test_palette_shows_hostile_names_literally(store_path: Path) -> None:
    db = open_store(store_path)
    db.execute(
        "UPDATE orgs SET name = '[bold]Evil[/] [@click=app.quit]x[/]' WHERE code = 'HARBOUR'"
    )
    db.conn.close()
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p", *"harbour")
        await settle(pilot)
        assert "[bold]Evil[/] [@click=app.quit]x[/]" in _prompts(app)
        assert app.is_running


async def test_theme_toggles(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = app.theme
        await pilot.press("ctrl+t")
        assert app.theme != before
        await pilot.press("ctrl+t")
        assert app.theme == before
