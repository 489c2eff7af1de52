"""One organisation: what its state means, tenant, queue, mappings with their validity, error
groups with the knowledge base's advice, the audit trail, and the actions this state allows.

Every action calls the same store function as its command-line twin; destructive ones go
through a modal that says what is removed and kept and wants the code typed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Header, Static
from textual.worker import get_current_worker

from store.checks import activate, check, retry
from store.db import open_store
from store.errors import SyncdeskError
from store.history import audit_trail
from store.logs import error_groups
from store.mapping_edits import set_mapping
from store.models import OrgDetail
from store.orgs import show_org
from store.reconnect import reconnect, reconnect_options
from store.runs import latest_run
from store.timeparse import when
from store.transitions import (
    MEANING,
    allowed_actions,
    deactivate,
    uninstall,
    uninstall_plan,
)
from store.xero.mappings import tenant_chart, validate_mappings
from tui.safe import visible
from tui.widgets.modals import ChooseCode, Confirm, ConfirmTyped, ReconnectChoice

# Which actions each binding needs the state to allow.
NEEDS = {
    "deactivate": "deactivate",
    "activate": "activate",
    "uninstall": "uninstall",
    "reconnect": "reconnect",
}


def section(title: str, lines: list[str], style: str = "bold") -> Content:
    body = "\n".join(visible(line) for line in lines) or "(none)"
    return Content.assemble((title, style), "\n", body)


class OrgScreen(Screen):
    """Everything about one organisation's integration, and what can be done to it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,backspace", "app.pop_screen", "Back"),
        Binding("r", "wizard", "Refresh run"),
        Binding("k", "check", "Check"),
        Binding("t", "retry", "Retry"),
        Binding("m", "map", "Fix map"),
        Binding("d", "deactivate", "Deactivate"),
        Binding("a", "activate", "Activate"),
        Binding("u", "uninstall", "Uninstall"),
        Binding("c", "reconnect", "Reconnect"),
        Binding("l", "logs", "Log"),
        Binding("f5", "reload", "Reload", show=False),
    ]

    def __init__(self, db_path: Path, code: str) -> None:
        super().__init__()
        self.db_path = db_path
        self.code = code
        self.detail: OrgDetail | None = None
        self.problems: list[Any] = []
        self.chart: tuple[list[Any], list[Any]] | None = None

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
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.title = f"syncdesk · {self.code}"
        self.query_one("#org-check", Static).display = False
        self.query_one("#org-body").focus()
        self.load()

    # --- loading -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="org-load")
    def load(self) -> None:
        db = open_store(self.db_path)
        try:
            detail = show_org(db, self.code)
            groups = error_groups(db, org=self.code)
            audit = audit_trail(db, self.code, limit=15)
            run = latest_run(db, self.code)
        finally:
            db.conn.close()
        self.app.call_from_thread(self.show, detail, groups, audit, run)
        if detail.state in ("active", "inactive") and detail.tenant_id:
            self.validate(detail.tenant_id)

    def show(self, detail: OrgDetail, groups: list[Any], audit: list[Any], run: Any) -> None:
        self.detail = detail
        self.code = detail.code
        allowed = [a for a in allowed_actions(detail.state) if a != "mark_disconnected"]
        status = [
            f"{detail.code}  {detail.name} ({detail.region})",
            f"State: {detail.state} since {detail.state_changed_at or '-'} by "
            f"{detail.updated_by} (version {detail.version})",
            f"  {MEANING.get(detail.state, '')}",
            f"Xero organisation: {detail.tenant_name or '-'}  {detail.tenant_id or ''}",
            f"Tokens: access expires {detail.token_expires_at or '-'}; refresh expires "
            f"{detail.refresh_expires_at or '-'}",
            f"Last export: {detail.last_export_at or 'never'}; errors in 24 h: {detail.errors_24h}",
            f"Allowed from here: {', '.join([*allowed, 'check'])}"
            + (", retry" if self._can_retry(detail) else "")
            + (", fix mapping" if detail.state in ("active", "inactive") else ""),
        ]
        if detail.unconfirmed_tenant_change:
            status.insert(
                4,
                f"⚠ Previously {detail.previous_tenant_name} "
                f"({detail.previous_tenant_id}): a different Xero organisation, and "
                "nobody confirmed the change; retry refuses to export until it is "
                "reconnected to the right one.",
            )
        if run is not None and run.status == "in_progress":
            status.append(
                f"Refresh run {run.id} in progress, claimed by {run.claimed_by} since "
                f"{run.claimed_at} (press r)"
            )
        self.query_one("#org-status", Static).update(section("Integration", status))
        self.query_one("#org-queue", Static).update(
            section("Export queue", ["  ".join(f"{k} {v}" for k, v in detail.queue.items())])
        )
        lines = []
        for g in groups:
            lines.append(f"{g.kind}: {g.count} in {g.orgs} org, {g.first_at} .. {g.last_at}")
            if g.fix:
                lines.append(f"    fix: {g.fix}")
            if g.refresh_step and g.refresh_step != "none":
                lines.append(f"    refresh step that helps: {g.refresh_step}")
        self.query_one("#org-errors", Static).update(section("Error groups (7 days)", lines))
        self.chart, self.problems = None, []  # a reload invalidates the last check
        self._show_mappings()
        self.query_one("#org-settings", Static).update(
            section("Settings", [f"{k:30} {json.dumps(v)}" for k, v in detail.settings.items()])
        )
        self.query_one("#org-audit", Static).update(
            section(
                "Audit trail",
                [
                    f"{when(e.at, year=True)} {e.actor}: {e.action}"
                    + (f" {e.before_state}->{e.after_state}" if e.after_state else "")
                    + (f" ({e.detail})" if e.detail else "")
                    for e in audit
                ],
            )
        )
        self.refresh_bindings()

    @work(thread=True, exclusive=True, exit_on_error=False, group="org-validate")
    def validate(self, tenant_id: str) -> None:
        """Each mapping against the tenant's chart (a live call, so after the first paint)."""
        db = open_store(self.db_path)
        try:
            chart = tenant_chart(db, self.code, tenant_id)
            problems = validate_mappings(db, self.code, *chart)
        except SyncdeskError as exc:
            self.app.call_from_thread(self._show_mappings, f"could not check: {exc}")
            return
        finally:
            db.conn.close()
        self.app.call_from_thread(self._validated, chart, problems)

    def _validated(self, chart: tuple[list[Any], list[Any]], problems: list[Any]) -> None:
        self.chart = chart
        self.problems = problems
        self._show_mappings()
        self.refresh_bindings()

    def _show_mappings(self, note: str | None = None) -> None:
        if self.detail is None:
            return
        bad = {(p.kind, p.local): p for p in self.problems}
        lines = []
        for m in self.detail.mappings:
            problem = bad.get((m.kind, m.local))
            mark = "?" if self.chart is None else ("✗" if problem else "✓")
            line = f"{mark} {m.kind:18} {m.local:22} -> {m.remote}"
            if problem:
                line += f"   {problem.problem}"
            lines.append(line)
        if note:
            lines.append(note)
        elif self.chart is None and self.detail.mappings:
            if self.detail.state in ("active", "inactive") and self.detail.tenant_id:
                lines.append("(checking against the Xero organisation…)")
            else:
                lines.append(f"(not checked: the integration is {self.detail.state})")
        if self.problems:
            lines.append(f"{len(self.problems)} to fix: press m")
        self.query_one("#org-mappings", Static).update(section("Mappings", lines))

    def action_reload(self) -> None:
        self.load()

    # --- which keys apply --------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.detail is None:
            return True
        if action in NEEDS:
            return NEEDS[action] in allowed_actions(self.detail.state)
        if action == "map":
            return bool(self.problems)
        if action == "retry":
            return self._can_retry(self.detail)
        return True

    # --- running actions ---------------------------------------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="org-action")
    def run_action(self, label: str, call: Callable[[Any], str]) -> None:
        """Call one store function in a thread; notify what it said; reload."""
        db = open_store(self.db_path)
        try:
            said = call(db)
        finally:
            db.conn.close()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.notify, f"{label}: {said}", markup=False, timeout=8)
            self.app.call_from_thread(self.load)

    @staticmethod
    def _can_retry(detail: OrgDetail) -> bool:
        return detail.state == "active" and not detail.unconfirmed_tenant_change

    def _version(self) -> int | None:
        return self.detail.version if self.detail else None

    def action_check(self) -> None:
        def call(db: Any) -> str:
            report = check(db, self.code)
            self.app.call_from_thread(self._show_check, report)
            return "healthy" if report.healthy else f"{len(report.problems)} problems"

        self.run_action("Check", call)

    def _show_check(self, report: Any) -> None:
        lines = [
            f"{'✓' if f.ok else '✗'} {f.check}: {f.detail}"
            + (f"\n    fix: {f.fix}" if f.fix and not f.ok else "")
            for f in report.findings
        ]
        widget = self.query_one("#org-check", Static)
        widget.display = True
        widget.update(section("Live check", lines))

    def action_retry(self) -> None:
        def call(db: Any) -> str:
            def progress(done: int, total: int) -> None:
                self.app.call_from_thread(self.notify, f"Retried {done}/{total}", timeout=1)

            worker = get_current_worker()
            report = retry(db, self.code, progress=progress, cancelled=lambda: worker.is_cancelled)
            return f"sent {report.sent}: {report.exported} exported, {report.failed} failed" + (
                f"; stopped: {report.stopped_reason}" if report.stopped_reason else ""
            )

        self.run_action("Retry", call)

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

    @work(thread=True, exclusive=True, exit_on_error=False, group="org-action")
    def plan_uninstall(self) -> None:
        db = open_store(self.db_path)
        try:
            plan = uninstall_plan(db, self.code)
        finally:
            db.conn.close()
        self.app.call_from_thread(self._confirm_uninstall, plan)

    def _confirm_uninstall(self, plan: Any) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.run_action(
                    "Uninstall",
                    lambda db: " ".join(
                        uninstall(
                            db, self.code, confirm=plan.code, expected_version=plan.version
                        ).messages
                    ),
                )

        self.app.push_screen(ConfirmTyped.uninstall(plan), answered)

    def action_reconnect(self) -> None:
        self.authorise()

    @work(thread=True, exclusive=True, exit_on_error=False, group="org-action")
    def authorise(self) -> None:
        db = open_store(self.db_path)
        try:
            options = reconnect_options(db, self.code)
        finally:
            db.conn.close()
        self.app.call_from_thread(self._choose_tenant, options)

    def _choose_tenant(self, options: Any) -> None:
        def answered(choice: dict[str, Any] | None) -> None:
            if not choice:
                return

            def call(db: Any) -> str:
                result = reconnect(
                    db,
                    self.code,
                    tenant_id=choice["tenant_id"],
                    accept_new_tenant=choice["accept_new_tenant"],
                    no_restore=not choice["restore"],
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
