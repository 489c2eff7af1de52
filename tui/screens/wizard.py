"""The refresh wizard: from symptom to resolved (or escalated), one recorded step at a time.

Diagnosis first, before anything changes; then a stepper down the side (done / current / to
do, with who and when) and the current step in the main area: what it does, what is kept and
what is lost, the one key that performs it, and its result. The run lives in the store
(store/runs.py), so a dropped session resumes where it stopped and a colleague sees the claim.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, ProgressBar, Static
from textual.worker import get_current_worker

from store import paths
from store.db import open_store
from store.diagnose import Diagnosis, diagnose
from store.mapping_edits import set_mapping
from store.models import Run, StepInput
from store.reconnect import reconnect_options
from store.runs import (
    add_note,
    escalate,
    latest_run,
    next_step,
    resolve,
    start_run,
    take_over,
)
from store.transitions import default_actor, uninstall_plan
from store.xero.mappings import tenant_chart
from tui.widgets.modals import AskText, ChooseCode, Confirm, ConfirmTyped, ReconnectChoice
from tui.widgets.run_text import (
    TITLES,
    diagnosis_text,
    last_result_text,
    plan_text,
    start_text,
    step_text,
    stepper_text,
    styled,
)


class WizardScreen(Screen):
    """Guided refresh of one organisation's integration."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "perform", "Do step"),
        Binding("m", "fix_mapping", "Fix mapping"),
        Binding("n", "note", "Note"),
        Binding("e", "escalate", "Escalate"),
        Binding("v", "resolve", "Resolved"),
        Binding("o", "take_over", "Take over"),
        Binding("y", "copy_summary", "Copy summary"),
        Binding("escape", "back", "Back"),
    ]

    def __init__(self, db_path: Path, code: str, *, actor: str | None = None) -> None:
        super().__init__()
        self.db_path = db_path
        self.code = code.upper()
        self.actor = actor or default_actor()
        self.run: Run | None = None
        self.diagnosis: Diagnosis | None = None
        self.problems: list[Any] = []
        self.summary: str | None = None
        self.busy = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="wizard"):
            yield Static(id="stepper")
            with VerticalScroll(id="step-body"):
                yield Static(id="claim")
                yield Static(id="step")
                yield ProgressBar(id="progress", show_eta=False)
                yield Static(id="result")
                yield Static(id="diagnosis")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = f"syncdesk · refresh {self.code}"
        self.query_one("#progress").display = False
        self.load()

    # --- store calls (thread workers; one connection per call) --------------------------------

    def _call(self, fn: Callable[[Any], Any]) -> Any:
        db = open_store(self.db_path)
        try:
            return fn(db)
        finally:
            db.conn.close()

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def load(self) -> None:
        run = self._call(lambda db: latest_run(db, self.code))
        self.app.call_from_thread(self.show_run, run)
        if run is None or run.status != "in_progress" or run.diagnosis is None:
            found = self._call(lambda db: diagnose(db, self.code))
            self.app.call_from_thread(self.show_diagnosis, found)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def act(self, label: str, fn: Callable[[Any], Any]) -> None:
        """Perform one store call, then show the run as it now stands."""
        self.app.call_from_thread(self._set_busy, True, label)
        try:
            result = self._call(fn)
        finally:
            self.app.call_from_thread(self._set_busy, False, "")
        if isinstance(result, str):
            self.app.call_from_thread(self.notify, result, markup=False, timeout=6)
        run = self._call(lambda db: latest_run(db, self.code))
        self.app.call_from_thread(self.show_run, run)

    def _set_busy(self, busy: bool, label: str) -> None:
        self.busy = busy
        self.set_class(busy, "-busy")
        if busy:
            self.query_one("#result", Static).update(styled((f"{label}…", "italic")))
        bar = self.query_one("#progress", ProgressBar)
        if not busy:
            bar.display = False
        self.refresh_bindings()

    def _progress(self, done: int, total: int) -> None:
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=total, progress=done)

    # --- showing -------------------------------------------------------------------------------

    def show_diagnosis(self, found: Diagnosis) -> None:
        self.diagnosis = found
        self.query_one("#diagnosis", Static).update(diagnosis_text(found))
        if self.run is None or self.run.status != "in_progress":
            self._show_start()

    def _show_start(self) -> None:
        self.query_one("#step", Static).update(start_text(self.run))
        self.query_one("#stepper", Static).update(plan_text())

    def show_run(self, run: Run | None) -> None:
        self.run = run
        self.refresh_bindings()
        if run is None:
            self.query_one("#claim", Static).update("")
            self._show_start()
            return
        self.query_one("#stepper", Static).update(stepper_text(run))
        self._show_claim(run)
        self._show_step(run)
        if run.diagnosis and self.diagnosis is None:
            self.query_one("#diagnosis", Static).update(
                styled(
                    ("Diagnosis (at the start of the run)\n", "bold"),
                    f"{run.diagnosis['verdict']['title']}: {run.diagnosis['verdict']['next_step']}",
                )
            )

    def _show_claim(self, run: Run) -> None:
        claim = self.query_one("#claim", Static)
        mine = run.claimed_by == self.actor
        claim.set_class(not mine and run.status == "in_progress", "-foreign")
        if run.status == "in_progress" and not mine:
            claim.update(
                styled(
                    (
                        f"This run is claimed by {run.claimed_by} since "
                        f"{run.claimed_at}. Press o to take it over.",
                        "bold",
                    )
                )
            )
        else:
            claim.update("")

    def _show_step(self, run: Run) -> None:
        result = self.query_one("#result", Static)
        last = last_result_text(run)
        if last is not None:
            result.update(last)
        elif not self.busy:
            result.update("")
        self.query_one("#step", Static).update(step_text(run))

    # --- keys ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        run = self.run
        open_run = run is not None and run.status == "in_progress"
        mine = open_run and run.claimed_by == self.actor
        if action == "perform":
            return (not self.busy) and (run is None or not open_run or mine) or None
        if action == "take_over":
            return open_run and not mine
        if action in ("note", "escalate", "resolve"):
            return bool(mine) and not self.busy
        if action == "fix_mapping":
            return bool(self.problems)
        if action == "copy_summary":
            return self.summary is not None or (run is not None and run.status == "escalated")
        return True

    def action_back(self) -> None:
        for worker in self.workers:
            worker.cancel()
        self.app.pop_screen()

    def action_perform(self) -> None:
        run = self.run
        if run is None or run.status != "in_progress":
            self.act(
                "Starting",
                lambda db: start_run(db, self.code, actor=self.actor)
                and "Run started: the organisation is claimed by you.",
            )
            return
        step = run.current
        if step is None:
            self.action_escalate()
        elif step.name == "uninstall":
            self._confirm_uninstall()
        elif step.name == "reconnect":
            self._choose_tenant()
        else:
            self._do_step(StepInput())

    def _do_step(self, given: StepInput) -> None:
        def call(db: Any) -> str:
            worker = get_current_worker()
            run = next_step(
                db,
                self.code,
                actor=self.actor,
                given=given,
                progress=lambda d, t: self.app.call_from_thread(self._progress, d, t),
                cancelled=lambda: worker.is_cancelled,
            )
            done = [s for s in run.steps if s.status == "done"]
            if run.status == "resolved":
                return "Verify was clean: the run is resolved."
            step = done[-1] if done else None
            if step and step.name == "reconnect" and step.detail:
                problems = step.detail.get("problems") or []
                self.app.call_from_thread(self._reconnected, problems)
            return f"{TITLES[step.name]}: done." if step else "Done."

        self.act("Working", call)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def _confirm_uninstall(self) -> None:
        plan = self._call(lambda db: uninstall_plan(db, self.code))

        def answered(yes: bool | None) -> None:
            if yes:
                self._do_step(StepInput(confirm=plan.code))

        self.app.call_from_thread(self.app.push_screen, ConfirmTyped.uninstall(plan), answered)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def _choose_tenant(self) -> None:
        self.app.call_from_thread(self._set_busy, True, "Authorising with Xero")
        try:
            options = self._call(lambda db: reconnect_options(db, self.code))
        finally:
            self.app.call_from_thread(self._set_busy, False, "")

        def answered(choice: dict[str, Any] | None) -> None:
            if choice:
                self._do_step(
                    StepInput(
                        tenant_id=choice["tenant_id"],
                        accept_new_tenant=choice["accept_new_tenant"],
                        no_restore=not choice["restore"],
                    )
                )

        self.app.call_from_thread(
            self.app.push_screen, ReconnectChoice.from_options(options), answered
        )

    def _reconnected(self, problems: list[dict[str, Any]]) -> None:
        self.problems = problems
        self.refresh_bindings()
        if problems:
            lines = [
                f"✗ {p['kind']} {p['local']} -> {p['remote']}: {p['problem']}\n" for p in problems
            ]
            self.query_one("#diagnosis", Static).update(
                styled(
                    (f"{len(problems)} restored mappings fail validation\n", "bold $error"),
                    *lines,
                    ("Press m to fix them one by one from the tenant's valid codes.", "$accent"),
                )
            )

    def action_fix_mapping(self) -> None:
        if not self.problems:
            return
        problem = self.problems[0]
        self._pick_code(problem)

    @work(thread=True, exclusive=True, exit_on_error=False, group="wizard")
    def _pick_code(self, problem: dict[str, Any]) -> None:
        def chart(db: Any) -> Any:
            from store.transitions import integration

            return tenant_chart(db, self.code, integration(db, self.code).tenant_id)

        accounts, rates = self._call(chart)

        def answered(code: str | None) -> None:
            if not code:
                return
            self.problems = self.problems[1:]

            def save(db: Any) -> str:
                change = set_mapping(
                    db, self.code, problem["kind"], problem["local"], code, actor=self.actor
                )
                return f"{change.kind} {change.local} -> {change.after}"

            self.act("Saving the mapping", save)
            self._reconnected(self.problems)

        self.app.call_from_thread(
            self.app.push_screen,
            ChooseCode.for_problem(
                problem["kind"],
                problem["local"],
                problem["remote"],
                problem["problem"],
                problem["suggestions"],
                accounts,
                rates,
            ),
            answered,
        )

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
                f"They started it at {run.started_at}; the take-over is recorded.",
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
        def call(db: Any) -> str:
            md, js, summary = escalate(
                db, self.code, actor=self.actor, packet_dir=paths.packets_dir()
            )
            self.summary = summary
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
