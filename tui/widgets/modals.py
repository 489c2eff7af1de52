"""Modal dialogs for actions that change things: typed confirmation, tenant choice, mappings.

Every modal closes with escape (cancel), and says exactly what will happen. Outside text
(tenant names, mapping names) is passed as Content/Text, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.safe import lines, visible
from tui.widgets.words import key_hint, plural


def _keys(text: str) -> Static:
    """A dialog's last line: which keys confirm and which cancel."""
    return Static(Content(text), classes="dialog-keys")


def _lines(title: str, items: list[str], style: str = "") -> Content:
    body = "\n".join(f"  • {lines(item)}" for item in items) or "  (nothing)"
    return Content.assemble((title, f"bold {style}".strip()), "\n", body)


class ConfirmTyped(ModalScreen[bool]):
    """A destructive action: what goes, what stays, and the organisation code typed to confirm."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, code: str, removed: list[str], kept: list[str], verb: str = "Uninstall"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.code = code
        self.removed = removed
        self.kept = kept
        self.verb = verb

    @classmethod
    def uninstall(cls, plan: Any) -> ConfirmTyped:
        """The uninstall dialog for a store.models.UninstallPlan."""
        return cls(
            f"Uninstall the Xero integration of {plan.code}?",
            plan.code,
            plan.removed(),
            plan.kept(),
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(self.title_text), classes="dialog-title")
            with VerticalScroll(classes="dialog-body"):
                yield Static(_lines("Removed:", self.removed, "$error"))
                yield Static(_lines("Kept:", self.kept, "$success"))
            yield Label(Content(f"Type {self.code} to confirm:"))
            yield Input(placeholder=self.code, id="typed", compact=True)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(self.verb, id="go", variant="error", disabled=True, compact=True)
            yield _keys(key_hint(f"type {self.code}, then enter confirms", "escape cancels"))

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    @on(Input.Changed, "#typed")
    def typed(self, event: Input.Changed) -> None:
        self.query_one("#go", Button).disabled = event.value.strip().upper() != self.code

    @on(Input.Submitted, "#typed")
    def submitted(self, event: Input.Submitted) -> None:
        if event.value.strip().upper() == self.code:
            self.dismiss(True)

    @on(Button.Pressed, "#go")
    def go(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class Confirm(ModalScreen[bool]):
    """A yes/no question; the safe answer has the focus."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "answer(False)", "No"),
        Binding("y", "answer(True)", "Yes"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(visible(self.question)), classes="dialog-title")
            if self.detail:
                yield Static(Content(lines(self.detail)))
            with Horizontal(classes="dialog-buttons"):
                yield Button("No", id="no", compact=True)
                yield Button(self.yes, id="yes", variant="warning", compact=True)
            yield _keys(key_hint(f"y {self.yes.lower()}", "n or escape cancels"))

    def on_mount(self) -> None:
        for safe in self.query("#no"):  # answered already (n typed ahead): nothing to focus
            safe.focus()

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)

    @on(Button.Pressed)
    def pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")


@dataclass(frozen=True)
class ReconnectAnswer:
    """What the Reconnect dialog was answered with."""

    tenant_id: str
    accept_new_tenant: bool  # the 'different Xero organisation' box was ticked
    restore: bool  # restore the latest snapshot


class ReconnectChoice(ModalScreen[ReconnectAnswer | None]):
    """Choose the Xero organisation to reconnect to, and whether to restore the snapshot.

    A tenant different from the previous one turns the dialog into a loud warning and needs
    the 'different organisation' box ticked before Reconnect is allowed. `enter` on the list
    chooses the highlighted organisation and reconnects (a different one moves to the box
    first; ticking it moves to Reconnect).
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        code: str,
        tenants: list[Any],
        previous_id: str | None,
        previous_name: str | None,
        snapshot: Any | None,
        state: str,
    ) -> None:
        super().__init__()
        self.code = code
        self.tenants = tenants
        self.previous_id = previous_id
        self.previous_name = previous_name
        self.snapshot = snapshot
        self.state = state

    @classmethod
    def from_options(cls, options: Any) -> ReconnectChoice:
        """The dialog for a store.models.ReconnectOptions."""
        return cls(
            options.code,
            list(options.tenants),
            options.previous_tenant_id,
            options.previous_tenant_name,
            options.snapshot,
            options.state,
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(f"Reconnect {self.code} to Xero"), classes="dialog-title")
            before = (
                f"Previously connected to {self.previous_name} ({self.previous_id})"
                if self.previous_id
                else "No previous Xero organisation on record"
            )
            yield Static(Content(visible(before)))
            options = []
            for t in self.tenants:
                mark = "  (previous)" if t.tenant_id == self.previous_id else ""
                options.append(
                    Option(
                        Content(visible(f"{t.tenant_name}  {t.tenant_id}{mark}")), id=t.tenant_id
                    )
                )
            yield OptionList(*options, id="tenants", compact=True)
            yield Static("", id="warning")
            yield Checkbox(
                "Yes, connect to a DIFFERENT Xero organisation", id="accept", compact=True
            )
            if self.snapshot is not None:
                yield Checkbox(
                    Content(
                        visible(
                            f"Restore snapshot {self.snapshot.id} "
                            f"({plural(len(self.snapshot.mappings), 'mapping')}, "
                            f"{plural(len(self.snapshot.settings), 'setting')}, taken "
                            f"{self.snapshot.taken_at})"
                        )
                    ),
                    value=self.state == "uninstalled",
                    id="restore",
                    compact=True,
                )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Reconnect", id="go", variant="primary", compact=True)
            yield _keys(key_hint("enter chooses and reconnects", "escape cancels"))

    def on_mount(self) -> None:
        tenants = self.query_one("#tenants", OptionList)
        ids = [t.tenant_id for t in self.tenants]
        tenants.highlighted = ids.index(self.previous_id) if self.previous_id in ids else 0
        tenants.focus()
        self._update()

    def _chosen(self) -> str | None:
        index = self.query_one("#tenants", OptionList).highlighted
        return self.tenants[index].tenant_id if index is not None and self.tenants else None

    def _changed(self) -> bool:
        chosen = self._chosen()
        return bool(self.previous_id) and chosen is not None and chosen != self.previous_id

    def _update(self) -> None:
        changed = self._changed()
        warning = self.query_one("#warning", Static)
        warning.set_class(changed, "-loud")
        warning.update(
            Content(
                "⚠ THIS IS A DIFFERENT XERO ORGANISATION. Reconnecting to it can duplicate "
                "contacts and post documents into the wrong books."
                if changed
                else ""
            )
        )
        accept = self.query_one("#accept", Checkbox)
        accept.display = changed
        self.query_one("#go", Button).disabled = changed and not accept.value

    @on(OptionList.OptionHighlighted)
    def highlighted(self) -> None:
        self._update()

    @on(Checkbox.Changed, "#accept")
    def accepted(self, event: Checkbox.Changed) -> None:
        self._update()
        if event.value:
            self.query_one("#go", Button).focus()

    @on(OptionList.OptionSelected)
    def selected(self) -> None:
        """enter on the list: reconnect to it, unless it needs the 'different' box first."""
        if self._changed() and not self.query_one("#accept", Checkbox).value:
            self.query_one("#accept", Checkbox).focus()
        else:
            self.go()

    @on(Button.Pressed, "#go")
    def go(self) -> None:
        chosen = self._chosen()
        if chosen is None or self.query_one("#go", Button).disabled:
            return
        restore = self.query(Checkbox).filter("#restore")
        self.dismiss(
            ReconnectAnswer(
                tenant_id=chosen,
                accept_new_tenant=self._changed() and self.query_one("#accept", Checkbox).value,
                restore=bool(restore and restore.first().value),
            )
        )

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class ChooseCode(ModalScreen[str | None]):
    """Pick a replacement Xero code for one mapping from the tenant's valid ones."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, heading: str, problem: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.heading = heading
        self.problem = problem
        self.choices = choices

    @classmethod
    def for_problem(
        cls,
        kind: str,
        local: str,
        remote: str,
        problem: str,
        suggestions: list[str] | tuple[str, ...],
        accounts: list[Any],
        rates: list[Any],
    ) -> ChooseCode:
        """Replacement codes for one failing mapping, named from the tenant's chart."""
        names = {a.code: f"{a.name} ({a.type})" for a in accounts if a.code}
        names.update({t.tax_type: f"{t.name} ({t.rate}%)" for t in rates})
        return cls(
            f"{kind} {local} -> {remote}",
            problem,
            [(code, names.get(code, "")) for code in suggestions],
        )

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(visible(self.heading)), classes="dialog-title")
            yield Static(Content(lines(self.problem)))
            if not self.choices:
                yield Static(
                    Content(
                        "The tenant has no active code that fits this mapping, so there is "
                        "nothing to choose. Create or unarchive one in Xero (chart of accounts "
                        "or tax rates), then press m again."
                    ),
                    id="empty",
                )
            yield OptionList(
                *[
                    Option(Content(visible(f"{code}  {label}")), id=code)
                    for code, label in self.choices
                ],
                id="codes",
                compact=True,
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="cancel", compact=True)
            yield _keys(key_hint("enter chooses the highlighted code", "escape cancels"))

    def on_mount(self) -> None:
        self.query_one("#codes", OptionList).focus()

    @on(OptionList.OptionSelected, "#codes")
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class AskText(ModalScreen[str | None]):
    """One line of text (a note, a file name)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.prompt = prompt
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(Content(self.prompt), classes="dialog-title")
            yield Input(self.value, placeholder=self.placeholder, id="text", compact=True)
            yield _keys(key_hint("enter saves", "escape cancels"))

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    @on(Input.Submitted, "#text")
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value if event.value.strip() else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
