"""KeyFooter: the footer that always fits.

Textual's Footer lays out every shown binding and lets the last ones fall off the right edge
(`…u Unin▏` at 80 columns). This one shows the keys that matter for the screen and its state,
in the order the screen declares them, and drops from the end whatever does not fit the
terminal's width; `?` (every key of the screen, tui/screens/keys.py) always stays.

A screen narrows its footer to its state with `footer_keys(action) -> bool` (a key it hides
there still works and is listed under `?`).
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

HELP_ACTION = "help"
PALETTE_ROOM = 13  # "▏^p palette" docked on the right


def key_width(key_display: str, description: str, compact: bool) -> int:
    """Columns one key takes in the footer (key, description, padding and margin)."""
    return len(key_display) + len(description) + (2 if compact else 3)


class KeyFooter(Footer):
    """A Footer that fits: the screen's chosen keys, in order, as many as the width allows."""

    def fitted(self, width: int) -> list[tuple[Binding, bool, str]]:
        """The bindings to show at `width` columns, in the order they are declared."""
        screen = self.screen
        wants = getattr(screen, "footer_keys", None)
        chosen: dict[str, tuple[Binding, bool, str]] = {}
        for _, binding, enabled, tooltip in screen.active_bindings.values():
            if not binding.show or binding.action in chosen:
                continue
            if wants is not None and binding.action != HELP_ACTION and not wants(binding.action):
                continue
            chosen[binding.action] = (binding, enabled, tooltip)
        room = width - (PALETTE_ROOM if self.show_command_palette else 0)
        display = self.app.get_key_display

        def cost(item: tuple[Binding, bool, str]) -> int:
            return key_width(display(item[0]), item[0].description, self.compact)

        keep = [item for action, item in chosen.items() if action == HELP_ACTION]
        room -= sum(cost(item) for item in keep)
        for action, item in chosen.items():
            if action != HELP_ACTION and cost(item) <= room:
                keep.append(item)
                room -= cost(item)
        order = list(chosen.values())
        return sorted(keep, key=order.index)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready or not self.screen.is_current:
            return
        shown = self.fitted(self.app.size.width)
        self.styles.grid_size_columns = len(shown)
        for binding, enabled, tooltip in shown:
            key = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
                classes="-compact" if self.compact else "",
            )
            # The footer's compactness, set rather than data-bound: a bound key can only be
            # made while the footer itself composes (tests redraw footers from outside).
            key.set_reactive(FooterKey.compact, self.compact)
            yield key
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            active = self.screen.active_bindings
            if self.app.COMMAND_PALETTE_BINDING in active:
                _, binding, enabled, tooltip = active[self.app.COMMAND_PALETTE_BINDING]
                yield FooterKey(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    classes="-command-palette",
                    disabled=not enabled,
                    tooltip=binding.tooltip or binding.description,
                )

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and self.is_attached:
            self.call_after_refresh(self.recompose)
