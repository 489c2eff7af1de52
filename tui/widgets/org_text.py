"""The organisation screen in words: each section's lines, from what the store handed over.

Outside text (names, tenants, settings keys, Xero's wording) is made visible by `section`;
a value the store holds badly (text as a BLOB, a time that is not one) is marked here
(tui/widgets/marked.py), never fatal.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content

from store.badvalues import Unreadable
from store.models import AuditEntry, ErrorGroup, OrgDetail, Run
from store.textsafe import dumps
from store.transitions import MEANING, allowed_actions
from store.xero.models import CheckReport, MappingProblem
from tui.safe import lines as text_lines
from tui.widgets.advice import console_words
from tui.widgets.marked import MARK, marked_text, marked_time, marked_when
from tui.widgets.words import plural

SCREEN = "organisation"  # commands in store text are named as this screen's keys
ON_XERO = ("active", "inactive")  # states with a connected tenant to check mappings against


def section(title: str, lines: list[str], style: str = "bold") -> Content:
    body = "\n".join(text_lines(console_words(line, SCREEN)) for line in lines) or "(none)"
    return Content.assemble((title, style), "\n", body)


def unreadable(title: str, why: str) -> Content:
    """A section the store could not hand over: the reason, marked; the others still show."""
    return section(title, [f"{MARK} could not be read: {why}"], "bold $error")


def can_retry(detail: OrgDetail) -> bool:
    return detail.state == "active" and not detail.unconfirmed_tenant_change


def status_lines(detail: OrgDetail, run: Run | None) -> list[str]:
    allowed = [a for a in allowed_actions(detail.state) if a != "mark_disconnected"]
    t, at = marked_text, marked_time
    lines = [
        f"{t(detail.code)}  {t(detail.name)} ({t(detail.region)})",
        f"State: {detail.state} since {at(detail.state_changed_at) or '-'} by "
        f"{t(detail.updated_by)} (version {detail.version})",
        f"  {MEANING.get(detail.state, '')}",
        f"Xero organisation: {t(detail.tenant_name) or '-'}  {t(detail.tenant_id)}",
        f"Tokens: access expires {at(detail.token_expires_at) or '-'}; refresh expires "
        f"{at(detail.refresh_expires_at) or '-'}",
        f"Last export: {at(detail.last_export_at) or 'never'}; errors in 24 h: {detail.errors_24h}",
        f"Allowed from here: {', '.join([*allowed, 'check'])}"
        + (", retry" if can_retry(detail) else "")
        + (", fix mapping" if detail.state in ON_XERO else ""),
    ]
    if detail.paused_by:
        lines.insert(
            3,
            f"  Paused by {t(detail.paused_by)}: {t(detail.pause_reason) or '(no reason given)'}; "
            f"due back on {at(detail.pause_due_at) or 'not said (overdue after 24 h)'}"
            + ("  ⏰ OVERDUE: turn it back on and send what was held" if detail.overdue else ""),
        )
    if detail.unconfirmed_tenant_change:
        lines.insert(
            4,
            f"⚠ Previously {t(detail.previous_tenant_name)} "
            f"({t(detail.previous_tenant_id)}): a different Xero organisation, and "
            "nobody confirmed the change; retry refuses to export until it is "
            "reconnected to the right one.",
        )
    if run is not None and run.status == "in_progress":
        lines.append(
            f"Refresh run {run.id} in progress, claimed by {t(run.claimed_by)} since "
            f"{at(run.claimed_at)} (press r)"
        )
    return lines


def queue_line(detail: OrgDetail) -> str:
    return "  ".join(f"{k} {v}" for k, v in detail.queue.items())


def error_lines(groups: list[ErrorGroup], deciding: str | None = None) -> list[str]:
    """The groups in the order given (what decides first); the verdict's marked."""
    lines = []
    for g in groups:
        lines.append(
            ("▶ decides: " if deciding and g.kind == deciding else "")
            + f"{marked_text(g.kind)}: {g.count} in {plural(g.orgs, 'organisation')}, "
            f"{marked_time(g.first_at)} .. {marked_time(g.last_at)}"
        )
        if g.fix:
            lines.append(f"    fix: {marked_text(g.fix)}")
        if step := g.refresh_fix_step:
            lines.append(f"    refresh step that helps: {marked_text(step)}")
    return lines


def setting_line(key: Any, value: Any) -> str:
    if isinstance(value, Unreadable):  # a value the store could not read, shown as marked
        return f"{marked_text(key):30} {value}"
    return f"{marked_text(key):30} {dumps(value)}"


def audit_lines(audit: list[AuditEntry]) -> list[str]:
    return [
        f"{marked_when(e.at, year=True)} {marked_text(e.actor)}: {marked_text(e.action)}"
        + (f" {e.before_state}->{e.after_state}" if e.after_state else "")
        + (f" ({marked_text(e.detail)})" if e.detail else "")
        for e in audit
    ]


def mapping_lines(
    detail: OrgDetail, problems: list[MappingProblem], checked: bool, note: str | None
) -> list[str]:
    """Each mapping with ✓/✗ once checked against the tenant (? until then)."""
    bad = {(p.kind, p.local): p for p in problems}
    lines = []
    for m in detail.mappings:
        problem = bad.get((m.kind, m.local))
        mark = "?" if not checked else ("✗" if problem else "✓")
        line = (
            f"{mark} {marked_text(m.kind):18} {marked_text(m.local):22} -> {marked_text(m.remote)}"
        )
        if problem:
            line += f"   {problem.problem}"
        lines.append(line)
    if note:
        lines.append(note)
    elif not checked and detail.mappings:
        if detail.state in ON_XERO and detail.tenant_id:
            lines.append("(checking against the Xero organisation…)")
        else:
            lines.append(f"(not checked: the integration is {detail.state})")
    if problems:
        lines.append(f"{len(problems)} to fix: press m")
    return lines


def check_lines(report: CheckReport) -> list[str]:
    return [
        f"{'✓' if f.ok else '✗'} {f.check}: {f.detail}"
        + (f"\n    fix: {f.fix}" if f.fix and not f.ok else "")
        for f in report.findings
    ]
