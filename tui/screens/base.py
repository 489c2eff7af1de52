"""StoreScreen: the one way a screen (or a dialog) uses the store.

    with self.store() as db: ...          a connection of this thread's own, closed on leaving
    @store_work(group="load")             a thread worker: sqlite3 blocks, so never on the UI
    def load(self) -> Loaded:             thread; exclusive in its group; errors kept, not fatal
        with self.store() as db:
            return self.Loaded(show_org(db, self.code))
    def on_org_screen_loaded(self, message: Loaded) -> None: ...   on the UI thread

A worker returns a Message (a dataclass nested in the screen, past tense); when the worker
succeeds, the base posts it to the screen, so results arrive as messages and nothing is handed
back with `call_from_thread`. In an exclusive group only the newest worker delivers: an older
one is cancelled when the newer starts (or has finished, and is dropped by identity), and so
is every worker when the screen closes. That is how a slow answer to an earlier keystroke is
dropped, without generation counters. Thread workers may also post messages (progress)
themselves: `post_message` is thread-safe.

Any exception from any worker of the screen reaches `failed`, one place: a notification in the
command line's words (markup off). A refused transition (someone else changed the integration,
or holds the run) also reloads the screen, so it shows what is true now. Textual's
Worker.StateChanged does not bubble, which is why this lives on the screen and not the App.

Screens that show store state set WATCH_SECONDS: a PRAGMA data_version poll (microseconds)
on a connection kept open for it calls `store_changed` (by default `action_reload`) when
another connection has committed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ClassVar

import sqlite_utils
from textual import work
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from store.db import open_store, store_error
from store.errors import SyncdeskError, TransitionRefused
from store.watch import data_version
from tui.widgets.advice import console_words

FAILURE_SECONDS = 10  # long enough to read a sentence of advice


def failure_text(error: BaseException) -> str:
    """What the person reads: the command line's one line for our errors; a sqlite3 error
    named as the store names it; anything else said plainly, never a traceback."""
    if isinstance(error, SyncdeskError):
        return str(error)
    if isinstance(error, sqlite3.Error):
        return str(store_error(error))
    return f"Unexpected error: {type(error).__name__}: {error}"


def store_work(*, group: str, exclusive: bool = True) -> Callable[[Callable[..., Any]], Any]:
    """@work for a StoreScreen method that calls the store: a thread worker whose result (a
    Message) is posted to the screen and whose errors go to `failed`.

    Exclusive (the default): starting it cancels the group's earlier worker, and only the
    latest worker started in the group delivers, even one that finished just before.
    """

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        start = work(method, thread=True, exclusive=exclusive, exit_on_error=False, group=group)
        if not exclusive:
            return start

        @wraps(method)
        def start_latest(screen: StoreScreen, *args: Any, **kwargs: Any) -> Worker[Any]:
            worker = start(screen, *args, **kwargs)
            screen._latest[group] = worker
            return worker

        return start_latest

    return decorate


class StoreScreen(Screen):
    """A screen over the store at `db_path`; dialogs mix it in before ModalScreen."""

    WATCH_SECONDS: ClassVar[float | None] = None  # poll for other sessions' writes this often
    # Where the screen's messages are read, for naming keys instead of commands (advice.py).
    WORDS_SCREEN: ClassVar[str | None] = None
    WORDS_HERE: ClassVar[dict[str, str]] = {}

    _watching: sqlite_utils.Database | None = None  # the poll's own connection, kept open
    _seen_version: int | None = None

    def __init__(self, db_path: Path | str) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self._latest: dict[str, Worker[Any]] = {}  # the newest worker of each exclusive group

    def store(self) -> sqlite_utils.Database:
        """Open the store for this thread (`with self.store() as db:` closes it again)."""
        return open_store(self.db_path)

    # --- results and failures ----------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.is_cancelled or self._latest.get(worker.group, worker) is not worker:
            return  # superseded, or the screen is closing: what it found is no longer wanted
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, Message):
            self.post_message(worker.result)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self.failed(worker.error)

    def failed(self, error: BaseException) -> None:
        """A store call failed: say so in the CLI's words; a refused transition also reloads."""
        stale = isinstance(error, TransitionRefused)
        text = self.words(failure_text(error)) + (" The screen has been reloaded." if stale else "")
        self.notify(
            text,
            severity="warning" if stale else "error",
            markup=False,
            timeout=FAILURE_SECONDS,
        )
        if stale:
            self.action_reload()

    def words(self, text: str) -> str:
        """A store message as the console says it: the key, not the command (advice.py)."""
        return console_words(text, self.WORDS_SCREEN, self.WORDS_HERE)

    def action_reload(self) -> None:
        """Load again what the screen shows (screens showing store state override this)."""

    # --- watching for other sessions ---------------------------------------------------------

    def follow_store(self) -> None:
        """Start noticing other sessions' commits (call from on_mount)."""
        if self.WATCH_SECONDS is None:
            return
        try:
            self._watching = open_store(self.db_path)
            self._seen_version = data_version(self._watching)
        except SyncdeskError as exc:
            self._not_watching(exc)
            return
        self.set_interval(self.WATCH_SECONDS, self.poll)

    def poll(self) -> None:
        """Look at data_version (microseconds); only a change calls store_changed."""
        if self._watching is None or not self.is_current:
            return  # under another screen or a dialog: the change is noticed when it is back
        try:
            version = data_version(self._watching)
        except sqlite3.Error as exc:
            self._stop_watching()
            self._not_watching(exc)
            return
        if version != self._seen_version:
            self._seen_version = version
            self.store_changed()

    def store_changed(self) -> None:
        """Another session wrote the store."""
        self.action_reload()

    def _not_watching(self, error: BaseException) -> None:
        self.notify(
            f"Not following other sessions' changes: {failure_text(error)}",
            severity="warning",
            markup=False,
            timeout=FAILURE_SECONDS,
        )

    def _stop_watching(self) -> None:
        if self._watching is not None:
            self._watching.conn.close()
            self._watching = None

    def on_unmount(self) -> None:
        # Textual calls every class's on_unmount, so a screen's own one does not replace this.
        self._stop_watching()
