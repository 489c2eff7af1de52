"""The connection-log browser: paging, filters, detail, groups, CSV export, live rows, safety."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import timedelta
from pathlib import Path

from support import NOW, moved_away, notified, reload_without_the_store, settle, until
from textual.app import App
from textual.widgets import Input, OptionList

from store.db import open_store
from store.kb import knowledge_by_kind
from store.logs import LogQuery, error_groups, page_log, record, resolve_since
from store.timeparse import iso
from tui.cli import main as cli_main
from tui.screens.log_dialogs import ErrorGroupsScreen, ExportScreen, KindPickerScreen
from tui.screens.logs import LogsScreen
from tui.widgets.row_table import RowTable


class LogsApp(App):
    """Just the log browser, as the dashboard would push it."""

    def __init__(self, db_path: Path, org: str | None = None, screen: type = LogsScreen) -> None:
        super().__init__()
        self.db_path, self.org, self.screen_class = db_path, org, screen

    def on_mount(self) -> None:
        self.push_screen(self.screen_class(self.db_path, self.org, clock=lambda: NOW))


class SmallPages(LogsScreen):
    """Pages of 150 rows, at most 4 kept: the demo store's 3,599 rows span 24 pages."""

    page_size = 150
    max_pages = 4


async def _counted(pilot) -> None:
    """Wait for the total, which is counted once typing pauses (COUNT_DELAY)."""
    await until(pilot, lambda: _logs(pilot.app).total is not None)
    await settle(pilot)


def _logs(app: App) -> LogsScreen:
    screen = app.screen
    assert isinstance(screen, LogsScreen)
    return screen


def _ids(app: App) -> list[int]:
    source = _logs(app).source
    return [source.entry(i).id for i in range(len(source))]


def _sql_ids(db, where: str = "1", args: list | None = None) -> list[int]:
    sql = (
        f"SELECT log.id FROM log JOIN orgs ON orgs.id = log.org_id WHERE {where} "
        "ORDER BY log.id DESC"
    )
    return [r[0] for r in db.execute(sql, args or [])]


def _table_text(app: App) -> str:
    table = app.screen.query_one(RowTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


def _text(app: App, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def _page_ids(db, query: LogQuery, limit: int = 200) -> list[int]:
    return [e.id for e in page_log(db, query, limit=limit).entries]


async def test_first_page_is_newest_first_and_the_last_loaded_row_loads_more(
    store_path: Path, db
) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        assert _ids(app) == _sql_ids(db)[:200]
        await _counted(pilot)
        assert "200 of 3,599 rows loaded" in _text(app, "#log-count")
        table = screen.query_one(RowTable)
        assert table.size.height - 1 >= 8  # at 80x24 the table still shows 8+ rows
        assert "TIME UTC" in _table_text(app) and "11-24 11:59:53" in _table_text(app)
        table.cursor = 199  # to the end of what is loaded, which loads the next page
        await settle(pilot)  # (End goes to the filter's oldest row: test_log_count.py)
        assert table.cursor == 199
        assert len(screen.source) == 400
        assert _ids(app) == _sql_ids(db)[:400]  # no duplicates, no gaps


async def test_paging_through_everything_keeps_memory_flat(store_path: Path, db) -> None:
    app = LogsApp(store_path, screen=SmallPages)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        source = screen.source
        while source.more:
            loaded = len(source)
            screen.table.cursor = len(source) - 1  # the last loaded row
            await until(pilot, lambda: len(source) > loaded or not source.more)  # noqa: B023
            assert source.pages_kept <= SmallPages.max_pages
        assert len(source) == 3599 and "3,599 rows" in _text(app, "#log-count")
        # Going back to the top fetches the dropped pages again, the same rows as before.
        await pilot.press("g")
        seen = []
        for i in range(len(source)):
            if source.entry(i) is None:
                await until(pilot, lambda: source.entry(i) is not None)  # noqa: B023
            seen.append(source.entry(i).id)
            assert source.pages_kept <= SmallPages.max_pages
        assert seen == _sql_ids(db)


async def test_level_keys_and_clicks(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert _ids(app) == _sql_ids(db, "level = 'error'")[:200]
        await _counted(pilot)
        assert "200 of 275 rows loaded" in _text(app, "#log-count")
        await pilot.press("i")
        await settle(pilot)
        assert _ids(app) == _sql_ids(db, "level = 'info'")[:200]
        await pilot.press("l")  # cycles: info -> all
        await settle(pilot)
        assert _logs(app).query_now.level == "all"
        line = _text(app, "#log-filters")
        assert await pilot.click("#log-filters", offset=(line.index("Error") + 1, 0))
        await settle(pilot)
        assert _logs(app).query_now.level == "error"


async def test_search_as_you_type_with_org_word(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"request tim")  # the last word (3+ letters) is a prefix while typing
        await settle(pilot)
        expected = _page_ids(db, LogQuery(search="request tim", prefix=True))
        assert _ids(app) == expected and expected
        app.focused.insert_text_at_cursor(" org:kauri")  # as typed, without 10 key presses
        await settle(pilot)
        ids = _ids(app)
        assert ids == _page_ids(db, LogQuery(org="KAURI", search="request tim", prefix=True))
        assert ids and {_logs(app).source.entry(i).org for i in range(len(ids))} == {"KAURI"}
        assert "Org KAURI" in _text(app, "#log-filters").replace("kauri", "KAURI")
        await pilot.press("enter")  # back to the table, filter kept
        assert isinstance(app.focused, RowTable)
        await pilot.press("slash")
        app.focused.insert_text_at_cursor(" org:NOPE")
        await settle(pilot)
        assert "NOPE" in _text(app, "#log-count") and _ids(app) == []
        await pilot.press("escape")  # clears the search
        await settle(pilot)
        assert isinstance(app.focused, RowTable) and len(_ids(app)) == 200


async def test_time_range_cycles(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for span in ("1h", "24h", "7d"):
            await pilot.press("t")
            await settle(pilot)
            since = resolve_since(span, now=NOW)
            assert _logs(app).query_now.since == since
            assert _ids(app) == _sql_ids(db, "at >= ?", [since])[:200]
            assert f"Time {span}" in _text(app, "#log-filters")
        await pilot.press("t")
        await settle(pilot)
        assert _logs(app).query_now.since is None


async def test_kind_picker_filters_and_escape_closes(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("K")
        await settle(pilot)
        assert isinstance(app.screen, KindPickerScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen) and _logs(app).query_now.kind is None
        await pilot.press("K")
        await settle(pilot)
        groups = error_groups(db)
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids[0] == ""  # "any kind", then the most frequent errors first
        assert ids[1 : len(groups) + 1] == [g.kind for g in groups]
        assert set(ids) >= set(knowledge_by_kind(db))  # and every known kind
        options.highlighted = ids.index("period_locked")
        await pilot.press("enter")
        await settle(pilot)
        assert _ids(app) == _sql_ids(db, "kind = 'period_locked'")
        assert "Kind period_locked" in _text(app, "#log-filters")
        await pilot.press("K")
        await settle(pilot)
        await pilot.press("home", "enter")  # "any kind"
        await settle(pilot)
        assert _logs(app).query_now.kind is None


async def test_o_starts_an_org_word_that_typing_goes_on_from(store_path: Path) -> None:
    """`o` puts "org:" in the search box; the next letters follow it, not replace it."""
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        search = _logs(app).query_one("#log-search", Input)
        await pilot.press("o", *"WATTLE")
        await settle(pilot)
        assert search.value == "org:WATTLE"
        _logs(app).table.focus()
        await settle(pilot)
        await pilot.press("slash", "x")  # `/` still selects the search: x replaces it
        await settle(pilot)
        assert search.value == "x"


async def test_one_organisation(store_path: Path, db) -> None:
    app = LogsApp(store_path, org="KAURI")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        assert _ids(app) == _sql_ids(db, "orgs.code = 'KAURI'")[:200]
        assert "Org KAURI" in _text(app, "#log-filters")
        assert screen.check_action("pick_org", ()) is False
        await pilot.press("slash", *"org:WATTLE")  # the screen's organisation wins
        await settle(pilot)
        assert {screen.source.entry(i).org for i in range(len(screen.source))} <= {"KAURI"}


async def test_detail_pane_shows_the_row_and_the_fix(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        screen = _logs(app)
        index = next(
            i for i in range(len(screen.source)) if screen.source.entry(i).kind == "period_locked"
        )
        screen.table.cursor = index
        await pilot.pause()
        entry = screen.source.entry(index)
        kb = knowledge_by_kind(db)["period_locked"]
        detail = _text(app, "#log-detail-text")
        for part in (entry.at, entry.org, entry.message, kb.title, kb.fix, kb.refresh_step):
            assert part in detail.replace("\n", " ") or part in detail
        assert "Xero correlation id" in detail and (entry.correlation_id or "-") in detail
        await pilot.press("d")
        assert not screen.query_one("#log-detail").display
        await pilot.press("enter")  # enter shows it again
        await pilot.pause()
        assert screen.query_one("#log-detail").display


async def test_group_by_kind_counts_equal_error_groups(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("t", "t")  # 24h
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ErrorGroupsScreen)
        groups = error_groups(db, since=resolve_since("24h", now=NOW))
        assert app.screen.groups == groups and groups
        table = app.screen.query_one(RowTable)
        shown = [table.source.cells(i) for i in range(table.row_count)]
        assert [(c[0][0], c[1][0], c[2][0]) for c in shown] == [
            (g.kind, f"{g.count:,}", f"{g.orgs:,}") for g in groups
        ]
        await pilot.press("down", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)
        assert _logs(app).query_now.kind == groups[1].kind
        since = resolve_since("24h", now=NOW)
        assert _ids(app) == _sql_ids(db, "kind = ? AND at >= ?", [groups[1].kind, since])


def _cli_csv(capsys, store_path: Path, *args: str) -> list[list[str]]:
    capsys.readouterr()
    try:
        cli_main(["--db", str(store_path), "log", "--csv", "--limit", "100000", *args])
    except SystemExit as exc:
        assert not exc.code
    return list(csv.reader(io.StringIO(capsys.readouterr().out)))


async def test_export_writes_the_whole_filter_like_the_cli(
    store_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "errors.csv"
    app = LogsApp(store_path, screen=SmallPages)  # far more rows than one page
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e", "x")
        await settle(pilot)
        assert isinstance(app.screen, ExportScreen)
        field = app.screen.query_one("#export-path", Input)
        assert field.value.startswith("syncdesk-log-20261124T120000")
        field.value = str(out)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)
    rows = list(csv.reader(out.open(newline="", encoding="utf-8")))
    assert rows == _cli_csv(capsys, store_path, "--level", "error")
    assert len(rows) == 276


async def test_export_escape_cancels(store_path: Path, tmp_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
    assert not list(tmp_path.glob("*.csv"))


async def test_new_rows_appear_at_the_top(store_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        await _counted(pilot)
        writer = open_store(store_path)  # another connection, as another process would
        try:
            row = record(
                writer, "KAURI", "error", "Live row arrives", at=NOW + timedelta(minutes=1)
            )
        finally:
            writer.conn.close()
        for _ in range(40):  # the 1 s poll picks it up
            await asyncio.sleep(0.05)
            await settle(pilot)
            if screen.source.entry(0).id == row.id:
                break
        assert screen.source.entry(0).id == row.id
        assert screen.table.cursor == 0 and "Live row arrives" in _table_text(app)
        assert "201 of 3,600" in _text(app, "#log-count")


async def test_new_rows_keep_the_cursor_on_its_row(store_path: Path, db) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        await pilot.press("pagedown", "pagedown", "down")
        reading = screen.source.entry(screen.table.cursor).id
        queries = []
        original = screen.load_newer
        screen.load_newer = lambda *a: (queries.append(a), original(*a))
        screen.poll()  # nothing written: no query at all
        assert queries == []
        for i in range(3):
            record(open_store(store_path), "WATTLE", "info", f"live {i}", at=NOW)
        screen.poll()
        await settle(pilot)
        assert len(queries) == 1
        assert screen.source.entry(screen.table.cursor).id == reading
        assert [screen.source.entry(i).message for i in range(3)] == ["live 2", "live 1", "live 0"]
        assert _ids(app) == _sql_ids(db)[: len(_ids(app))]


HOSTILE = [
    "[bold red]OK[/]",
    "[/]",
    "[@click=app.quit]click me[/]",
    "evil\x1b[2Jclear",
    "osc\x1b]52;c;aGVsbG8=\x07copy",
    "[link=https://evil]x",
]


async def test_hostile_log_text_is_shown_literally(store_path: Path) -> None:
    writer = open_store(store_path)
    for i, text in enumerate(HOSTILE):
        writer.execute(
            "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
            "VALUES (?, 1, 'error', ?, ?, ?, ?)",
            [iso(NOW + timedelta(minutes=i)), text, text, text, text],
        )
    writer.conn.close()
    app = LogsApp(store_path)
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        text = _table_text(app)
        assert "[bold red]OK[/]" in text and "[@click=app.quit]click me[/]" in text
        assert "evil\\x1b[2Jclear" in text and "\x1b" not in text
        for i, raw in enumerate(reversed(HOSTILE)):
            screen.table.cursor = i
            await pilot.pause()
            detail = screen.query_one("#log-detail-text")
            plain = str(detail.render())
            assert "\x1b" not in plain and "\x07" not in plain
            assert raw.replace("\x1b", "\\x1b").replace("\x07", "\\x07") in plain
            lines = detail.render_lines(detail.region.reset_offset)
            assert all("\x1b" not in strip.text for strip in lines)
        await pilot.click("#log", offset=(60, 3))  # a click on [@click=app.quit] does nothing
        await pilot.press("slash", *"[/]")  # typed markup is literal too
        app.focused.insert_text_at_cursor(" kind:[/]")
        await settle(pilot)
        assert "kind:" not in _text(app, "#log-filters") and "[/]" in _text(app, "#log-filters")
        assert app.is_running and isinstance(app.screen, LogsScreen)


async def test_wide_layout_puts_the_detail_beside_the_table(store_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(180, 50)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        table, detail = screen.query_one("#log").region, screen.query_one("#log-detail").region
        assert detail.x > table.x and detail.y == table.y and table.height > 40


async def test_escape_closes_the_screen(store_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, LogsScreen)


async def test_command_palette_reaches_the_actions(store_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        app.screen.query_one(Input).value = "errors only"
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert _logs(app).query_now.level == "error"


# --- failures and bad rows -------------------------------------------------------------------


async def test_a_failed_load_is_notified(store_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await reload_without_the_store(pilot, store_path)
        assert len(_ids(app)) == 200  # the rows shown stay


async def test_an_export_that_cannot_be_written_says_so_in_the_dialog(
    store_path: Path, tmp_path: Path
) -> None:
    out = tmp_path / "no-such-dir" / "errors.csv"
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, ExportScreen)
        dialog.query_one("#export-path", Input).value = str(out)
        await pilot.press("enter")
        await settle(pilot)
        assert app.screen is dialog  # still open, to try another path
        status = str(dialog.query_one("#export-status").render())
        assert status == f"Cannot write {out}: No such file or directory."
        assert not dialog.query_one("#export-path", Input).disabled
    assert not list(tmp_path.rglob("*.part"))


async def test_a_bad_row_is_marked_and_the_others_still_show(store_path: Path) -> None:
    writer = open_store(store_path)
    writer.execute(
        "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
        "VALUES ('not a time', 1, 'error', NULL, CAST('bytes message' AS BLOB), NULL, NULL)"
    )
    writer.conn.close()
    app = LogsApp(store_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        screen = _logs(app)
        bad = next(
            i for i in range(len(screen.source)) if screen.source.entry(i).at == "not a time"
        )
        cells = [text for text, _ in screen.source.cells(bad)]
        assert cells[0] == "⚠ not a time" and cells[4] == "⚠ bytes message"
        screen.table.cursor = bad
        await pilot.pause()
        assert "⚠ bytes message" in _text(app, "#log-detail-text")
        assert len(_ids(app)) == 200 and app.is_running


async def test_a_dialog_that_cannot_load_says_so(store_path: Path) -> None:
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        expected = moved_away(store_path)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ErrorGroupsScreen)
        assert expected in notified(app)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)


async def test_an_empty_result_says_which_part_matched_nothing(store_path: Path) -> None:
    """`org:green duplicate`: the word, not the organisation, matched nothing."""
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        screen.query_one("#log-search", Input).value = "org:green duplicate"
        await until(pilot, lambda: screen.source is not None and screen.source.started)
        await settle(pilot)
        assert len(screen.source) == 0
        detail = str(screen.query_one("#log-detail-text").render())
        assert "“duplicate” matched no row in green's log" in detail
        assert "c clears the filters" in detail
        screen.query_one("#log-search", Input).value = "org:green kind:tax_type_invalid"
        said = "Kind tax_type_invalid matched no row in green's log"
        await until(pilot, lambda: said in str(screen.query_one("#log-detail-text").render()))


async def test_a_one_megabyte_message_moves_like_any_other(store_path: Path) -> None:
    """The table cell and the detail pane cut it (w shows it whole): passing the cursor over
    it costs what any row costs, where it once froze the screen for seconds each time."""
    big = "Xero said: " + "invoice line rejected; " * 46_000  # a little over 1 MB
    with open_store(store_path) as db:
        record(db, "KAURI", "error", big)
        record(db, "KAURI", "info", "a small row after it")
    app = LogsApp(store_path, "KAURI")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        screen = app.screen
        await until(pilot, lambda: screen.source is not None and len(screen.source) > 2)
        detail = screen.query_one("#log-detail-text")
        started = time.perf_counter()
        for _ in range(5):
            await pilot.press("down")  # onto the big row
            await pilot.pause()
            assert "w shows the whole message" in str(detail.render())
            await pilot.press("up")
            await pilot.pause()
        elapsed = time.perf_counter() - started
        # about 0.2 s on a loaded two-core machine; uncut, each pass took seconds
        assert elapsed < 8.0, f"10 moves over a 1 MB row took {elapsed:.1f} s"
        await pilot.press("down", "w")
        await pilot.pause()
        shown = str(detail.render())
        assert len(shown) > len(big) and "w shows the whole message" not in shown


async def test_punctuation_is_searched_when_typing_pauses_not_per_key(
    store_path: Path, db, monkeypatch
) -> None:
    """Punctuation has no index (a scan of the log): typed keys do not run it, a pause or enter
    does, once, for the whole text."""
    import tui.screens.logs as logs_module

    searched: list[str | None] = []

    def spy(db_, query, **kw):
        searched.append(query.search)
        return page_log(db_, query, **kw)

    monkeypatch.setattr(logs_module, "page_log", spy)
    monkeypatch.setattr(logs_module, "PUNCTUATION_PAUSE", 30.0)  # typing never pauses here
    record(db, "HARBOUR", "error", "Mapping [/] failed # twice")
    app = LogsApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        searched.clear()
        await pilot.press("slash", *"[/]")
        await settle(pilot)
        assert not [s for s in searched if s]  # no scan per key
        assert "when you pause typing" in _text(app, "#log-count")
        assert "[/]" in _text(app, "#log-filters")
        await pilot.press("enter")  # enter searches now
        await until(pilot, lambda: "[/]" in searched and "row" in _text(app, "#log-count"))
        assert [s for s in searched if s] == ["[/]"]
        assert "Mapping [/] failed" in _table_text(app)
        await pilot.press("slash", "backspace", "backspace", "backspace", *"#")
        monkeypatch.setattr(logs_module, "PUNCTUATION_PAUSE", 0.05)  # now it pauses
        await pilot.press("space")
        await until(pilot, lambda: "# " in searched or "#" in searched)
