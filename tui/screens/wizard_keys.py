"""The refresh wizard's run keys: a note (n), take over (o), resolved (v), escalate (e) and
copy the escalation summary (y). A mixin of WizardScreen (tui/screens/wizard.py), which holds
the run, the actor and `act` (one store call in a thread, then the run as it stands)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store import paths
from store.runs import add_note, escalate, resolve, take_over
from tui.widgets.modals import AskText, Confirm

if TYPE_CHECKING:
    import sqlite_utils


class RunKeys:
    """The wizard's keys that act on the run as a whole rather than on its current step."""

    code: str
    actor: str
    run: Any
    summary: str | None
    app: Any

    def action_note(self) -> None:
        def answered(text: str | None) -> None:
            if text:
                self.act(
                    "Adding the note",
                    lambda db: add_note(db, self.code, text, actor=self.actor)
                    and "Note added to the run.",
                )

        self.app.push_screen(
            AskText("Note for this step (goes in the run and the packet):"), answered
        )

    def action_take_over(self) -> None:
        run = self.run

        def answered(yes: bool | None) -> None:
            if yes:
                self.act(
                    "Taking over",
                    lambda db: take_over(db, self.code, actor=self.actor)
                    and f"You now hold the run (was {run.claimed_by}).",
                )

        self.app.push_screen(
            Confirm(
                f"Take over the run claimed by {run.claimed_by}?",
                f"{run.claimed_by} has held it since {run.claimed_at}; the take-over is "
                "recorded in the run.",
                yes="Take over",
            ),
            answered,
        )

    def action_resolve(self) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.act(
                    "Resolving",
                    lambda db: resolve(db, self.code, actor=self.actor)
                    and "Run closed as resolved.",
                )

        self.app.push_screen(
            Confirm("Close the run as resolved?", "Remaining steps are skipped.", yes="Resolved"),
            answered,
        )

    def action_escalate(self) -> None:
        def call(db: sqlite_utils.Database) -> str:
            md, js, summary = escalate(
                db, self.code, actor=self.actor, packet_dir=paths.packets_dir()
            )
            self.post_message(self.Escalated(summary))
            return f"Packet written to {md} and {js}."

        def answered(yes: bool | None) -> None:
            if yes:
                self.act("Writing the support packet", call)

        self.app.push_screen(
            Confirm(
                "Escalate with a support packet?",
                "Writes Markdown and JSON (organisation, tenant, state history, steps, errors "
                "before and after, knowledge-base suggestions; no secrets) and closes the run.",
                yes="Escalate",
            ),
            answered,
        )

    def action_copy_summary(self) -> None:
        text = self.summary or (
            f"{self.code}: refresh run {self.run.id} escalated; packet {self.run.packet}"
            if self.run
            else None
        )
        if text:
            self.app.copy_to_clipboard(text)
            self.notify("Summary copied (OSC 52).", timeout=3)
