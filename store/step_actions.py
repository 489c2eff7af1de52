"""What each step of a refresh run does to the integration: diagnose, switch it off and on,
verify by retrying the held and failed exports, uninstall, reconnect.

Each returns a StepOutcome (status, outcome in words, a detail dataclass) for store/runs.py
to record, the detail as JSON in run_steps.detail; each checks the state first, so a step
performed again after a dropped session does no harm.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from store import clock
from store.checks import (
    activate,
    mapping_problems,
    retry,
    safe_uninstall,
    unavailable_until,
)
from store.db import now_iso, transaction
from store.diagnose import Verdict, diagnose
from store.enums import QueueStatus, State, StepName, StepStatus
from store.errors import NotFound, RetryRefused, TransitionRefused
from store.errors import XeroWaiting as Waiting
from store.logs import error_groups
from store.models import ErrorGroup, Run, Step, StepInput, to_json
from store.orgs import org_id
from store.reconnect import reconnect
from store.timeparse import stored_time
from store.transitions import deactivate, integration, settle_revoke
from store.words import agree, plural
from store.xero.models import MappingProblem

if TYPE_CHECKING:
    import sqlite_utils


@dataclass(frozen=True, slots=True)
class DiagnoseDetail:
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class UninstallDetail:
    snapshot_id: int | None


@dataclass(frozen=True, slots=True)
class ReconnectDetail:
    tenant: str
    tenant_changed: bool
    problems: tuple[MappingProblem, ...]


@dataclass(frozen=True, slots=True)
class VerifyDetail:
    """A verify's retry: clean or not, the queue before and after, the errors since it began."""

    clean: bool
    before: dict[str, int]
    after: dict[str, int]
    errors_after: tuple[ErrorGroup, ...]


@dataclass(frozen=True, slots=True)
class NotRetried:
    """A verify whose retry was refused: not clean, and nothing to compare."""

    clean: bool = False


StepDetail = DiagnoseDetail | UninstallDetail | ReconnectDetail | VerifyDetail | NotRetried


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What a step came to: its status (done, skipped), the outcome in words, details to keep."""

    status: StepStatus
    outcome: str
    detail: StepDetail | None = None


def perform(
    db: sqlite_utils.Database,
    run: Run,
    step: Step,
    actor: str,
    given: StepInput,
    client: Any,
    progress: Any,
    cancelled: Any,
) -> StepOutcome:
    """Do the step and say what it came to, for the run to record.

    Raises TransitionRefused (the step needs input), NotFound, XeroError.
    """
    state = integration(db, run.code).state
    if step.name == StepName.DIAGNOSE:
        return _diagnose(db, run, client)
    if step.name == StepName.DEACTIVATE:
        return _toggle(db, run.code, state, actor, client)
    if step.name == StepName.VERIFY:
        return _verify(db, run.code, state, client, progress, cancelled)
    if step.name == StepName.UNINSTALL:
        return _uninstall(db, run.code, state, actor, given, client)
    if step.name == StepName.RECONNECT:
        return _reconnect(db, run.code, state, actor, given, client)
    if step.name == StepName.WAIT:
        return _wait(db, run, client)
    if step.name == StepName.MAP:
        return _map(db, run.code, client)
    if step.name == StepName.ACTIVATE:
        return _activate(db, run.code, state, actor, client)
    raise NotFound(f"Unknown step {str(step.name)!r}.")


def _diagnose(db: sqlite_utils.Database, run: Run, client: Any) -> StepOutcome:
    found = diagnose(db, run.code, client=client)
    with transaction(db) as conn:
        conn.execute(
            "UPDATE runs SET diagnosis = ? WHERE id = ?", [json.dumps(to_json(found)), run.id]
        )
    v = found.verdict
    if v.refresh_helps:
        said = f"the refresh sequence will likely help (the {v.refresh_step} step)."
    else:
        said = f"the refresh sequence is unlikely to help. {v.next_step}"
    return StepOutcome(StepStatus.DONE, f"{v.title}: {said}", DiagnoseDetail(v))


def _uninstall(
    db: sqlite_utils.Database, code: str, state: State, actor: str, given: StepInput, client: Any
) -> StepOutcome:
    if state == State.UNINSTALLED:
        # Resumed after a kill between the uninstall and Xero's answer: send the recorded revoke.
        settled = settle_revoke(db, code, client=client)
        return StepOutcome(
            StepStatus.SKIPPED, "already uninstalled" + (f". {settled}" if settled else "")
        )
    # Nothing irreversible while Xero cannot answer: the revoke and the reconnect need it.
    result = safe_uninstall(db, code, confirm=given.confirm, actor=actor, client=client)
    return StepOutcome(
        StepStatus.DONE, " ".join(result.messages), UninstallDetail(result.snapshot_id)
    )


def _reconnect(
    db: sqlite_utils.Database, code: str, state: State, actor: str, given: StepInput, client: Any
) -> StepOutcome:
    if state == State.ACTIVE:
        return StepOutcome(StepStatus.SKIPPED, "already active")
    done = reconnect(
        db,
        code,
        actor=actor,
        tenant_id=given.tenant_id,
        restore=given.restore,
        no_restore=given.no_restore,
        accept_new_tenant=given.accept_new_tenant,
        client=client,
        redirect_url=given.redirect_url,
    )
    return StepOutcome(
        StepStatus.DONE,
        " ".join(done.transition.messages),
        ReconnectDetail(done.tenant_name, done.tenant_changed, done.problems),
    )


def _toggle(
    db: sqlite_utils.Database, code: str, state: State, actor: str, client: Any
) -> StepOutcome:
    if state not in (State.ACTIVE, State.INACTIVE):
        return StepOutcome(StepStatus.SKIPPED, f"nothing to deactivate: the integration is {state}")
    said = []
    if state == State.ACTIVE:
        said += deactivate(db, code, actor=actor).messages
    try:
        said += activate(db, code, actor=actor, client=client).messages
    except TransitionRefused as exc:
        return StepOutcome(
            StepStatus.DONE, f"Deactivated, but it could not be switched back on: {exc}"
        )
    return StepOutcome(StepStatus.DONE, "Switched off and on again. " + " ".join(said))


def _verify(
    db: sqlite_utils.Database, code: str, state: State, client: Any, progress: Any, cancelled: Any
) -> StepOutcome:
    if state != State.ACTIVE:
        return StepOutcome(StepStatus.SKIPPED, f"nothing can be exported while {state}")
    started = now_iso()
    # Errors after the retry began are counted by rowid, not by time: an error logged by the
    # step before, in the same second, must not make a clean retry look dirty.
    last_id = db.execute("SELECT coalesce(max(id), 0) FROM log").fetchone()[0]
    try:
        report = retry(db, code, client=client, progress=progress, cancelled=cancelled)
    except RetryRefused as exc:
        return StepOutcome(StepStatus.DONE, f"Not retried: {exc} Still failing.", NotRetried())
    errors = db.execute(
        "SELECT count(*) FROM log WHERE org_id = ? AND level = 'error' AND id > ?",
        [org_id(db, code), last_id],
    ).fetchone()[0]
    waiting = sum(report.after.get(s, 0) for s in (QueueStatus.FAILED, QueueStatus.HELD))
    clean = errors == 0 and waiting == 0 and not report.stopped_reason
    outcome = (
        f"Retried {report.sent}: {report.exported} exported, {report.failed} failed; "
        f"{plural(errors, 'error')} logged since. " + ("Clean." if clean else "Still failing.")
    )
    if report.stopped_reason:
        outcome += f" Stopped: {report.stopped_reason}"
    after = tuple(error_groups(db, org=code, since=started))
    return StepOutcome(
        StepStatus.DONE, outcome, VerifyDetail(clean, report.before, report.after, after)
    )


def _wait(db: sqlite_utils.Database, run: Run, client: Any) -> StepOutcome:
    """Done once the stated time has passed and a live check finds Xero answering."""
    until = stored_time(run.wait_until)
    if until is not None and until > clock.now():
        raise Waiting(
            f"Wait until {run.wait_until}: Xero cannot answer for {run.code} before then, so "
            f"nothing was done. Then `syncdesk run next {run.code}` goes on.",
            until=run.wait_until or "",
        )
    later = unavailable_until(db, run.code, client=client)
    if later is not None:
        raise Waiting(
            f"Wait until {later}: Xero still cannot answer for {run.code}, so nothing was "
            f"done. Then `syncdesk run next {run.code}` goes on.",
            until=later,
        )
    return StepOutcome(StepStatus.DONE, "Xero answers again: the run goes on.")


def _map(db: sqlite_utils.Database, code: str, client: Any) -> StepOutcome:
    """Done when every mapping exists in the tenant and fits its use; else says which to fix
    and with what."""
    problems = mapping_problems(db, code, client=client)
    if not problems:
        return StepOutcome(
            StepStatus.DONE, "Every account and tax mapping exists in Xero and fits its use."
        )
    lines = []
    for p in problems:
        if p.suggestions:
            choice = f"valid codes: {', '.join(p.suggestions[:8])}"
        else:
            choice = (
                "the tenant has no active code that fits: create or unarchive one in Xero, "
                "then map to it"
            )
        lines.append(f"{p.kind} {p.local} -> {p.remote}: {p.problem} ({choice})")
    fail = agree(len(problems), "fails", "fail")
    raise TransitionRefused(
        f"{plural(len(problems), 'mapping')} of {code} still {fail}: "
        + "; ".join(lines)
        + f". Fix each with `syncdesk map {code} KIND LOCAL CODE` (m in the console), then "
        f"`syncdesk run next {code}`."
    )


def _activate(
    db: sqlite_utils.Database, code: str, state: State, actor: str, client: Any
) -> StepOutcome:
    if state != State.INACTIVE:
        return StepOutcome(StepStatus.SKIPPED, f"not paused: the integration is {state}")
    said = activate(db, code, actor=actor, client=client).messages
    return StepOutcome(StepStatus.DONE, "Switched back on after a live check. " + " ".join(said))
