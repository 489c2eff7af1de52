"""A refresh run's plan, from its verdict.

A run starts with one step, diagnose. Its verdict (store/verdicts.py) then plans the rest, one
block of steps per remedy of the current problems, blocking first, ending with a verify:

    wait       -> wait            (until the stated time; a live check must answer)
    reconnect  -> deactivate, verify, uninstall, reconnect   (the refresh sequence)
    map        -> map             (every mapping exists in the tenant and fits its use)
    activate   -> activate        (switch a paused integration back on; what was held is sent)
    fix_data, retry, escalate, none -> only the closing verify

So the refresh sequence is offered only when the verdict says it helps. An override (a reason
typed by a person, recorded in the run) adds it anyway, first but after any wait (nothing
irreversible while Xero cannot answer); a mapping may still be fixed before the uninstall (`map`,
m in the console), and the uninstall's snapshot keeps the fix for the reconnect to restore.
Steps the state makes pointless are skipped as the run goes (store/runs.py `_skip_pointless`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from store.db import transaction
from store.enums import StepName, StepStatus
from store.models import Run

if TYPE_CHECKING:
    import sqlite_utils

BLOCKS: dict[str, tuple[StepName, ...]] = {
    "wait": (StepName.WAIT,),
    "reconnect": (StepName.DEACTIVATE, StepName.VERIFY, StepName.UNINSTALL, StepName.RECONNECT),
    "map": (StepName.MAP,),
    "activate": (StepName.ACTIVATE,),
}


def remedies_for(verdict: dict[str, Any], *, override: bool) -> list[str]:
    """The remedies a run works through, in order, for a verdict (as stored, JSON)."""
    order = list(verdict.get("remedies") or ())
    if not order and verdict.get("remedy") not in (None, "none"):
        order = [verdict["remedy"]]
    if override and "reconnect" not in order:
        order.insert(0, "reconnect")
    if "wait" in order:
        order.remove("wait")
        order.insert(0, "wait")
    return order


def plan_after_diagnosis(verdict: dict[str, Any], *, override: bool) -> list[StepName]:
    """The steps after diagnose, for this verdict (with or without an override)."""
    steps: list[StepName] = []
    for remedy in remedies_for(verdict, override=override):
        steps += BLOCKS.get(remedy, ())
    if not steps or steps[-1] != StepName.VERIFY:
        steps.append(StepName.VERIFY)
    return steps


def plan_words(verdict: dict[str, Any], steps: list[StepName], *, override: str | None) -> str:
    """What the plan is and why, for the diagnose step's outcome."""
    said = " → ".join(str(s) for s in steps)
    if override:
        return f"Planned with the refresh sequence by override ({override}): {said}."
    if verdict.get("refresh_helps"):
        return f"Planned from the verdict: {said}."
    return (
        f"Planned from the verdict ({verdict.get('remedy')}): {said}. The refresh sequence is "
        "not offered: it would not help. `syncdesk run override ORG REASON` adds it anyway."
    )


def replan(db: sqlite_utils.Database, run: Run, actor: str) -> str:
    """Plan the steps after diagnose from the stored verdict (and any override); returns the
    plan in words."""
    verdict = (run.diagnosis or {}).get("verdict") or {}
    steps = plan_after_diagnosis(verdict, override=bool(run.override_reason))
    first = next(s.position for s in run.steps if s.name == StepName.DIAGNOSE) + 1
    done = [
        s
        for s in run.steps
        if s.position >= first and s.status in (StepStatus.DONE, StepStatus.DOING)
    ]
    start = max([first] + [s.position + 1 for s in done])
    with transaction(db) as conn:
        conn.execute("DELETE FROM run_steps WHERE run_id = ? AND position >= ?", [run.id, start])
        if done:  # an override mid-run: what is done stays; the sequence follows it
            steps = [s for s in steps if s not in (StepName.WAIT,)]
        conn.executemany(
            "INSERT INTO run_steps(run_id, position, name, status) VALUES (?, ?, ?, 'todo')",
            [(run.id, start + i, name) for i, name in enumerate(steps)],
        )
        conn.execute(
            "UPDATE runs SET wait_until = ? WHERE id = ?",
            [verdict.get("wait_until") if StepName.WAIT in steps else None, run.id],
        )
    return plan_words(verdict, steps, override=run.override_reason)
