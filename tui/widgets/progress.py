"""One progress display for long work (the live check, retry, the verify step): a bar and a
line such as "Retry 3/9 · sending INV-0042 · escape cancels", shown while the work runs,
instead of a stack of notifications.

    work = self.begin_work("Retry")          StoreScreen: shows the display, returns the handle
    retry(db, code, progress=work.progress, cancelled=work.cancelled)     on the worker thread
    self.end_work(work)                      when its result (or failure) has arrived

`escape` (StoreScreen's cancel_work, while work runs) sets the flag `cancelled` reads: the
store stops between items and its result says what was done and what was not.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import ProgressBar, Static

from tui.safe import visible

MUTED = "$text-muted"


class Work:
    """The handle a thread worker passes to the store (store/progress.py): both are safe to
    call from any thread."""

    def __init__(self, display: WorkProgress) -> None:
        self._display = display
        self._stop = threading.Event()

    def progress(self, done: int, total: int, doing: str = "") -> None:
        self._display.post_message(WorkProgress.Advanced(self, done, total, doing))

    def note(self, doing: str) -> None:
        """Say what is being done without moving the count (a wait for Xero's rate limit)."""
        self._display.post_message(WorkProgress.Advanced(self, -1, -1, doing))

    def xero(self, db: Any) -> Any:
        """A Xero client (as the store would make one) whose waits show on the display."""
        from store.xero.config import client_from_env  # httpx loads only when needed

        client = client_from_env(db)
        client.on_wait = lambda seconds, why: self.note(f"waiting {seconds:.3g} s: {why}")
        return client

    def cancelled(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()


class WorkProgress(Vertical):
    """The bar and its line; hidden while no work runs."""

    DEFAULT_CSS = """
    WorkProgress {
        height: auto;
        display: none;
        padding: 0 1;
    }
    WorkProgress.-running {
        display: block;
    }
    WorkProgress ProgressBar Bar {
        width: 1fr;
    }
    """

    @dataclass
    class Advanced(Message, bubble=False):
        work: Work
        done: int
        total: int
        doing: str

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.work: Work | None = None
        self.label = ""
        self._count = (0, 0)

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=None, show_eta=False)
        yield Static(classes="work-progress-line")

    @property
    def running(self) -> bool:
        return self.work is not None

    def begin(self, label: str) -> Work:
        self.work = Work(self)
        self.label = label
        self._count = (0, 0)
        self.query_one(ProgressBar).update(total=None, progress=0)
        self._say(f"{label}…", "starting")
        self.add_class("-running")
        return self.work

    def on_work_progress_advanced(self, message: Advanced) -> None:
        if message.work is not self.work or self.work.cancelled():
            return
        if message.done < 0:  # a note: the count stays
            message.done, message.total = self._count
        self._count = (message.done, message.total)
        done, total = message.done, message.total  # total 0: not known yet
        self.query_one(ProgressBar).update(total=total or None, progress=done)
        self._say(f"{self.label} {done:,}/{total:,}" if total else self.label, message.doing)

    def cancel(self) -> bool:
        """Ask the work to stop after its current item; False when none is running."""
        if self.work is None or self.work.cancelled():
            return False
        self.work.cancel()
        self.query_one(".work-progress-line", Static).update(
            Content.assemble((f"{self.label}: ", "bold"), "cancelling after the current item…")
        )
        return True

    def end(self, work: Work | None = None) -> None:
        """The work is over (only `work`'s display, when given)."""
        if work is not None and work is not self.work:
            return
        self.work = None
        self.remove_class("-running")

    def _say(self, count: str, doing: str) -> None:
        parts: list[str | tuple[str, str]] = [(count, "bold")]
        if doing:
            parts += [" · ", visible(doing)]  # document numbers come from the customer's data
        parts.append((" · escape cancels", MUTED))
        self.query_one(".work-progress-line", Static).update(Content.assemble(*parts))
