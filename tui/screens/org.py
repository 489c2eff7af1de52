"""One organisation: what its state means, tenant, queue, mappings with their validity, error
groups with the knowledge base's advice, the audit trail, and the actions this state allows.

Every action calls the same store function as its command-line twin; destructive ones go
through a modal that says what is removed and kept and wants the code typed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Header, Static

from store.checks import activate, check, retry, safe_uninstall
from store.diagnose import deciding_groups
from store.errors import SyncdeskError
from store.history import audit_trail
from store.mapping_edits import set_mapping
from store.models import AuditEntry, ErrorGroup, OrgDetail, Run
from store.orgs import show_org
from store.reconnect import reconnect
from store.runs import latest_run
from store.transitions import allowed_actions, deactivate
from store.xero.mappings import tenant_chart, validate_mappings
from store.xero.models import Account, CheckReport, MappingProblem, TaxRate
from tui.screens.base import failure_text, store_work
from tui.screens.lifecycle import LifecycleScreen
from tui.widgets.key_footer import KeyFooter
from tui.widgets.marked import MARK
from tui.widgets.modals import (
    ChooseCode,
    Confirm,
    ConfirmTyped,
    ReconnectAnswer,
    ReconnectChoice,
)
from tui.widgets.org_text import (
    ON_XERO,
    audit_lines,
    can_retry,
    check_lines,
    error_lines,
    mapping_lines,
    queue_line,
    section,
    setting_line,
    status_lines,
    unreadable,
)
from tui.widgets.progress import Work, WorkProgress
from tui.widgets.words import plural

if TYPE_CHECKING:
    import sqlite_utils

T = TypeVar("T")
Chart = tuple[list[Account], list[TaxRate]]

# Which actions each binding needs the state to allow.
NEEDS = {
    "deactivate": "deactivate",
    "activate": "activate",
    "uninstall": "uninstall",
    "reconnect": "reconnect",
}
TITLES = {
    "#org-status": "Integration",
    "#org-queue": "Export queue",
    "#org-errors": "Error groups (7 days)",
    "#org-mappings": "Mappings",
    "#org-settings": "Settings",
    "#org-audit": "Audit trail",
}
# The sections show_org fills: when it cannot read the organisation, each says why.
FROM_DETAIL = ("#org-status", "#org-queue", "#org-mappings", "#org-settings")


def _read(unread: dict[str, str], where: str, call: Callable[[], T], empty: T) -> T:
    """call(), or `empty` with the reason noted for the section `where`: one bad row (a
    settings value that is not JSON, text that is not UTF-8) must not blank the whole screen.
    Our own errors (an organisation deleted meanwhile, a busy store) still fail the load."""
    try:
        return call()
    except SyncdeskError:
        raise
    except sqlite3.Error as exc:
        unread.setdefault(where, failure_text(exc))
    except Exception as exc:
        unread.setdefault(where, f"a stored value is malformed ({type(exc).__name__}: {exc})")
    return empty


class OrgScreen(LifecycleScreen):
    """Everything about one organisation's integration, and what can be done to it."""

    KEYS_TITLE = "This organisation"  # the heading of its keys under ?

    WATCH_SECONDS = 2.0  # another session's change shows here without a key
    WORDS_SCREEN = "organisation"
    CHANGES = frozenset(
        ("check", "retry", "map", "deactivate", "activate", "uninstall", "reconnect")
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        # In the order the footer keeps them when the width runs out (the rest under ?).
        Binding("escape,backspace", "app.pop_screen", "Back"),
        Binding("k", "check", "Check"),
        Binding("t", "retry", "Retry"),
        Binding("m", "map", "Fix map"),
        Binding("a", "activate", "Activate"),
        Binding("c", "reconnect", "Reconnect"),
        Binding("r", "wizard", "Refresh"),
        Binding("l", "logs", "Log"),
        Binding("d", "deactivate", "Deactivate"),
        Binding("u", "uninstall", "Uninstall"),
        Binding("f5", "reload", "Reload", show=False),
    ]

    @dataclass
    class Loaded(Message, bubble=False):
        """What the screen shows; `unread` maps a section to why the store could not fill it."""

        detail: OrgDetail | None
        groups: list[ErrorGroup]
        audit: list[AuditEntry]
        run: Run | None
        unread: dict[str, str]
        deciding: str | None = None  # the kind behind the verdict (from the log)

    @dataclass
    class Validated(Message, bubble=False):
        """The mappings checked against the tenant's chart (chart None: could not check)."""

        chart: Chart | None
        problems: list[MappingProblem]
        note: str | None = None

    @dataclass
    class Done(Message, bubble=False):
        """An action finished; `said` is what the store function reported."""

        label: str
        said: str
        work: Work | None = None  # its progress display, for long work

    @dataclass
    class Checked(Message, bubble=False):
        report: CheckReport
        work: Work

    def __init__(self, db_path: Path, code: str) -> None:
        super().__init__(db_path)
        self.code = code
        self.detail: OrgDetail | None = None
        self.problems: list[MappingProblem] = []
        self.chart: Chart | None = None
        self._chart_for: tuple[Any, ...] | None = None  # the detail the chart was checked for

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="org-body"):
            yield Static(id="org-status", classes="section")
            yield Static(id="org-check", classes="section")
            yield Static(id="org-queue", classes="section")
            yield Static(id="org-errors", classes="section")
            yield Static(id="org-mappings", classes="section")
            yield Static(id="org-settings", classes="section")
            yield Static(id="org-audit", classes="section")
        yield WorkProgress(id="org-progress")
        yield KeyFooter(compact=True)

    def on_mount(self) -> None:
        self.title = f"syncdesk · {self.code}"
        self.query_one("#org-check", Static).display = False
        self.query_one("#org-body").focus()
        self.load()
        self.follow_store()

    # --- loading -------------------------------------------------------------------------------

    @store_work(group="load")
    def load(self) -> Loaded:
        unread: dict[str, str] = {}
        with self.store() as db:
            detail = _read(unread, "#org-status", lambda: show_org(db, self.code), None)
            groups, deciding = _read(
                unread, "#org-errors", lambda: deciding_groups(db, self.code, None), ([], None)
            )
            audit = _read(unread, "#org-audit", lambda: audit_trail(db, self.code, limit=15), [])
            run = _read(unread, "#org-run", lambda: latest_run(db, self.code), None)
        if detail is None:
            unread.update(dict.fromkeys(FROM_DETAIL, unread["#org-status"]))
        return self.Loaded(detail, groups, audit, run, unread, deciding)

    def on_org_screen_loaded(self, message: Loaded) -> None:
        detail, unread = message.detail, message.unread
        self.detail = detail
        lines = {
            "#org-errors": error_lines(message.groups, message.deciding),
            "#org-audit": audit_lines(message.audit),
        }
        if detail is not None:
            self.code = detail.code
            lines["#org-status"] = status_lines(detail, message.run)
            if "#org-run" in unread:
                why = unread["#org-run"]
                lines["#org-status"].append(f"{MARK} the refresh run could not be read: {why}")
            lines["#org-queue"] = [queue_line(detail)]
            lines["#org-settings"] = [setting_line(k, v) for k, v in detail.settings.items()]
        for selector, title in TITLES.items():
            if selector in unread:
                self._show(selector, unreadable(title, unread[selector]))
            elif selector in lines:
                self._show(selector, section(title, lines[selector]))
        self._check_mappings(detail)
        self.refresh_bindings()

    def _show(self, selector: str, content: Any) -> None:
        self.query_one(selector, Static).update(content)

    def _check_mappings(self, detail: OrgDetail | None) -> None:
        """Check the mappings live once per version of the integration and its mappings (a
        reload because another session wrote the log must not call Xero again)."""
        key = None if detail is None else (detail.version, detail.tenant_id, detail.mappings)
        if key != self._chart_for:
            self._chart_for = key
            self.chart, self.problems = None, []
            if detail is not None and detail.state in ON_XERO and detail.tenant_id:
                self.validate(detail.tenant_id)
        self._show_mappings()

    @store_work(group="validate")
    def validate(self, tenant_id: str) -> Validated:
        """Each mapping against the tenant's chart (a live call, so after the first paint)."""
        with self.store() as db:
            try:
                chart = tenant_chart(db, self.code, tenant_id)
                problems = validate_mappings(db, self.code, *chart)
            except SyncdeskError as exc:  # shown where the ✓/✗ would be
                return self.Validated(None, [], f"could not check: {exc}")
        return self.Validated(chart, problems)

    def on_org_screen_validated(self, message: Validated) -> None:
        self.chart, self.problems = message.chart, message.problems
        self._show_mappings(message.note)
        self.refresh_bindings()

    def _show_mappings(self, note: str | None = None) -> None:
        if self.detail is not None:
            lines = mapping_lines(self.detail, self.problems, self.chart is not None, note)
            self._show("#org-mappings", section("Mappings", lines))

    def action_reload(self) -> None:
        self._chart_for = None  # f5 checks the mappings again too
        self.load()

    def store_changed(self) -> None:
        self.load()

    def on_unmount(self) -> None:
        self.app.clear_notifications()  # this organisation's messages, not on the next one

    # --- which keys apply --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if (verdict := self.gate(action)) is not None:
            return verdict
        if self.detail is None:
            return True
        if action in NEEDS:
            return NEEDS[action] in allowed_actions(self.detail.state)
        if action == "map":
            return bool(self.problems)
        if action == "retry":
            return can_retry(self.detail)
        return True

    def footer_keys(self, action: str) -> bool:
        """The footer shows retry only when there is something to send (KeyFooter)."""
        if action == "retry" and self.detail is not None:
            return bool(self.detail.queue.get("failed") or self.detail.queue.get("held"))
        return True

    # --- running actions ---------------------------------------------------------------------
    # Not exclusive: a second key must not silence the first action, which goes on in its
    # thread (and may write) whether or not its answer is wanted.

    @store_work(group="action", exclusive=False)
    def run_action(self, label: str, call: Callable[[sqlite_utils.Database], str]) -> Done:
        """Call one store function in a thread; the screen says what it said and reloads."""
        with self.store() as db:
            return self.Done(label, call(db))

    def on_org_screen_done(self, message: Done) -> None:
        if message.work is not None:
            self.end_work(message.work)
        self.notify(self.words(f"{message.label}: {message.said}"), markup=False, timeout=8)
        self.load()

    def _version(self) -> int | None:
        return self.detail.version if self.detail else None

    def action_check(self) -> None:
        work = self.begin_work("Check")
        if work is not None:
            self._check(work)

    @store_work(group="action", exclusive=False)
    def _check(self, work: Work) -> Checked:
        with self.store() as db:
            report = check(db, self.code, progress=work.progress, cancelled=work.cancelled)
            return self.Checked(report, work)

    def on_org_screen_checked(self, message: Checked) -> None:
        report = message.report
        widget = self.query_one("#org-check", Static)
        widget.display = True
        widget.update(section("Live check", check_lines(report)))
        stopped = [f.detail for f in report.findings if f.check == "cancelled"]
        said = "healthy" if report.healthy else plural(len(report.problems), "problem")
        self.post_message(self.Done("Check", stopped[0] if stopped else said, message.work))

    def action_retry(self) -> None:
        work = self.begin_work("Retry")
        if work is not None:
            self._retry(work)

    @store_work(group="action", exclusive=False)
    def _retry(self, work: Work) -> Done:
        with self.store() as db, work.xero(db) as xero:
            report = retry(
                db, self.code, client=xero, progress=work.progress, cancelled=work.cancelled
            )
        said = f"sent {report.sent}: {report.exported} exported, {report.failed} failed" + (
            f"; stopped: {report.stopped_reason}" if report.stopped_reason else ""
        )
        return self.Done("Retry", said, work)

    def action_deactivate(self) -> None:
        version = self._version()

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_action(
                    "Deactivate",
                    lambda db: " ".join(
                        deactivate(db, self.code, expected_version=version).messages
                    )
                    or "done",
                )

        self.app.push_screen(
            Confirm(
                f"Deactivate {self.code}?",
                "Exports are held in the queue (not lost); settings and mappings are kept. "
                "Activate switches it back on after a live check.",
                yes="Deactivate",
            ),
            answered,
        )

    def action_activate(self) -> None:
        version = self._version()
        self.run_action(
            "Activate",
            lambda db: " ".join(activate(db, self.code, expected_version=version).messages)
            or "done",
        )

    def action_uninstall(self) -> None:
        self.plan_uninstall()

    def on_lifecycle_screen_uninstall_planned(
        self, message: LifecycleScreen.UninstallPlanned
    ) -> None:
        plan = message.plan

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_action(
                    "Uninstall",
                    lambda db: " ".join(
                        safe_uninstall(
                            db, self.code, confirm=plan.code, expected_version=plan.version
                        ).messages
                    ),
                )

        self.app.push_screen(ConfirmTyped.uninstall(plan), answered)

    def action_reconnect(self) -> None:
        self.offer_tenants()

    def on_lifecycle_screen_tenants_offered(self, message: LifecycleScreen.TenantsOffered) -> None:
        options = message.options

        def answered(choice: ReconnectAnswer | None) -> None:
            if choice is None:
                return

            def call(db: sqlite_utils.Database) -> str:
                result = reconnect(
                    db,
                    self.code,
                    tenant_id=choice.tenant_id,
                    accept_new_tenant=choice.accept_new_tenant,
                    no_restore=not choice.restore,
                    options=options,
                    expected_version=options.version,
                )
                return " ".join(result.transition.messages)

            self.run_action("Reconnect", call)

        self.app.push_screen(ReconnectChoice.from_options(options), answered)

    def action_map(self) -> None:
        if not self.problems or self.chart is None:
            self.notify("No mapping needs fixing.", timeout=3)
            return
        problem = self.problems[0]

        def answered(code: str | None) -> None:
            if code:
                self.run_action(
                    "Mapping",
                    lambda db: (
                        f"{problem.kind} {problem.local} -> "
                        f"{set_mapping(db, self.code, problem.kind, problem.local, code).after}"
                    ),
                )

        self.app.push_screen(
            ChooseCode.for_problem(
                problem.kind,
                problem.local,
                problem.remote,
                problem.problem,
                problem.suggestions,
                *self.chart,
            ),
            answered,
        )

    def action_logs(self) -> None:
        opener = getattr(self.app, "open_logs", None)
        if opener:
            opener(self.code)

    def action_wizard(self) -> None:
        opener = getattr(self.app, "open_wizard", None)
        if opener:
            opener(self.code)
