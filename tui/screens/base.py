"""StoreScreen: the one way a screen (or a dialog) uses the store.

    with self.store() as db: ...          a connection for this thread's work, returned on leaving
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

The work runs on a daemon thread of its own, not in asyncio's default executor: the
interpreter joins the executor's threads on exit, so a Xero call hanging in one kept `q` from
quitting for as long as the call took. A daemon thread is left behind instead; the store is
safe with that, since SQLite rolls back a transaction its process did not commit.

Screens that show store state set WATCH_SECONDS: a PRAGMA data_version poll (microseconds)
on a connection kept open for it calls `store_changed` (by default `action_reload`) when
another connection has committed.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.message import Message
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from store.db import open_store, patience, read_only_reason, store_error
from store.errors import SyncdeskError, TransitionRefused
from store.watch import data_version
from tui.widgets.advice import console_words
from tui.widgets.progress import Work, WorkProgress

if TYPE_CHECKING:
    import sqlite_utils

FAILURE_SECONDS = 10  # long enough to read a sentence of advice
STORE_PATIENCE = 10.0  # seconds a console action waits for another session's write lock
WAITING = "Waiting for the store — another session is writing…"


def failure_text(error: BaseException) -> str:
    """What the person reads: the command line's one line for our errors; a sqlite3 error
    named as the store names it; anything else said plainly, never a traceback."""
    if isinstance(error, SyncdeskError):
        return str(error)
    if isinstance(error, sqlite3.Error):
        return str(store_error(error))
    return f"Unexpected error: {type(error).__name__}: {error}"


def read_only_text(app: object) -> str:
    """The one line a read-only console says when a key would change something."""
    reason = getattr(app, "read_only_reason", None) or "--read-only"
    advice = (
        "start syncdesk without --read-only"
        if reason == "--read-only"
        else "ask a member of the store's group to do it"
    )
    return f"This console is read-only ({reason}), so it changes nothing; {advice}."


def in_daemon_thread(call: Callable[[], Any]) -> asyncio.Future[Any]:
    """call() on a daemon thread, its result (or exception) as a future of the running loop.

    The thread sees the caller's context (the active app and worker, so get_current_worker
    works there) and never keeps the process alive: quitting does not wait for it.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # cancelled meanwhile: nobody wants the answer
            outcome()

    def target() -> None:
        try:
            result = context.run(call)
        except BaseException as exc:  # SystemExit too: the worker must end either way
            error = exc if isinstance(exc, Exception) else RuntimeError(f"stopped: {exc!r}")
            outcome = partial(future.set_exception, error)
        else:
            outcome = partial(future.set_result, result)
        with suppress(RuntimeError):  # the loop has closed: the app is gone
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=target, name="syncdesk-store-work", daemon=True).start()
    return future


def store_work(*, group: str, exclusive: bool = True) -> Callable[[Callable[..., Any]], Any]:
    """@work for a StoreScreen method that calls the store: work on a daemon thread (see
    in_daemon_thread) whose result (a Message) is posted to the screen and whose errors go to
    `failed`.

    Exclusive (the default): starting it cancels the group's earlier worker, and only the
    latest worker started in the group delivers, even one that finished just before.
    """

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(method)
        async def on_daemon_thread(screen: StoreScreen, *args: Any, **kwargs: Any) -> Any:
            def call() -> Any:
                # Another session holding the write lock: say so, wait up to STORE_PATIENCE.
                with patience(STORE_PATIENCE, lambda: screen.post_message(screen.Waiting())):
                    return method(screen, *args, **kwargs)

            return await in_daemon_thread(call)

        start = work(on_daemon_thread, exclusive=exclusive, exit_on_error=False, group=group)
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
    # The screen's actions that change the store or Xero: in a read-only console (the App's
    # `read_only`) their keys are hidden (check_action asks `refused`) and, pressed anyway,
    # refused with one line.
    CHANGES: ClassVar[frozenset[str]] = frozenset()

    _watching: sqlite_utils.Database | None = None  # the poll's own connection, kept open
    _seen_version: int | None = None

    class Waiting(Message, bubble=False):
        """A worker found another session writing the store and waits for it."""

    def __init__(self, db_path: Path | str) -> None:
        super().__init__()
        self.db_path = Path(db_path)
        self._latest: dict[str, Worker[Any]] = {}  # the newest worker of each exclusive group
        self._idle: list[tuple[sqlite_utils.Database, int]] = []  # (connection, file inode)
        self._idle_lock = threading.Lock()

    @contextmanager
    def store(self) -> Iterator[sqlite_utils.Database]:
        """A connection to the store for this worker (`with self.store() as db:`).

        Connections are kept for the screen's life, one per worker running at a time, rather
        than opened for every page and count (~1 ms each, and the checks of open_store). One
        is used by one worker at a time, so interrupting its query stops nobody else's. A kept
        connection is not used again when the file at the path is no longer the one it opened
        (moved away, replaced): opening afresh then says what is wrong. A read-only session's
        connection may have been opened `immutable` and would never see new writes, so it
        is never kept.
        """
        db, inode = self._take_idle()
        if db is None:
            db = open_store(self.db_path)
        kept = False
        try:
            yield db
            if inode is not None and read_only_reason(self.db_path) is None and self.is_attached:
                with self._idle_lock:
                    self._idle.append((db, inode))
                kept = True
        finally:
            if not kept:
                db.conn.close()

    def _take_idle(self) -> tuple[sqlite_utils.Database | None, int | None]:
        """A kept connection to the file at the path now (None: open one), and that file."""
        inode = _inode(self.db_path)
        with self._idle_lock:
            while self._idle:
                db, opened = self._idle.pop()
                if opened == inode:
                    return db, inode
                db.conn.close()
        return None, inode

    def _close_idle(self) -> None:
        with self._idle_lock:
            idle, self._idle = self._idle, []
        for db, _ in idle:
            db.conn.close()

    # --- results and failures ----------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.is_cancelled or self._latest.get(worker.group, worker) is not worker:
            return  # superseded, or the screen is closing: what it found is no longer wanted
        if event.state == WorkerState.SUCCESS and isinstance(worker.result, Message):
            self.post_message(worker.result)
        elif event.state == WorkerState.ERROR and worker.error is not None:
            self.failed(worker.error)

    def on_store_screen_waiting(self, message: Waiting) -> None:
        self.notify(
            f"{WAITING} (up to {STORE_PATIENCE:g} s)",
            severity="warning",
            markup=False,
            timeout=STORE_PATIENCE,
        )

    def failed(self, error: BaseException) -> None:
        """A store call failed: say so in the CLI's words; a refused transition also reloads."""
        self.end_work()  # long work that failed shows no progress any more
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

    # --- a read-only session ------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return bool(getattr(self.app, "read_only", False))

    def refused(self, action: str) -> bool:
        """True when the session is read-only and `action` would change something."""
        return action in self.CHANGES and self.read_only

    def gate(self, action: str) -> bool | None:
        """What every StoreScreen says about an action's key (False: hidden and off), or None
        for no opinion. A screen's own check_action asks this first."""
        if self.refused(action):
            return False
        if action == "cancel_work":  # a second escape, while it stops, does the usual
            display = self._progress()
            return bool(display and display.work and not display.work.cancelled())
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        verdict = self.gate(action)
        return True if verdict is None else verdict

    # --- long work: one progress display, escape cancels -------------------------------------

    def _progress(self) -> WorkProgress | None:
        found = self.query(WorkProgress)
        return found.first() if found else None

    @property
    def working(self) -> bool:
        display = self._progress()
        return display is not None and display.running

    def begin_work(self, label: str) -> Work | None:
        """Show the screen's progress display for `label` and return the work's handle; None
        (and a line saying so) while other long work runs, one at a time."""
        display = self._progress()
        if display is None:
            raise RuntimeError(f"{type(self).__name__} has no WorkProgress")
        if display.running:
            self.notify(
                f"{display.label} is still running; wait for it, or press escape to cancel it.",
                severity="warning",
                markup=False,
                timeout=4,
            )
            return None
        work = display.begin(label)
        self.refresh_bindings()
        return work

    def end_work(self, work: Work | None = None) -> None:
        display = self._progress()
        if display is not None:
            display.end(work)
            self.refresh_bindings()

    def action_cancel_work(self) -> None:
        display = self._progress()
        if display is not None and display.cancel():
            self.refresh_bindings()

    def on_key(self, event: events.Key) -> None:
        if not self.read_only:
            return
        bindings = self._bindings.key_to_bindings.get(event.key, [])
        if any(self.refused(binding.action) for binding in bindings):
            event.stop()
            event.prevent_default()
            self.notify(read_only_text(self.app), severity="warning", markup=False, timeout=4)

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
        self._close_idle()


def _inode(path: Path) -> int | None:
    """Which file is at path now (None: none)."""
    try:
        return os.stat(path).st_ino
    except OSError:
        return None
