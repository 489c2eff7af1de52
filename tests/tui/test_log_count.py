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


class SmallPages(LogsScreen):
    page_size = 150
    max_pages = 4


class SmallPagesApp(App):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path

    def on_mount(self) -> None:
        self.push_screen(SmallPages(self.db_path, clock=lambda: NOW))


async def test_end_goes_to_the_oldest_row_in_one_step_and_home_back(store_path, db) -> None:
    all_ids = [r[0] for r in db.execute("SELECT id FROM log ORDER BY id DESC")]
    app = SmallPagesApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.source is not None and screen.source.started)
        screen.table.focus()
        await pilot.press("end")
        await until(pilot, lambda: screen.source is not None and not screen.source.at_head)
        await settle(pilot)
        source, table = screen.source, screen.table
        assert source.entry(table.cursor).id == all_ids[-1]  # the oldest row, one key press
        assert [source.entry(i).id for i in range(len(source))] == all_ids[-150:]
        # scrolling up loads the rows above, a page at a time, in order
        for _ in range(4):
            await pilot.press("pageup", "pageup", "pageup", "pageup", "pageup", "pageup")
            await settle(pilot)
        assert len(source) > 150
        shown = [source.entry(i) for i in range(len(source))]
        kept = [e.id for e in shown if e is not None]
        assert kept == [i for i in all_ids[-len(source) :] if i in set(kept)]
        assert all_ids[-len(source)] >= max(kept)
        assert "rows" in _count_text(app) and str(len(source)) not in ("",)
        await pilot.press("home")  # back to the newest
        await until(pilot, lambda: screen.source is not source and screen.source.started)
        await settle(pilot)
        assert screen.source.at_head and screen.source.entry(0).id == all_ids[0]
        assert screen.table.cursor == 0


async def test_end_on_a_filter_all_loaded_stays_where_it_is(store_path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.source is not None and screen.source.started)
        screen.action_level("error")
        await until(
            pilot,
            lambda: screen.source is not None
            and screen.source.started
            and screen.source.query.level == "error",
        )
        source = screen.source
        await until(pilot, lambda: (source.want_more(), not source.more)[1])  # all 275 rows
        screen.table.focus()
        await pilot.press("end")
        await settle(pilot)
        assert screen.source is source and screen.table.cursor == len(source) - 1
