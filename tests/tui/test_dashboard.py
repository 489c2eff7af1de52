"""The first screen: organisations, filter as you type, open one, quit."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support import plant, reload_without_the_store, settle, until

from store import clock as store_clock
from store.db import open_store
from store.errors import InvalidQuery
from store.orgs import find_orgs, list_orgs
from store.transitions import deactivate
from tui.app import SyncdeskApp
from tui.screens import dashboard
from tui.screens.dashboard import DashboardScreen
from tui.screens.org import OrgScreen
from tui.widgets.row_table import RowTable


def _codes(app: SyncdeskApp) -> list[str]:
    table = app.screen.query_one(RowTable)
    return [table.source.cells(i)[0][0] for i in range(table.row_count)]


def _screen_text(app: SyncdeskApp) -> str:
    table = app.screen.query_one(RowTable)
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


async def test_lists_every_organisation(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, DashboardScreen)
        assert len(_codes(app)) == 12
        text = _screen_text(app)
        assert "CODE" in text and "KAURI" in text and "disconnected" in text
        summary = str(app.screen.query_one("#summary").render())
        assert "12 shown" in summary and "9 active" in summary and "1 disconnected" in summary


async def test_filter_as_you_type(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert app.focused.id == "filter"
        await pilot.press("k")
        await settle(pilot)
        db = open_store(store_path)
        assert _codes(app) == [o.code for o in list_orgs(db, search="k")]
        assert 1 < len(_codes(app)) < 12
        await pilot.press("e", "l")
        await settle(pilot)
        assert _codes(app) == ["KELP"]
        await pilot.press("escape")
        await settle(pilot)
        assert len(_codes(app)) == 12
        assert isinstance(app.focused, RowTable)


@pytest.mark.parametrize(
    ("typed", "codes"),
    [("state:uninstalled", ["COPPER"]), ("Expired", ["WATTLE"])],  # a state word, auth health
)
async def test_filter_by_state_and_auth_words(store_path: Path, typed: str, codes: list) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *typed)
        await settle(pilot)
        assert _codes(app) == codes


async def test_keyboard_opens_an_organisation_and_comes_back(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("down", "down", "enter")  # BRIGHT, COPPER, GREEN
        await settle(pilot)
        assert isinstance(app.screen, OrgScreen) and app.screen.code == "GREEN"
        body = "\n".join(str(s.render()) for s in app.screen.query(".section"))
        assert "Demo Company (AU)" in body and "invoice_number_duplicate" in body
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_q_quits(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_ctrl_q_quits_even_from_the_filter(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", "q")  # q types into the filter ...
        await settle(pilot)
        assert app.is_running
        await pilot.press("ctrl+q")  # ... ctrl+q always quits
        await pilot.pause()
    assert not app.is_running


HOSTILE = [
    "[bold red]OK[/]",
    "[/]",
    "[@click=app.quit]click me[/]",
    "evil\x1b[2Jclear",
    "osc\x1b]52;c;aGVsbG8=\x07copy",
    "[link=https://evil]x",
]


async def test_hostile_names_render_literally(store_path: Path) -> None:
    db = open_store(store_path)
    for i, text in enumerate(HOSTILE):
        db.execute("UPDATE orgs SET name = ? WHERE id = ?", [text, i + 1])
        db.execute("UPDATE integrations SET tenant_name = ? WHERE org_id = ?", [text, i + 1])
    db.conn.close()
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        text = _screen_text(app)
        assert "[bold red]OK[/]" in text and "[@click=app.quit]click me[/]" in text
        assert "\x1b" not in text and "\\x1b[2Jclear" in text
        await pilot.press("enter")  # the org screen shows them literally too
        await settle(pilot)
        body = "\n".join(str(s.render()) for s in app.screen.query(".section"))
        assert "osc\\x1b]52;c;aGVsbG8=\\x07copy" in body and "\x1b" not in body
        assert app.is_running


def test_find_orgs_matches_state_auth_and_text_case_insensitively(store_path: Path) -> None:
    with open_store(store_path) as db:
        everyone = list_orgs(db)

    def codes(text: str) -> list[str]:  # over the loaded rows: the store is closed
        return [o.code for o in find_orgs(everyone, text).orgs]

    assert codes("state:inactive kelp") == ["KELP"]
    assert codes("disconnected") == ["SXBREW"]
    assert codes("DISC") == ["SXBREW"]  # a partial state
    assert codes("inact") == ["KELP"]
    assert codes("expired") == ["WATTLE"]  # auth health
    assert codes("auth:removed") == ["SXBREW"]
    assert codes("kauri") == ["KAURI"]  # code, any case
    assert len(codes("  ")) == 12
    found = find_orgs(everyone, "kauri ZZQX")
    assert found.orgs == [] and found.unmatched == ("ZZQX",)  # as typed
    found = find_orgs(everyone, "kauri expired")  # each matches, never both at once
    assert found.orgs == [] and found.unmatched == ()
    with pytest.raises(InvalidQuery):
        find_orgs(everyone, "state:sleeping")


async def test_typing_filters_without_the_store_and_a_slow_reload_keeps_the_filter(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys filter the loaded organisations in memory (no query per key); a reload that
    answers late shows through the filter as typed when it arrives."""
    entered, release, done = threading.Event(), threading.Event(), threading.Event()
    calls: list[dict] = []

    def slow_second(db, **filters):  # the second load answers only when released
        calls.append(filters)
        found = list_orgs(db, **filters)
        if len(calls) == 2:
            entered.set()
            release.wait(10)
            done.set()
        return found

    monkeypatch.setattr(dashboard, "list_orgs", slow_second)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        field = app.screen.query_one("#filter")
        field.value = "wat"
        await until(pilot, lambda: "WATTLE" in _codes(app) and len(_codes(app)) < 12)
        assert len(calls) == 1  # typing asked the store nothing
        await pilot.press("f5")
        await until(pilot, entered.is_set)
        field.value = "wattle"
        await until(pilot, lambda: _codes(app) == ["WATTLE"])
        release.set()  # the reload (every organisation) arrives after the keystroke
        await until(pilot, done.is_set)
        await settle(pilot)
        assert _codes(app) == ["WATTLE"]
        assert calls == [{}, {}]


def _row(app: SyncdeskApp, code: str) -> list[str]:
    table = app.screen.query_one(RowTable)
    rows = [[text for text, _ in table.source.cells(i)] for i in range(table.row_count)]
    return next(row for row in rows if row[0] == code)


async def test_a_bad_row_is_marked_and_the_others_still_show(store_path: Path) -> None:
    plant(
        store_path,
        "UPDATE integrations SET last_export_at = 'not a time' "
        "WHERE org_id = (SELECT id FROM orgs WHERE code = 'HARBOUR')",
        "UPDATE orgs SET name = CAST('Kelp as bytes' AS BLOB) WHERE code = 'KELP'",
    )
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        assert len(_codes(app)) == 12
        assert _row(app, "HARBOUR")[9] == "⚠ bad"
        assert _row(app, "KELP")[1] == "Kelp as bytes"  # text stored as a BLOB reads as text
        assert _row(app, "KAURI")[9] == "5h"
        text = _screen_text(app)
        assert "HARBOUR" in text and "⚠ bad" in text and "Kelp as bytes" in text
        for _ in dashboard.SORTS:  # every sort, the last export and the name included
            await pilot.press("s")
            await pilot.pause()
            assert len(_codes(app)) == 12
        assert app.is_running


async def test_a_failed_load_is_notified(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await reload_without_the_store(pilot, store_path)
        assert len(_codes(app)) == 12  # what was shown stays


async def test_another_sessions_change_appears(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DashboardScreen, "WATCH_SECONDS", 0.05)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert _row(app, "HARBOUR")[2] == "active"
        other = open_store(store_path)
        deactivate(other, "HARBOUR", actor="alice")
        other.conn.close()
        await until(pilot, lambda: _row(app, "HARBOUR")[2] == "inactive")


def _header(app: SyncdeskApp) -> str:
    return "".join(segment.text for segment in app.screen.query_one(RowTable).render_line(0))


def _line(app: SyncdeskApp, code: str) -> str:
    table = app.screen.query_one(RowTable)
    index = _codes(app).index(code)
    table.scroll_to(y=0, animate=False)
    return "".join(segment.text for segment in table.render_line(index + 1))


async def test_an_empty_result_says_which_word_matched_nothing(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"kauri zzqx")
        await settle(pilot)
        assert _codes(app) == []
        summary = str(app.screen.query_one("#summary").render())
        assert "“zzqx”" in summary and "kauri" not in summary
        assert "escape clears the filter" in summary
        await pilot.press("escape")
        await settle(pilot)
        assert len(_codes(app)) == 12


async def test_filter_finds_partial_states(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one("#filter").value = "uninst"
        await settle(pilot)
        assert _codes(app) == ["COPPER"]


@pytest.mark.parametrize("width", [80, 160])
async def test_the_sort_arrow_shows_on_every_sortable_column(store_path: Path, width: int) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(width, 24)) as pilot:
        await settle(pilot)
        for _ in range(len(dashboard.SORTS)):
            name, column, _reverse = dashboard.SORTS[app.screen.sort_index]
            label = dashboard.COLUMNS[column].label
            header = _header(app)
            assert f"{label}▲" in header or f"{label}▼" in header, (name, header)
            await pilot.press("s")
            await settle(pilot)


async def test_export_ages_advance_while_the_screen_is_open(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DashboardScreen, "AGE_SECONDS", 0.05)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert " 4h " in _line(app, "HARBOUR")
        store_clock.advance(2 * 3600)
        await until(pilot, lambda: " 6h " in _line(app, "HARBOUR"))


async def test_the_trend_shows_at_80_columns_in_narrow_form(store_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert _header(app).rstrip().endswith(" TR") and "7 DAYS" not in _header(app)
        arrows = {_line(app, code).rstrip()[-1] for code in _codes(app)}
        assert arrows <= set("↗↘→·") and len(arrows) > 1
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert "7 DAYS" in _header(app) and not _header(app).rstrip().endswith(" TR")


def test_trend_arrow() -> None:
    assert dashboard.trend_arrow((0,) * 7) == "·"
    assert dashboard.trend_arrow((0, 0, 0, 0, 1, 3, 5)) == "↗"
    assert dashboard.trend_arrow((5, 5, 5, 5, 0, 0, 1)) == "↘"
    assert dashboard.trend_arrow((2,) * 7) == "→"
