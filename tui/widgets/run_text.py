"""A refresh run in words, for the wizard: the diagnosis, the plan, the stepper (done / current
/ to do, with who and when), the current step with what is kept and what is lost, and the
result of the last step.

Every piece is literal Content: names, outcomes and notes come from outside and are never
parsed as markup.
"""

from __future__ import annotations

from typing import Any

from textual.content import Content

from store.diagnose import Diagnosis
from store.runs import WHAT, Run
from store.timeparse import when
from tui.safe import lines
from tui.widgets.advice import console_words
from tui.widgets.words import agree, plural

MARKS = {"done": "✓", "skipped": "–", "todo": "·", "doing": "…", "failed": "✗"}
TITLES = {
    "diagnose": "Diagnose",
    "deactivate": "Deactivate, then switch on again",
    "verify": "Verify",
    "uninstall": "Uninstall",
    "reconnect": "Reconnect",
    "wait": "Wait for Xero",
    "map": "Fix mappings",
    "activate": "Turn it back on",
}
KEPT_LOST = {
    "diagnose": ("Nothing changes.", "Nothing."),
    "deactivate": (
        "Settings, mappings, tokens, the queue (exports are held, then released).",
        "Nothing.",
    ),
    "verify": ("Everything.", "Nothing: held and failed exports are sent again."),
    "uninstall": (
        "A snapshot of every setting and mapping; the queue (held); the log.",
        "Settings, mappings and tokens; the connection in Xero is revoked.",
    ),
    "reconnect": (
        "The queue is released; the snapshot is restored (if you choose).",
        "Nothing, unless you choose a different Xero organisation (warned).",
    ),
    "wait": ("Everything: nothing changes while Xero cannot answer.", "Nothing."),
    "map": ("Everything else; each mapping you fix is checked against the tenant.", "Nothing."),
    "activate": ("Settings, mappings, tokens; the held exports are released.", "Nothing."),
}


SCREEN = "refresh run"
# Commands the wizard itself performs, named as its keys.
HERE = {
    "run start": "the enter key (Do step)",
    "run next": "the enter key (Do step)",
    "map": "the m key (Fix mapping)",
    "run show": "the stepper on the left",
    "run escalate": "the e key (Escalate)",
    "run resolve": "the v key (Resolved)",
    "run note": "the n key (Note)",
    "--take-over": "the o key (Take over)",
}


def _said(text: str) -> str:
    """Store text as the wizard shows it: its commands named as keys, read as lines."""
    return lines(console_words(text, SCREEN, HERE))


def styled(*parts: str | tuple[str, str]) -> Content:
    """Literal text pieces (with optional styles) as one Content; controls made visible."""
    return Content.assemble(
        *[(_said(p), "") if isinstance(p, str) else (_said(p[0]), p[1]) for p in parts]
    )


def _groups(groups: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> str:
    return ", ".join(f"{g['kind']} ×{g['count']}" for g in groups) or "none"


def verify_comparison(run: Run, detail: dict[str, Any]) -> list[str | tuple[str, str]]:
    """Queue and errors before vs after a verify, for the result pane."""
    before, after = detail["before"], detail["after"]
    return [
        ("\nQueue    ", "bold"),
        f"before: {before.get('failed', 0)} failed, {before.get('held', 0)} held → after: "
        f"{after.get('failed', 0)} failed, {after.get('held', 0)} held\n",
        ("Errors   ", "bold"),
        f"24 h before the run: {_groups(run.errors_before)}\n",
        ("         ", ""),
        f"since this verify: {_groups(detail.get('errors_after') or [])}",
    ]


def diagnosis_text(found: Diagnosis, before: str | None = None) -> Content:
    """The diagnosis: state, live check, error groups, verdict and whether a refresh helps;
    `before`: when it was made, if a run has ended since (it no longer says how things are)."""
    v = found.verdict
    heading = (
        f"Diagnosis made at {before}, before the run ended (a new run diagnoses again)\n"
        if before
        else "Diagnosis\n"
    )
    lines: list[str | tuple[str, str]] = [
        (heading, "bold"),
        f"{found.code}  {found.name}: {found.state}; Xero: {found.tenant_name or '-'}\n",
    ]
    if found.check_error:
        lines.append(f"Live check could not run: {found.check_error}\n")
    for f in found.findings:
        lines.append((f"{'✓' if f.ok else '✗'} {f.check}: {f.detail}\n", "" if f.ok else "$error"))
    for g in found.groups[:6]:
        lines.append(f"  {g.count} × {g.kind} (last {g.last_at})\n")
    lines += [
        ("\nVerdict: ", "bold"),
        (f"{v.title}\n", "bold"),
        f"What happened: {v.what}\n" if v.what else "",
        f"Cause: {v.cause}\n" if v.cause else "",
        f"Fix: {v.fix}\n" if v.fix else "",
        (
            "The refresh sequence will likely help"
            + (f" (the {v.refresh_step} step).\n" if v.refresh_step != "none" else ".\n"),
            "$success",
        )
        if v.refresh_helps
        else ("The refresh sequence is unlikely to help. ", "$warning"),
        f"{v.next_step}\n" if not v.refresh_helps else "",
        *[f"• {p}\n" for p in (v.problems if len(v.problems) > 1 else ())],
        "f runs the refresh sequence anyway (you will be asked why).\n"
        if not v.refresh_helps and v.remedy != "none"
        else "",
        "m fixes a failing mapping now, before anything is uninstalled.\n"
        if "map" in v.remedies
        else "",
    ]
    return styled(*[p for p in lines if p])


def start_text(last_run: Run | None) -> Content:
    """The invitation to start a run (saying how the last one ended, if there was one)."""
    lines: list[str | tuple[str, str]] = []
    closed = last_run is not None and last_run.status != "in_progress"
    escalated = closed and last_run.status == "escalated"
    if last_run is not None and last_run.status != "in_progress":
        lines.append((f"The last run ended {last_run.status} at {last_run.ended_at}.\n", "bold"))
    if escalated:
        lines.append(f"Its packet: {last_run.packet}\n")
    lines += [
        ("Start a refresh run", "bold"),
        "\nDiagnose first; the verdict plans the rest: the refresh sequence (deactivate → "
        "verify → uninstall → reconnect → verify) only where it helps, else what does (wait, "
        "fix the mapping, turn it back on), stopping as soon as a verify is clean.\n",
        (
            "Press s to start a new run (it claims the organisation again)."
            if closed
            else "Press enter to start (nothing changes until you perform a step).",
            "$accent",
        ),
    ]
    return styled(*lines)


def run_diagnosis_text(run: Run) -> Content:
    """The verdict stored with a run (a resumed run's diagnosis is not made again)."""
    verdict = run.diagnosis["verdict"] if run.diagnosis else {}
    return styled(
        ("Diagnosis (at the start of the run)\n", "bold"),
        f"{verdict.get('title')}: {verdict.get('next_step')}",
    )


def claim_text(run: Run) -> Content:
    """Someone else holds the run."""
    return styled(
        (
            f"This run is claimed by {run.claimed_by} since {run.claimed_at}. "
            "Press o to take it over.",
            "bold",
        )
    )


def failing_mappings_text(problems: list[dict[str, Any]]) -> Content:
    """Restored mappings that fail validation after the reconnect, to fix one by one."""
    lines = [f"✗ {p['kind']} {p['local']} -> {p['remote']}: {p['problem']}\n" for p in problems]
    return styled(
        (
            f"{plural(len(problems), 'restored mapping')} "
            f"{agree(len(problems), 'fails', 'fail')} validation\n",
            "bold $error",
        ),
        *lines,
        ("Press m to fix them one by one from the tenant's valid codes.", "$accent"),
    )


def plan_text() -> Content:
    """The steps of a run not yet started."""
    return styled(
        ("Steps\n", "bold"),
        "· 1 Diagnose\n",
        ("  then what the verdict says helps\n", "$text-muted"),
    )


def stepper_text(run: Run) -> Content:
    """Each step of the run with its mark, who did it and when; the end, once there is one."""
    current = run.current
    parts: list[str | tuple[str, str]] = [(f"Run {run.id}\n", "bold")]
    for step in run.steps:
        here = run.status == "in_progress" and current and step.position == current.position
        style = "bold $accent" if here else ("$text-muted" if step.status == "skipped" else "")
        parts.append(
            (
                f"{'▶' if here else MARKS.get(step.status, '?')} {step.position + 1} "
                f"{TITLES[step.name].split(',')[0]}\n",
                style,
            )
        )
        if step.actor and step.status != "todo":
            parts.append(
                (
                    f"    {step.actor} {when(step.ended_at or step.started_at, date=False)}\n",
                    "$text-muted",
                )
            )
    end = {
        "resolved": ("✓ resolved", "bold $success"),
        "escalated": ("⚑ escalated", "bold $warning"),
    }.get(run.status)
    if end:
        parts.append(("\n" + end[0] + "\n", end[1]))
    return styled(*parts)


def last_result_text(run: Run) -> Content | None:
    """The outcome of the last step done (or failed), None before any."""
    done = [s for s in run.steps if s.status in ("done", "failed") and s.outcome]
    if not done:
        return None
    last = done[-1]
    # (HERE names the wizard's own m key, which fixes the mappings a reconnect restored.)
    here = HERE
    after_uninstall = run.current is not None and run.current.name == "reconnect"
    if after_uninstall and last.name != "reconnect":
        here = {**HERE, "reconnect": "the next step (enter: Reconnect)"}
    parts: list[str | tuple[str, str]] = [
        (f"Last: {TITLES[last.name]} ({last.status})\n", "bold"),
        console_words(last.outcome or "", SCREEN, here),
    ]
    if last.name == "verify" and last.detail and "before" in last.detail:
        parts += verify_comparison(run, last.detail)
    return styled(*parts)


def step_text(run: Run) -> Content:
    """What to do now: the current step (what it does, kept, lost, the key), or how it ended."""
    notes = [f"note {n.actor}: {n.text}" for n in run.notes[-3:]]
    if run.status == "resolved":
        return styled(
            ("Resolved. ", "bold $success"),
            "The integration is working again; the run is closed.\n",
            *[f"{n}\n" for n in notes],
        )
    if run.status == "escalated":
        return styled(
            ("Escalated. ", "bold $warning"),
            f"Packet: {run.packet}\n",
            "Press y to copy the summary to your clipboard (works over SSH "
            "in terminals that allow OSC 52).\n",
            ("Press s to start a new run; enter does not.\n", "$accent"),
        )
    step = run.current
    if step is None:
        return styled(
            ("Every step is done and errors remain.\n", "bold $warning"),
            "Press e to escalate with a support packet, or v if it is actually resolved.",
        )
    kept, lost = KEPT_LOST[step.name]
    key = "enter"
    extra = ""
    if step.name == "uninstall":
        extra = "You will be asked to type the organisation code.\n"
    elif step.name == "reconnect":
        extra = "You will choose the Xero organisation and whether to restore.\n"
    elif step.name == "map":
        extra = "Press m to fix a failing mapping from the tenant's valid codes.\n"
    if run.override_reason:
        extra += f"Verdict overridden by {run.override_by}: {run.override_reason}\n"
    if run.outcome == "waiting" or (step.status in ("todo", "failed") and step.outcome):
        extra += f"{run.next_action}\n"
    return styled(
        (f"Step {step.position + 1}: {TITLES[step.name]}\n", "bold"),
        f"{WHAT[step.name]}\n",
        ("Kept: ", "bold $success"),
        f"{kept}\n",
        ("Lost: ", "bold $error"),
        f"{lost}\n",
        extra,
        (f"Press {key} to perform it. ", "$accent"),
        "n adds a note, e escalates now.\n" + "".join(f"{n}\n" for n in notes),
    )
