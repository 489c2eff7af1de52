"""Text as people read it: multi-line messages as lines, ↵ in one-line cells, only real
control characters escaped; counted nouns right; commands said as the console's keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import settle, until
from textual.widgets import Static

from store.db import open_store
from store.logs import record
from tui.app import SyncdeskApp
from tui.safe import lines, one_line
from tui.screens.logs import LogsScreen
from tui.screens.org import OrgScreen
from tui.widgets.advice import console_words
from tui.widgets.row_table import RowTable


def test_lines_keep_line_breaks_and_escape_controls() -> None:
    assert lines("first\nsecond\r\nthird") == "first\nsecond\nthird"
    assert lines("colour \x1b[31m") == "colour \\x1b[31m"
    assert one_line("first\nsecond") == "first ↵ second"
    assert "\\x0a" not in one_line("a\nb") + lines("a\nb")


@pytest.mark.parametrize("code", ["SXBREW", "TASMAN", "MERIDIAN", "KAURI"])
async def test_live_check_lines_show_no_escaped_newlines(store_path: Path, code: str) -> None:
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.open_org(code)
        await settle(pilot)
        await pilot.press("k")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, OrgScreen)
        await until(pilot, lambda: screen.query_one("#org-check").display)
        shown = "\n".join(str(s.render()) for s in screen.query(Static))
        assert "\\x0a" not in shown and "\\x" not in shown
        if code != "KAURI" or "✗" in shown:
            assert "\n    fix: " in str(screen.query_one("#org-check", Static).render())


async def test_a_multi_line_message_reads_as_lines(store_path: Path) -> None:
    with open_store(store_path) as db:
        record(db, "KAURI", "error", "Xero said:\nline two\r\nline three \x1b[2J")
    app = SyncdeskApp(store_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(pilot)
        app.open_logs("KAURI")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        await until(pilot, lambda: screen.source is not None and len(screen.source) > 0)
        detail = str(screen.query_one("#log-detail-text", Static).render())
        assert "Xero said:\nline two\nline three \\x1b[2J" in detail
        table = screen.query_one(RowTable)
        row = "".join(segment.text for segment in table.render_line(1))
        assert "Xero said: ↵ line two" in row and "\\x0a" not in row


def test_console_names_its_keys_for_commands() -> None:
    said = console_words(
        "Fix the mapping with `syncdesk map KAURI KIND LOCAL CODE`, then retry exports "
        "(`syncdesk retry KAURI`); --accept-new-tenant records it; `syncdesk orgs` lists.",
        "organisation",
    )
    assert "syncdesk map" not in said and "the m key (Fix map)" in said
    assert "retry exports with the t key (Retry);" in said and "the m key (Fix map) on" not in said
    assert "))" not in said
    assert (
        console_words(
            "fix each failing one first (`syncdesk map`, or m in the console).", "organisation"
        )
        == "fix each failing one first with the m key (Fix map)."
    )
    assert console_words("Retry the exports (`syncdesk retry K`).", "log") == (
        "Retry the exports with the t key (Retry) on the organisation screen."
    )
    assert console_words("(`syncdesk orgs`) lists them", "organisation") == (
        "(`syncdesk orgs`) lists them"
    )
    assert "the e key (Escalate) on the refresh run screen" in console_words(
        "`syncdesk run escalate K`", "organisation"
    )
    assert "--accept-new-tenant" not in said and "Reconnect dialog" in said
    assert "`syncdesk orgs`" in said  # the console has no key for it


def test_only_a_reconnect_group_names_the_refresh_step_that_helps() -> None:
    """The knowledge base's refresh_step of a mapping error only names what an override would
    touch: the organisation screen does not call it the step that helps."""
    from store.models import ErrorGroup
    from tui.widgets.org_text import error_lines

    at = "2026-11-24T12:00:00Z"
    mapping = ErrorGroup("account_invalid", 3, 1, at, at, refresh_step="uninstall", action="map")
    removed = ErrorGroup(
        "connection_removed", 1, 1, at, at, "t", "c", "f", "reconnect", "reconnect"
    )
    assert mapping.refresh_fix_step is None and removed.refresh_fix_step == "reconnect"
    said = "\n".join(error_lines([mapping, removed]))
    assert said.count("refresh step that helps") == 1
    assert "refresh step that helps: reconnect" in said
