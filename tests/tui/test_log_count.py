"""The log browser's count: a capped count first ("≥ N"), the exact one after; never a
count of a filter no longer shown."""

from __future__ import annotations

from pathlib import Path

from support import NOW, settle, until
from textual.app import App

from tui.screens import logs as logs_screen
from tui.screens.logs import LogsScreen


class LogsApp(App):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path

    def on_mount(self) -> None:
        self.push_screen(LogsScreen(self.db_path, clock=lambda: NOW))


def _count_text(app: App) -> str:
    return str(app.screen.query_one("#log-count").render())


async def test_a_capped_count_says_at_least_then_the_exact_total(store_path, monkeypatch) -> None:
    monkeypatch.setattr(logs_screen, "COUNT_CAP", 1000)
    seen: list[tuple[int, bool]] = []
    real = LogsScreen.on_logs_screen_counted

    def spy(self: LogsScreen, message: LogsScreen.Counted) -> None:
        seen.append((message.total, message.exact))
        real(self, message)

    monkeypatch.setattr(LogsScreen, "on_logs_screen_counted", spy)
    app = LogsApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.total is not None and screen.total_exact)
        await settle(pilot)
        assert seen[0] == (1000, False) and seen[-1] == (3599, True)
        assert "200 of 3,599 rows loaded" in _count_text(app)
        # a late lower bound does not replace the exact total
        screen.post_message(LogsScreen.Counted(1000, False, screen.query_now))
        await settle(pilot)
        assert "200 of 3,599 rows loaded" in _count_text(app)
        # nor does the count of another filter
        screen.post_message(LogsScreen.Counted(7, True, logs_screen.LogQuery(level="error")))
        await settle(pilot)
        assert "200 of 3,599 rows loaded" in _count_text(app)


async def test_the_lower_bound_shows_until_the_exact_total(store_path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.total is not None)
        await settle(pilot)
        screen.total = None
        screen.post_message(LogsScreen.Counted(1000, False, screen.query_now))
        await settle(pilot)
        assert "200 of ≥ 1,000 rows loaded" in _count_text(app)


async def test_a_screen_keeps_its_connections_instead_of_one_per_page(
    store_path, monkeypatch
) -> None:
    from tui.screens import base

    opened: list[object] = []
    real = base.open_store

    def counting(path, *args, **kwargs):
        opened.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(base, "open_store", counting)
    app = LogsApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.total is not None)
        for level in ("error", "info", "all", "error", "info", "all"):
            screen.action_level(level)
            await until(pilot, lambda: screen.total is not None)
        for _ in range(6):  # pages further down
            await pilot.press("pagedown", "pagedown", "pagedown", "pagedown")
            await settle(pilot)
        assert screen.source is not None and len(screen.source) >= 600
        await settle(pilot)
        # 6 filters x (first page + count) + 3 pages: one connection per worker at a time
        assert 1 <= len(opened) <= 4, len(opened)
    assert not screen._idle  # closed with the screen
