"""The consent step of a reconnect against the real Xero, for a support person over SSH.

ConsentDialog shows Xero's consent URL in full (selectable, and an OSC 8 link the terminal can
open), `y` copies it (App.copy_to_clipboard: OSC 52, so it reaches the clipboard of the
machine the person sits at), and it completes either way a consent can come back: a listener
on the redirect URI's port (a thread worker, through `ssh -L` when the browser is elsewhere)
or the address the browser ended on, pasted. It dismisses with that address, or None.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.style import Style
from textual.widgets import Button, Input, Label, Static
from textual.worker import get_current_worker

from tui.safe import visible

LISTEN_SECONDS = 600.0  # as long as the link lives


def link_content(url: str) -> Content:
    """The URL in full, as a hyperlink (OSC 8) in terminals that have them."""
    text = visible(url)
    return Content(text).stylize(Style(underline=True, link=text))


class ConsentDialog(ModalScreen[str | None]):
    """Xero's consent link, and the way back: the loopback listener or a pasted address."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "copy", "Copy link"),
    ]
    DEFAULT_CSS = """
    ConsentDialog #consent-url { margin: 1 0; }
    """

    def __init__(self, link: Any, *, listen: bool = True) -> None:
        super().__init__()
        self.link = link
        self.listen = listen

    def compose(self) -> ComposeResult:
        port = self._port()
        with Vertical(classes="dialog", id="consent"):
            yield Label(
                Content(f"Xero consent for {visible(self.link.code)}"), classes="dialog-title"
            )
            yield Static(
                Content(
                    "Open this link in a browser, or send it to the customer (y copies it). "
                    f"It expires at {self.link.expires_at}."
                )
            )
            yield Static(link_content(self.link.url), id="consent-url")
            waiting = (
                f"Waiting for the browser at {self.link.redirect_uri} (from another machine: "
                f"ssh -L {port}:localhost:{port} to this host) …"
                if self.listen and port
                else "Paste the address the browser ends on below."
            )
            yield Static(Content(visible(waiting)), id="consent-status")
            yield Input(
                placeholder="…or paste the address the browser ended on, then enter",
                id="pasted",
                compact=True,
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Copy link (y)", id="copy", compact=True)
                yield Button("Use address", id="go", variant="primary", compact=True)

    def _port(self) -> int | None:
        from store.xero.callback import listen_address

        try:
            return listen_address(self.link.redirect_uri)[0]
        except Exception:  # not on this machine: paste only
            return None

    def on_mount(self) -> None:
        self.query_one("#pasted", Input).styles.width = "1fr"  # a whole address fits
        self.query_one("#copy", Button).focus()
        if self.listen and self._port():
            self.wait_for_browser()

    @work(thread=True, exclusive=True, group="consent-listen")
    def wait_for_browser(self) -> None:
        from store.errors import SyncdeskError
        from store.xero.callback import wait_for_redirect

        worker = get_current_worker()
        try:
            address = wait_for_redirect(
                self.link.redirect_uri,
                timeout=LISTEN_SECONDS,
                cancelled=lambda: worker.is_cancelled,
            )
        except SyncdeskError as exc:
            if not worker.is_cancelled:
                self.app.call_from_thread(self._status, f"{exc} Paste the address instead.")
            return
        if not worker.is_cancelled:
            self.app.call_from_thread(self.dismiss, address)

    def _status(self, text: str) -> None:
        self.query_one("#consent-status", Static).update(Content(visible(text)))

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.link.url)
        self.notify("Consent link copied (OSC 52).", timeout=3)

    @on(Button.Pressed, "#copy")
    def copy_pressed(self) -> None:
        self.action_copy()

    @on(Input.Submitted, "#pasted")
    @on(Button.Pressed, "#go")
    def go(self) -> None:
        address = self.query_one("#pasted", Input).value.strip()
        if not address:
            self._status("Paste the whole address the browser ended on first.")
            return
        self._stop()
        self.dismiss(address)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self._stop()
        self.dismiss(None)

    def _stop(self) -> None:
        self.workers.cancel_group(self, "consent-listen")
