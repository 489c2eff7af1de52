"""The refresh wizard: from symptom to resolved (or escalated), one recorded step at a time.

Diagnosis first, before anything changes; then a stepper down the side (done / current / to
do, with who and when) and the current step in the main area: what it does, what is kept and
what is lost, the one key that performs it, and its result. The run lives in the store
(store/runs.py), so a dropped session resumes where it stopped and a colleague sees the claim.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Header, Static

from store.clock import now as clock_now
from store.diagnose import Diagnosis, diagnose
from store.models import Run, StepInput
from store.run_read import refresh_planned, stored_remedies
from store.runs import (
    latest_run,
    next_step,
    override_verdict,
    start_run,
)
from store.timeparse import iso
from store.transitions import default_actor
from tui.screens.base import failure_text, store_work
from tui.screens.lifecycle import LifecycleScreen
from tui.screens.wizard_fix import MappingFix
from tui.screens.wizard_keys import RunKeys
from tui.widgets.key_footer import KeyFooter
from tui.widgets.modals import AskText, ConfirmTyped, ReconnectAnswer, ReconnectChoice
from tui.widgets.progress import WorkProgress
from tui.widgets.run_text import (
    HERE,
    SCREEN,
    TITLES,
    claim_text,
    diagnosis_text,
    failing_mappings_text,
    last_result_text,
    plan_text,
    run_diagnosis_text,
    start_text,
    step_text,
    stepper_text,
    styled,
)

if TYPE_CHECKING:
    import sqlite_utils


class WizardScreen(RunKeys, MappingFix):
    """Guided refresh of one organisation's integration."""

    KEYS_TITLE = "Refresh run"  # the heading of its keys under ?

    # A colleague's step, note or take-over shows here without a key (the run only: the
    # diagnosis is a live check, made once when the wizard opens).
    WATCH_SECONDS = 2.0
    WORDS_SCREEN = SCREEN
    WORDS_HERE = HERE

    CHANGES = frozenset(
        "perform fix_mapping override start_new note escalate resolve take_over".split()
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "perform", "Do step"),
        Binding("m", "fix_mapping", "Fix mapping"),
        Binding("f", "override", "Refresh anyway"),
        Binding("s", "start_new", "New run"),
        Binding("n", "note", "Note"),
        Binding("e", "escalate", "Escalate"),
        Binding("v", "resolve", "Resolved"),
        Binding("o", "take_over", "Take over"),
        Binding("y", "copy_summary", "Copy summary"),
        Binding("escape", "back", "Back"),
    ]

    @dataclass
    class Loaded(Message, bubble=False):
        """The run as it stands, and the diagnosis when one was made (no run in progress)."""

        run: Run | None
        diagnosis: Diagnosis | None = None

    @dataclass
    class Acted(Message, bubble=False):
        """A step or a run action finished: what to tell the person, and the run now."""

        said: str
        run: Run | None

    @dataclass
    class Reconnected(Message, bubble=False):
        """The reconnect step restored mappings; these fail validation."""

        problems: list[dict[str, Any]]

    @dataclass
    class Escalated(Message, bubble=False):
        summary: str

    def __init__(self, db_path: Path, code: str, *, actor: str | None = None) -> None:
        super().__init__(db_path)
        self.code = code.upper()
        self.actor = actor or default_actor()
        self.run: Run | None = None
        self.diagnosis: Diagnosis | None = None
        self._diagnosed_at: str | None = None  # when the diagnosis on show was made
        self.problems: list[Any] = []
        self.summary: str | None = None
        self.busy = False
        self._transient: str | None = None  # the '…' line showing while busy
        self._ended_on: Run | None = None  # the run as it was when a '…' line ended (kept)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="wizard"):
            yield Static(id="stepper")
            with VerticalScroll(id="step-body"):
                yield Static(id="claim")
                yield Static(id="step")
                yield WorkProgress(id="progress")
                yield Static(id="result")
                yield Static(id="diagnosis")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = f"syncdesk · refresh {self.code}"
        self.load()
        self.follow_store()

    # --- store calls (thread workers; one connection each) -------------------------------------

    @store_work(group="load")
    def load(self) -> Loaded:
        with self.store() as db:
            run = latest_run(db, self.code)
            stale = run is None or run.status != "in_progress" or run.diagnosis is None
            if stale and not self.read_only:  # a live diagnosis records what Xero said
                return self.Loaded(run, diagnose(db, self.code))
        return self.Loaded(run)

    @store_work(group="run")
    def load_run(self) -> Loaded:
        with self.store() as db:
            return self.Loaded(latest_run(db, self.code))

    def on_wizard_screen_loaded(self, message: Loaded) -> None:
        self.show_run(message.run)
        if message.diagnosis is not None:
            self.show_diagnosis(message.diagnosis)

    def action_reload(self) -> None:
        self.load_run()

    def store_changed(self) -> None:
        # Even while a step of ours is under way: a colleague's take-over shows within a poll.
        self.load_run()

    def act(self, label: str, fn: Callable[[sqlite_utils.Database], str]) -> None:
        """Perform one store call in a thread, then show the run as it now stands."""
        self._set_busy(True, label)
        self.workers.cancel_group(self, "run")  # it would show the run as it was before
        self._act(fn)

    # Not exclusive: a step goes on in its thread whatever else is asked, so its answer counts.
    @store_work(group="act", exclusive=False)
    def _act(self, fn: Callable[[sqlite_utils.Database], str]) -> Acted:
        with self.store() as db:
            said = fn(db)
            return self.Acted(said, latest_run(db, self.code))

    def on_wizard_screen_acted(self, message: Acted) -> None:
        self._set_busy(False, "")
        self.notify(self.words(message.said), markup=False, timeout=6)
        self.show_run(message.run)
        if self._transient:  # the run has no outcome to show for it: say what was said
            self._ended(self.words(message.said))

    def failed(self, error: BaseException) -> None:
        transient = self._transient
        self._set_busy(False, "")
        if transient:
            self._ended(self.words(f"{transient} failed: {failure_text(error)}"))
        super().failed(error)

    def _ended(self, said: str) -> None:
        """Replace the transient '…' line with how it ended (a result, a failure, cancelled);
        it stays until the run itself changes (a reload of the same run keeps it)."""
        self._transient = None
        self._ended_on = self.run
        self.query_one("#result", Static).update(styled((said, "italic")))

    def _set_busy(self, busy: bool, label: str) -> None:
        self.busy = busy
        self.set_class(busy, "-busy")
        if busy:
            self._transient = label
            self.query_one("#result", Static).update(styled((f"{label}…", "italic")))
        else:
            self.end_work()
        self.refresh_bindings()

    # --- showing -------------------------------------------------------------------------------

    def show_diagnosis(self, found: Diagnosis) -> None:
        self.diagnosis = found
        self._diagnosed_at = iso(clock_now())
        self.query_one("#diagnosis", Static).update(diagnosis_text(found))
        if self.run is None or self.run.status != "in_progress":
            self._show_start()

    def _show_start(self) -> None:
        self.query_one("#step", Static).update(start_text(self.run))
        self.query_one("#stepper", Static).update(plan_text())

    def show_run(self, run: Run | None) -> None:
        # The stepper and the step column repaint in separate frames (each widget asks for its
        # own), and a loaded machine can show one without the other for a while: hold the
        # screen a moment so the run is drawn as one change.
        self.app.delay_update()
        before = self.run
        self.run = run
        self.refresh_bindings()
        taken = (
            before is not None
            and run is not None
            and before.id == run.id
            and before.claimed_by == self.actor
            and run.status == "in_progress"
            and run.claimed_by != self.actor
        )
        if run is None:
            self.query_one("#claim", Static).update("")
            self._show_start()
            return
        self.query_one("#stepper", Static).update(stepper_text(run))
        self._show_claim(run)
        self._show_step(run)
        self.query_one("#step-body").scroll_home(animate=False)  # the step's kept/lost in view
        ended = run.status != "in_progress"
        if ended and self.problems:
            self.problems = []  # the run is over: its failing mappings are no longer asked
            self.refresh_bindings()
        diagnosis = self.query_one("#diagnosis", Static)
        if self.diagnosis is None and (ended or run.diagnosis):
            diagnosis.update(run_diagnosis_text(run))
        elif ended:
            diagnosis.update(diagnosis_text(self.diagnosis, before=self._diagnosis_before(run)))
        if taken:
            said = (
                f"{run.claimed_by} took this run over at {run.claimed_at}; press o to take it back."
            )
            self._set_busy(False, "")
            self._transient = None  # the take-over is how the step we were waiting on ended
            self.notify(said, markup=False, severity="warning", timeout=10)
            self.query_one("#result", Static).update(styled((said, "bold $warning")))

    def _diagnosis_stale(self) -> bool:
        """A run has ended since the diagnosis on show: what it offered (a mapping fix, the
        refresh sequence anyway) is no longer known to apply; a new run diagnoses again."""
        run = self.run
        if run is None or run.status == "in_progress":
            return False
        return self.diagnosis is None or self._diagnosis_before(run) is not None

    def _diagnosis_before(self, run: Run) -> str | None:
        """When the diagnosis on show was made, if the run ended after it (it is history)."""
        at = self._diagnosed_at
        return at if at and run.ended_at and run.ended_at >= at else None

    def _show_claim(self, run: Run) -> None:
        claim = self.query_one("#claim", Static)
        foreign = run.status == "in_progress" and run.claimed_by != self.actor
        claim.set_class(foreign, "-foreign")
        claim.update(claim_text(run) if foreign else "")

    def _show_step(self, run: Run) -> None:
        result = self.query_one("#result", Static)
        last = last_result_text(run)
        kept = self._ended_on is not None and run == self._ended_on
        if not kept:
            self._ended_on = None
        if self.busy or kept:
            pass  # the '…' line stays until the work ends; how it ended, until the run moves
        elif last is not None:
            self._transient = None
            result.update(last)
        elif not self._transient:
            result.update("")
        self.query_one("#step", Static).update(step_text(run))

    # --- keys ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if (verdict := self.gate(action)) is not None:
            return verdict
        run = self.run
        open_run = run is not None and run.status == "in_progress"
        mine = open_run and run.claimed_by == self.actor
        if action == "perform":
            return (not self.busy) and (run is None or not open_run or mine) or None
        if action == "start_new":
            return not open_run and not self.busy
        if action == "override":  # not when the refresh sequence is planned (or will be) anyway
            if open_run:
                return bool(mine) and not refresh_planned(run) and not self.busy
            helps = self.diagnosis is not None and self.diagnosis.verdict.refresh_helps
            return not helps and not self._diagnosis_stale() and not self.busy
        if action == "take_over":
            return open_run and not mine
        if action in ("note", "escalate", "resolve"):
            return bool(mine) and not self.busy
        if action == "fix_mapping":
            return not self.busy and self._mapping_to_fix()
        if action == "copy_summary":
            return self.summary is not None or (run is not None and run.status == "escalated")
        return True

    def on_unmount(self) -> None:
        self.app.clear_notifications()  # its messages must not show on the next screen

    def _mapping_to_fix(self) -> bool:
        """A mapping may need fixing: the verdict says so, the run's step is map, or the
        reconnect restored mappings that fail."""
        if self.problems:
            return True
        run = self.run
        if run is not None and run.status == "in_progress" and run.current is not None:
            if run.current.name == "map":
                return True
        if self._diagnosis_stale():
            return False
        if self.diagnosis is not None:
            return "map" in self.diagnosis.verdict.remedies
        return run is not None and "map" in stored_remedies(run)

    def action_back(self) -> None:
        for worker in self.workers:
            worker.cancel()
        self.app.pop_screen()

    def action_perform(self) -> None:
        run = self.run
        if run is not None and run.status != "in_progress":  # enter never starts another run
            how = f"escalated (packet {run.packet})" if run.status == "escalated" else run.status
            self.notify(
                f"The last run was {how}; press s to start a new one.",
                markup=False,
            )
            return
        if run is None:
            self.action_start_new()
            return
        step = run.current
        if step is None:
            self.action_escalate()
        elif step.name == "uninstall":
            self.plan_uninstall()
        elif step.name == "reconnect":
            self._choose_tenant()
        else:
            self._do_step(StepInput())

    def action_start_new(self, override: str | None = None) -> None:
        self.act(
            "Starting",
            lambda db: start_run(db, self.code, actor=self.actor, override=override)
            and "Run started: the organisation is claimed by you.",
        )

    def action_override(self) -> None:
        run = self.run
        open_run = run is not None and run.status == "in_progress"

        def answered(reason: str | None) -> None:
            if not reason or not reason.strip():
                if reason is not None:
                    self.notify("Nothing changed: the override needs a reason.", markup=False)
                return
            if not open_run:
                self.action_start_new(override=reason)
                return
            self.act(
                "Adding the refresh sequence",
                lambda db: override_verdict(db, self.code, reason, actor=self.actor)
                and "Refresh sequence added to the run; your reason is recorded.",
            )

        self.app.push_screen(
            AskText("Why run the refresh sequence despite the verdict? (recorded in the run)"),
            answered,
        )

    def _do_step(self, given: StepInput) -> None:
        current = self.run.current if self.run is not None else None
        work = self.begin_work(TITLES.get(current.name, "Step") if current is not None else "Step")
        if work is None:
            return

        def call(db: sqlite_utils.Database) -> str:
            with work.xero(db) as xero:
                run = next_step(
                    db,
                    self.code,
                    actor=self.actor,
                    given=given,
                    client=xero,
                    progress=work.progress,
                    cancelled=work.cancelled,
                )
            done = [s for s in run.steps if s.status == "done"]
            if run.status == "resolved":
                return "Verify was clean: the run is resolved."
            step = done[-1] if done else None
            if step and step.name == "reconnect" and step.detail:
                self.post_message(self.Reconnected(step.detail.get("problems") or []))
            if step and work.cancelled():  # escape: what was done and what was not
                return f"{TITLES[step.name]}: {step.outcome}"
            return f"{TITLES[step.name]}: done." if step else "Done."

        self.act("Working", call)

    def on_lifecycle_screen_uninstall_planned(
        self, message: LifecycleScreen.UninstallPlanned
    ) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self._do_step(StepInput(confirm=message.plan.code))
            else:
                self._ended("Uninstall cancelled: nothing changed.")

        self.app.push_screen(ConfirmTyped.uninstall(message.plan), answered)

    def _choose_tenant(self) -> None:
        self._set_busy(True, "Authorising with Xero")
        self.offer_tenants()

    def on_lifecycle_screen_tenants_offered(self, message: LifecycleScreen.TenantsOffered) -> None:
        self._set_busy(False, "")
        self._ended("Authorised: choose the Xero organisation to reconnect to.")

        def answered(choice: ReconnectAnswer | None) -> None:
            if choice is None:
                self._ended("Reconnect cancelled: nothing changed.")
                return
            self._do_step(
                StepInput(
                    tenant_id=choice.tenant_id,
                    accept_new_tenant=choice.accept_new_tenant,
                    no_restore=not choice.restore,
                )
            )

        self.app.push_screen(ReconnectChoice.from_options(message.options), answered)

    def on_wizard_screen_reconnected(self, message: Reconnected) -> None:
        self._reconnected(message.problems)

    def _reconnected(self, problems: list[dict[str, Any]]) -> None:
        had = bool(self.problems)
        self.problems = problems
        self.refresh_bindings()
        if problems:
            self.query_one("#diagnosis", Static).update(failing_mappings_text(problems))
        elif had:
            self.query_one("#diagnosis", Static).update(
                styled(("Every restored mapping is fixed.", "bold $success"))
            )

    def mappings_fixed(self, left: list[dict[str, Any]]) -> None:
        """m saved a mapping: of the restored mappings that failed, these still fail."""
        if self.problems:
            self._reconnected(left)

    def on_wizard_screen_escalated(self, message: Escalated) -> None:
        self.summary = message.summary
        self.refresh_bindings()
