"""`?`: every key of the screen it is opened on, that screen's own keys first.

Textual's key panel lists the focused widget's keys (scrolling, cursor movement) before the
screen's, so at 80×24 the keys that matter were below the fold. This dialog lists the screen's
keys (those its state does not allow now are marked), then the keys that work everywhere, then
those of the table or list that has the focus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual.actions import parse
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from tui.widgets.words import key_hint

# Keys every screen has, from Textual itself or the App (ctrl+c is Textual's copy).
EVERYWHERE = (
    ("ctrl+p", "Command palette: organisations and actions"),
    ("tab / shift+tab", "Next / previous box"),
    ("ctrl+t", "Dark / light theme"),
    ("q / ctrl+q", "Quit"),
    ("escape", "While long work runs (check, retry, a step, export): cancel it"),
)


@dataclass(frozen=True)
class KeyLine:
    """One action's keys and what it does."""

    keys: str
    description: str
    now: bool = True  # False: the screen's state does not allow it at the moment


def _own_bindings(node: Any) -> list[Binding]:
    """The bindings syncdesk's own classes declare on `node` (not Textual's), subclass first."""
    out: list[Binding] = []
    for cls in type(node).__mro__:
        if cls.__module__.startswith("tui."):
            for item in cls.__dict__.get("BINDINGS", ()):
                out.append(item if isinstance(item, Binding) else Binding(*item))
    return out


def key_lines(node: Any, app: Any) -> list[KeyLine]:
    """One line per action of `node`'s own bindings, keys joined, in declared order."""
    by_action: dict[str, list[Binding]] = {}
    for binding in _own_bindings(node):
        for key in binding.key.split(","):
            one = Binding(key.strip(), binding.action, binding.description)
            by_action.setdefault(binding.action, []).append(one)
    lines = []
    for action, bindings in by_action.items():
        namespace, name, args = parse(action)
        check = getattr(node, "check_action", None)
        state = True if check is None or namespace else check(name, args)
        if state is False:
            continue
        keys = " ".join(dict.fromkeys(app.get_key_display(b) for b in bindings))
        lines.append(KeyLine(keys, bindings[0].description, bool(state)))
    return lines


def _focus_title(widget: Widget) -> str:
    return {"RowTable": "In the table", "OptionList": "In the list"}.get(
        type(widget).__name__, f"In the {type(widget).__name__}"
    )


def sections(screen: Screen, app: Any) -> list[tuple[str, list[KeyLine]]]:
    """(title, lines) for the screen, the keys that work everywhere, and the focused box."""
    title = getattr(screen, "KEYS_TITLE", None) or type(screen).__name__
    out = [(title, key_lines(screen, app))]
    out.append(("Everywhere", [KeyLine(k, d) for k, d in EVERYWHERE]))
    focused = screen.focused
    if focused is not None and focused.__module__.startswith("tui."):
        lines = key_lines(focused, app)
        if lines:
            out.append((_focus_title(focused), lines))
    return out


def keys_text(parts: list[tuple[str, list[KeyLine]]]) -> Content:
    pieces: list[Content | str | tuple[str, str]] = []
    for title, lines in parts:
        if pieces:
            pieces.append("\n")
        pieces.append((f"{title}\n", "bold underline"))
        width = max((len(line.keys) for line in lines), default=0)
        for line in lines:
            style = "" if line.now else "$text-muted"
            pieces.append((f"{line.keys.rjust(width)}  ", "bold $accent" if line.now else style))
            pieces.append((line.description + ("  (not now)" if not line.now else ""), style))
            pieces.append("\n")
    return Content.assemble(*pieces)


class KeysScreen(ModalScreen[None]):
    """The keys of the screen below, that screen's own first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1", "close", "Close"),
    ]

    def __init__(self, parts: list[tuple[str, list[KeyLine]]]) -> None:
        super().__init__()
        self.parts = parts

    @classmethod
    def of(cls, screen: Screen, app: Any) -> KeysScreen:
        return cls(sections(screen, app))

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="keys"):
            yield Static(Content("Keys"), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(keys_text(self.parts), id="keys-text")
            yield Static(Content(key_hint(close="escape or ?")), classes="dialog-keys")

    def action_close(self) -> None:
        self.dismiss(None)
