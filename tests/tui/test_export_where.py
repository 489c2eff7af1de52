"""The console's CSV export (x in the log browser) writes where it belongs: a file name into
the exports directory, privately; a typed path where it says; never over a file or through a
link; and, served to a browser, only inside the data directory."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest
from support import notified, settle, until
from textual.app import App
from textual.widgets import Input

from store.paths import exports_dir
from tui.app import SyncdeskApp
from tui.screens.log_dialogs import ExportScreen
from tui.screens.logs import LogsScreen


@pytest.fixture(autouse=True)
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data" / "syncdesk"


async def _export(pilot, typed: str) -> ExportScreen:
    """Open the log, press x, type `typed` and enter; the dialog (open or closed)."""
    await settle(pilot)
    pilot.app.open_logs("KAURI")
    await settle(pilot)
    await pilot.press("x")
    await settle(pilot)
    dialog = pilot.app.screen
    assert isinstance(dialog, ExportScreen)
    dialog.query_one("#export-path", Input).value = typed
    await pilot.press("enter")
    await settle(pilot)
    return dialog


def _status(dialog: ExportScreen) -> str:
    return str(dialog.query_one("#export-status").render())


async def test_a_file_name_goes_to_the_exports_directory_privately(
    store_path: Path, data_home: Path
) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _export(pilot, "kauri.csv")
        assert isinstance(app.screen, LogsScreen)
        written = data_home / "exports" / "kauri.csv"
        assert exports_dir() == written.parent
        message = next(m for m in notified(app) if m.startswith("Exported"))
        assert message.endswith(f"rows to {written.resolve()}")  # the full path
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert stat.S_IMODE(written.parent.stat().st_mode) == 0o700
    rows = list(csv.reader(written.open(newline="", encoding="utf-8")))
    assert rows[0][:2] == ["at", "org"] and len(rows) > 1
    assert all(row[1] == "KAURI" for row in rows[1:])
    assert not list(written.parent.glob("*.part"))


async def test_a_typed_path_is_written_there(store_path: Path, tmp_path: Path) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await _export(pilot, str(tmp_path / "mine.csv"))
        assert isinstance(app.screen, LogsScreen)
    assert stat.S_IMODE((tmp_path / "mine.csv").stat().st_mode) == 0o600


@pytest.mark.parametrize("kind", ["file", "link"])
async def test_an_existing_file_or_a_link_is_refused_in_the_dialog(
    store_path: Path, tmp_path: Path, kind: str
) -> None:
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    typed = target
    if kind == "link":
        typed = tmp_path / "link.csv"
        typed.symlink_to(target)
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await _export(pilot, str(typed))
        assert app.screen is dialog  # still open, to type another name
        said = "is a symbolic link" if kind == "link" else "already exists; type another name"
        assert said in _status(dialog)
        assert not dialog.query_one("#export-path", Input).disabled
    assert target.read_text() == "keep me"


async def test_in_a_browser_only_the_data_directory(
    store_path: Path, tmp_path: Path, data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(App, "is_web", property(lambda self: True))
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        dialog = await _export(pilot, str(tmp_path / "outside.csv"))
        assert app.screen is dialog
        assert "only be written inside" in _status(dialog)
        dialog.query_one("#export-path", Input).value = "inside.csv"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, LogsScreen)
    assert not (tmp_path / "outside.csv").exists()
    assert (data_home / "exports" / "inside.csv").is_file()


async def test_escape_during_the_export_stops_it_and_writes_nothing(
    store_path: Path, data_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    from tui.screens import log_dialogs
    from tui.widgets.progress import WorkProgress

    gate = threading.Semaphore(0)
    walk = log_dialogs.walk_log

    def held_walk(*args, **kwargs):  # every page after the first waits for the test
        for n, page in enumerate(walk(*args, **kwargs)):
            if n:
                assert gate.acquire(timeout=20)
            yield page

    monkeypatch.setattr(log_dialogs, "walk_log", held_walk)
    app = SyncdeskApp(store_path)
    told: list[str] = []  # every notification, however soon it expires on a loaded machine
    shown = app.notify
    monkeypatch.setattr(app, "notify", lambda text, **kw: told.append(text) or shown(text, **kw))
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.open_logs(None)
            await settle(pilot)
            await pilot.press("x")
            await settle(pilot)
            dialog = app.screen
            assert isinstance(dialog, ExportScreen)
            dialog.query_one("#export-path", Input).value = "stopped.csv"
            await pilot.press("enter")  # no settle: the export waits for the test
            line = dialog.query_one(".work-progress-line")
            await until(pilot, lambda: str(line.render()).startswith("Export 0/3,"))
            assert dialog.query_one(WorkProgress).display
            await pilot.press("escape")
            await until(pilot, lambda: "cancelling" in str(line.render()))
            gate.release()
            await until(pilot, lambda: isinstance(app.screen, LogsScreen))
            said = [m for m in told if m.startswith("Export cancelled")]
            assert len(said) == 1 and said[0].endswith(" rows; no file written.")
            assert not said[0].startswith("Export cancelled after 0 ")  # a page was written
    finally:
        gate.release(100)
    assert not list((data_home / "exports").glob("*"))
