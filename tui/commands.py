"""The command palette: every organisation and every action, found by fuzzy typing, and the
actions of the screen it is opened on.

Textual's Matcher.highlight() parses its candidate as markup, and a hit's help text is parsed
as markup too, so organisation names (outside text) are highlighted here on a plain Content and
never put in help.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.worker import WorkerFailed

from store.db import open_store
from store.models import OrgSummary
from store.orgs import list_orgs
from tui.safe import visible
from tui.widgets.marked import marked_text
from tui.widgets.words import plural

if TYPE_CHECKING:
    from textual.fuzzy import Matcher


def safe_highlight(matcher: Matcher, text: str) -> Content:
    """text (made visible) with the matched characters styled; no markup is parsed."""
    shown = visible(text)
    content = Content(shown)
    score, offsets = matcher.fuzzy_search.match(matcher.query, shown)
    if score:
        for offset in offsets:
            if offset < len(shown) and not shown[offset].isspace():
                content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class OrgCommands(Provider):
    """Open, check, browse the log of, or start a refresh run on any organisation."""

    async def startup(self) -> None:
        self.orgs: list[OrgSummary] = []
        worker = self.app.run_worker(self._load, thread=True, exit_on_error=False)
        with suppress(WorkerFailed):  # the palette still offers the global actions
            self.orgs = await worker.wait()

    def _load(self) -> list[OrgSummary]:
        """Runs on the App: a failure is notified by SyncdeskApp.on_worker_state_changed."""
        with open_store(self.app.db_path) as db:
            return list_orgs(db)

    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        out: list[tuple[str, str, object]] = [
            (
                "Connection log: all organisations",
                "newest first, filter and search",
                partial(app.open_logs, None),
            ),
            ("Toggle dark / light theme", "switch the colour theme", app.action_toggle_theme),
        ]
        for org in self.orgs:
            name = marked_text(org.name)
            facts = f"{org.state}, {plural(org.errors_24h, 'error')} in 24 h"
            out += [
                (f"Open {org.code}  {name}", facts, partial(app.open_org, org.code)),
                (
                    f"Refresh run: {org.code}  {name}",
                    "guided deactivate, uninstall, reconnect",
                    partial(app.open_wizard, org.code),
                ),
                (
                    f"Log: {org.code}  {name}",
                    "this organisation's connection log",
                    partial(app.open_logs, org.code),
                ),
            ]
        return out

    async def discover(self) -> Hits:
        for text, help_text, command in self._commands()[:2]:
            yield DiscoveryHit(Content(text), command, text=text, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, command in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(
                    score,
                    safe_highlight(matcher, text),
                    command,
                    text=visible(text),
                    help=help_text,
                )


class ScreenCommands(Provider):
    """The actions a screen lists in its PALETTE: (title, help, method name, arguments)."""

    def _commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        screen = self.screen
        return [
            (title, help, partial(getattr(screen, method), *args))
            for title, help, method, args in getattr(screen, "PALETTE", ())
        ]

    async def discover(self) -> Hits:
        for title, help, run in self._commands():
            yield DiscoveryHit(title, run, help=help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help, run in self._commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=help)
