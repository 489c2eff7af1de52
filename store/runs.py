"""Refresh runs: the recommended sequence as stored, resumable steps.

    diagnose -> deactivate -> verify -> uninstall -> reconnect -> verify -> resolved | escalated

The plan adapts to the state found at the start (a disconnected integration has nothing to
deactivate; an uninstalled one starts at reconnect): pointless steps are stored as skipped with
the reason. `next_step` performs the first step not yet done; a step left half-done by a
dropped session ("doing") is simply performed again, since every step checks the state first.
A verify retries held and failed exports and compares the errors afterwards; a clean verify
resolves the run at once. A run in progress is a claim on the organisation: someone else must
take it over explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from store import clock
from store.db import now_iso, transaction
from store.errors import NotFound, SyncdeskError, TransitionRefused
from store.integrations import (
    activate,
    audit_trail,
    deactivate,
    default_actor,
    integration,
    reconnect,
    uninstall,
)
from store.kb import knowledge_by_kind
from store.logs import error_groups
from store.orgs import org_id
from store.timeparse import iso

STEPS = ("diagnose", "deactivate", "verify", "uninstall", "reconnect", "verify")
WHAT = {
    "diagnose": "Look before touching: state, live check, error groups and the verdict.",
    "deactivate": "Switch the integration off and on again: exports are held meanwhile and "
    "nothing is removed; switching on re-checks the connection with Xero.",
    "verify": "Retry the held and failed exports and compare the errors before and after.",
    "uninstall": "Remove settings, mappings and tokens, after snapshotting them, and revoke "
    "the Xero connection. Needs the organisation code typed to confirm.",
    "reconnect": "Authorise against Xero, choose the organisation (a different one than "
    "before needs explicit confirmation), restore the snapshot and validate every mapping.",
}


class RunClaimed(TransitionRefused):
    """Someone else holds the run on this organisation."""


@dataclass(frozen=True, slots=True)
class Step:
    position: int
    name: str
    status: str
    actor: str | None
    started_at: str | None
    ended_at: str | None
    outcome: str | None
    detail: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Note:
    at: str
    actor: str
    step_position: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Run:
    id: int
    code: str
    status: str
    started_at: str
    started_by: str
    claimed_by: str
    claimed_at: str
    ended_at: str | None
    steps: tuple[Step, ...]
    notes: tuple[Note, ...]
    errors_before: tuple[dict[str, Any], ...]
    diagnosis: dict[str, Any] | None
    packet: str | None

    @property
    def current(self) -> Step | None:
        """The step `next` would perform (None when every step is done or skipped)."""
        return next((s for s in self.steps if s.status in ("todo", "doing", "failed")), None)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["current"] = self.current.position if self.current else None
        return out


# --- reading ---------------------------------------------------------------------------------


def _load(db: sqlite_utils.Database, row: Any, code: str) -> Run:
    steps = tuple(
        Step(
            r["position"],
            r["name"],
            r["status"],
            r["actor"],
            r["started_at"],
            r["ended_at"],
            r["outcome"],
            json.loads(r["detail"] or "null"),
        )
        for r in db.execute(
            "SELECT * FROM run_steps WHERE run_id = ? ORDER BY position", [row["id"]]
        )
    )
    notes = tuple(
        Note(r["at"], r["actor"], r["step_position"], r["text"])
        for r in db.execute("SELECT * FROM run_notes WHERE run_id = ? ORDER BY id", [row["id"]])
    )
    return Run(
        row["id"],
        code,
        row["status"],
        row["started_at"],
        row["started_by"],
        row["claimed_by"],
        row["claimed_at"],
        row["ended_at"],
        steps,
        notes,
        tuple(json.loads(row["errors_before"])),
        json.loads(row["diagnosis"] or "null"),
        row["packet"],
    )


def latest_run(db: sqlite_utils.Database, org: str) -> Run | None:
    """The organisation's run in progress, else its most recent one, else None.

    Raises UnknownOrganisation.
    """
    oid = org_id(db, org)
    row = db.execute(
        "SELECT * FROM runs WHERE org_id = ? ORDER BY status = 'in_progress' DESC, id DESC LIMIT 1",
        [oid],
    ).fetchone()
    return _load(db, row, integration(db, org).code) if row else None


def open_run(db: sqlite_utils.Database, org: str) -> Run:
    """The run in progress on this organisation.

    Raises UnknownOrganisation, NotFound.
    """
    run = latest_run(db, org)
    if run is None or run.status != "in_progress":
        raise NotFound(
            f"No refresh run in progress on {org.upper()}; start one with "
            f"`syncdesk run start {org.upper()}`."
        )
    return run


def runs_in_progress(db: sqlite_utils.Database) -> dict[str, tuple[str, str]]:
    """Organisation code -> (claimed by, since) for every run in progress."""
    return {
        r[0]: (r[1], r[2])
        for r in db.execute(
            "SELECT o.code, r.claimed_by, r.claimed_at FROM runs r JOIN orgs o ON o.id = r.org_id "
            "WHERE r.status = 'in_progress'"
        )
    }


# --- starting, claiming, notes ---------------------------------------------------------------


def _plan(state: str) -> list[tuple[str, str, str | None]]:
    """(name, status, why skipped) for each step, given the state at the start."""
    skip: dict[int, str] = {}
    if state == "disconnected":
        skip = {
            1: "nothing to deactivate: Xero removed the app",
            2: "nothing can be exported while disconnected",
        }
    elif state == "uninstalled":
        skip = {
            1: "already uninstalled",
            2: "nothing can be exported while uninstalled",
            3: "already uninstalled",
        }
    return [(name, "skipped" if i in skip else "todo", skip.get(i)) for i, name in enumerate(STEPS)]


def start_run(
    db: sqlite_utils.Database, org: str, *, actor: str | None = None, now: datetime | None = None
) -> Run:
    """Start the refresh sequence on an organisation, claiming it.

    Raises UnknownOrganisation, RunClaimed (a run is already in progress).
    """
    actor = actor or default_actor()
    current = integration(db, org)
    moment = now or clock.now()
    before = [
        g.to_json()
        for g in error_groups(db, org=current.code, since=iso(moment - timedelta(hours=24)))
    ]
    at = now_iso()
    with transaction(db) as conn:
        row = conn.execute(
            "SELECT claimed_by, claimed_at FROM runs WHERE org_id = ? AND status = 'in_progress'",
            [current.org_id],
        ).fetchone()
        if row:
            raise RunClaimed(
                f"A refresh run on {current.code} is already in progress, claimed by "
                f"{row[0]} since {row[1]}; see it with `syncdesk run show {current.code}` or "
                "take it over with --take-over."
            )
        run_id = conn.execute(
            "INSERT INTO runs(org_id, status, started_at, started_by, claimed_by, claimed_at, "
            "errors_before) VALUES (?, 'in_progress', ?, ?, ?, ?, ?)",
            [current.org_id, at, actor, actor, at, json.dumps(before)],
        ).lastrowid
        for position, (name, status, why) in enumerate(_plan(current.state)):
            conn.execute(
                "INSERT INTO run_steps(run_id, position, name, status, outcome, ended_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [run_id, position, name, status, why, at if why else None],
            )
        _audit(conn, current.org_id, actor, "run_start", f"run {run_id} from {current.state}")
    return open_run(db, current.code)


def _audit(conn: Any, oid: int, actor: str, action: str, detail: str) -> None:
    conn.execute(
        "INSERT INTO audit(at, org_id, actor, action, detail) VALUES (?, ?, ?, ?, ?)",
        [now_iso(), oid, actor, action, detail],
    )


def _claimed(run: Run, actor: str, take_over: bool) -> None:
    if run.claimed_by != actor and not take_over:
        raise RunClaimed(
            f"The run on {run.code} is claimed by {run.claimed_by} since {run.claimed_at}; "
            "pass --take-over to take it over."
        )


def take_over(db: sqlite_utils.Database, org: str, *, actor: str | None = None) -> Run:
    """Claim someone else's run in progress (recorded in the run and the audit trail).

    Raises UnknownOrganisation, NotFound.
    """
    actor = actor or default_actor()
    run = open_run(db, org)
    if run.claimed_by == actor:
        return run
    with transaction(db) as conn:
        at = now_iso()
        conn.execute(
            "UPDATE runs SET claimed_by = ?, claimed_at = ? WHERE id = ?", [actor, at, run.id]
        )
        conn.execute(
            "INSERT INTO run_notes(run_id, at, actor, text) VALUES (?, ?, ?, ?)",
            [run.id, at, actor, f"took the run over from {run.claimed_by}"],
        )
        _audit(conn, org_id(db, org), actor, "run_take_over", f"run {run.id} from {run.claimed_by}")
    return open_run(db, org)


def add_note(
    db: sqlite_utils.Database,
    org: str,
    text: str,
    *,
    actor: str | None = None,
    take_over_run: bool = False,
) -> Run:
    """Add a note to the run in progress, against its current step.

    Raises UnknownOrganisation, NotFound, RunClaimed, TransitionRefused (empty note).
    """
    actor = actor or default_actor()
    if not text.strip():
        raise TransitionRefused("A note needs some text.")
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    if take_over_run:
        run = take_over(db, org, actor=actor)
    position = run.current.position if run.current else None
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO run_notes(run_id, step_position, at, actor, text) VALUES (?, ?, ?, ?, ?)",
            [run.id, position, now_iso(), actor, text],
        )
    return open_run(db, org)


# --- performing steps ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StepInput:
    """What a person supplies for steps that need it."""

    confirm: str | None = None  # uninstall: the organisation code
    tenant_id: str | None = None  # reconnect
    accept_new_tenant: bool = False
    restore: int | None = None
    no_restore: bool = False


def _mark(
    db: sqlite_utils.Database,
    run: Run,
    step: Step,
    status: str,
    actor: str,
    outcome: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    with transaction(db) as conn:
        at = now_iso()
        if status in ("doing", "todo"):
            conn.execute(
                "UPDATE run_steps SET status = ?, actor = ?, started_at = ? "
                "WHERE run_id = ? AND position = ?",
                [status, actor, at if status == "doing" else None, run.id, step.position],
            )
        else:
            conn.execute(
                "UPDATE run_steps SET status = ?, actor = ?, ended_at = ?, outcome = ?, "
                "detail = ? WHERE run_id = ? AND position = ?",
                [
                    status,
                    actor,
                    at,
                    outcome,
                    json.dumps(detail) if detail else None,
                    run.id,
                    step.position,
                ],
            )


def _finish(
    db: sqlite_utils.Database,
    run: Run,
    status: str,
    actor: str,
    why: str,
    packet: str | None = None,
) -> None:
    with transaction(db) as conn:
        at = now_iso()
        conn.execute(
            "UPDATE run_steps SET status = 'skipped', outcome = ?, ended_at = ? "
            "WHERE run_id = ? AND status IN ('todo', 'failed')",
            [why, at, run.id],
        )
        conn.execute(
            "UPDATE runs SET status = ?, ended_at = ?, packet = ? WHERE id = ?",
            [status, at, packet, run.id],
        )
        _audit(conn, org_id(db, run.code), actor, f"run_{status}", f"run {run.id}: {why}")


def next_step(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    given: StepInput | None = None,
    take_over_run: bool = False,
    client: Any = None,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    packet_dir: Path | None = None,
) -> Run:
    """Perform the next step of the run in progress and record who, when and what happened.

    When every step is done and errors remain, the next step is escalation.

    Raises UnknownOrganisation, NotFound, RunClaimed, TransitionRefused (a step that needs
    input, e.g. the uninstall confirmation or a tenant choice), XeroError.
    """
    actor = actor or default_actor()
    given = given or StepInput()
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    if take_over_run:
        run = take_over(db, org, actor=actor)
    step = run.current
    if step is None:
        escalate(db, org, actor=actor, out=None, packet_dir=packet_dir)
        return latest_run(db, org)
    _mark(db, run, step, "doing", actor)
    try:
        status, outcome, detail = _perform(db, run, step, actor, given, client, progress, cancelled)
    except TransitionRefused:
        _mark(db, run, step, "todo", actor)  # it needs input (a confirmation, a tenant)
        raise
    except SyncdeskError as exc:
        _mark(db, run, step, "failed", actor, f"failed: {exc}")
        raise
    _mark(db, run, step, status, actor, outcome, detail)
    if step.name == "verify" and detail and detail.get("clean"):
        _finish(db, run, "resolved", actor, "not needed: a verify was clean")
    else:
        _skip_pointless(db, org, actor)
    return latest_run(db, org)


def _skip_pointless(db: sqlite_utils.Database, org: str, actor: str) -> None:
    """Skip the steps the state now makes pointless, so the next step is one that acts."""
    while True:
        run = open_run(db, org)
        step = run.current
        state = integration(db, org).state
        why = (
            {
                ("verify", "inactive"): "nothing can be exported while inactive",
                ("verify", "disconnected"): "nothing can be exported while disconnected",
                ("verify", "uninstalled"): "nothing can be exported while uninstalled",
                ("deactivate", "disconnected"): "nothing to deactivate: Xero removed the app",
                ("deactivate", "uninstalled"): "nothing to deactivate: already uninstalled",
                ("uninstall", "uninstalled"): "already uninstalled",
                ("reconnect", "active"): "already active",
            }.get((step.name, state))
            if step
            else None
        )
        if why is None:
            return
        _mark(db, run, step, "skipped", actor, why)


def _perform(
    db: sqlite_utils.Database,
    run: Run,
    step: Step,
    actor: str,
    given: StepInput,
    client: Any,
    progress: Any,
    cancelled: Any,
) -> tuple[str, str, dict[str, Any] | None]:
    state = integration(db, run.code).state
    if step.name == "diagnose":
        from store.diagnose import diagnose

        found = diagnose(db, run.code, client=client)
        with transaction(db) as conn:
            conn.execute(
                "UPDATE runs SET diagnosis = ? WHERE id = ?", [json.dumps(found.to_json()), run.id]
            )
        v = found.verdict
        if v.refresh_helps:
            said = f"the refresh sequence will likely help (the {v.refresh_step} step)."
        else:
            said = f"the refresh sequence is unlikely to help. {v.next_step}"
        return "done", f"{v.title}: {said}", {"verdict": asdict(v)}
    if step.name == "deactivate":
        return _toggle(db, run.code, state, actor, client)
    if step.name == "verify":
        return _verify(db, run.code, state, client, progress, cancelled)
    if step.name == "uninstall":
        if state == "uninstalled":
            return "skipped", "already uninstalled", None
        result = uninstall(db, run.code, confirm=given.confirm, actor=actor, client=client)
        return "done", " ".join(result.messages), {"snapshot_id": result.snapshot_id}
    if step.name == "reconnect":
        if state == "active":
            return "skipped", "already active", None
        done = reconnect(
            db,
            run.code,
            actor=actor,
            tenant_id=given.tenant_id,
            restore=given.restore,
            no_restore=given.no_restore,
            accept_new_tenant=given.accept_new_tenant,
            client=client,
        )
        return (
            "done",
            " ".join(done.transition.messages),
            {
                "tenant": done.tenant_name,
                "tenant_changed": done.tenant_changed,
                "problems": [asdict(p) for p in done.problems],
            },
        )
    raise NotFound(f"Unknown step {step.name!r}.")


def _toggle(
    db: sqlite_utils.Database, code: str, state: str, actor: str, client: Any
) -> tuple[str, str, dict[str, Any] | None]:
    if state not in ("active", "inactive"):
        return "skipped", f"nothing to deactivate: the integration is {state}", None
    said = []
    if state == "active":
        said += deactivate(db, code, actor=actor).messages
    try:
        said += activate(db, code, actor=actor, client=client).messages
    except TransitionRefused as exc:
        return "done", f"Deactivated, but it could not be switched back on: {exc}", None
    return "done", "Switched off and on again. " + " ".join(said), None


def _verify(
    db: sqlite_utils.Database, code: str, state: str, client: Any, progress: Any, cancelled: Any
) -> tuple[str, str, dict[str, Any] | None]:
    from store.checks import retry
    from store.errors import RetryRefused

    if state != "active":
        return "skipped", f"nothing can be exported while {state}", None
    started = now_iso()
    # Errors after the retry began are counted by rowid, not by time: an error logged by the
    # step before, in the same second, must not make a clean retry look dirty.
    last_id = db.execute("SELECT coalesce(max(id), 0) FROM log").fetchone()[0]
    try:
        report = retry(db, code, client=client, progress=progress, cancelled=cancelled)
    except RetryRefused as exc:
        return "done", f"Not retried: {exc} Still failing.", {"clean": False}
    errors = db.execute(
        "SELECT count(*) FROM log WHERE org_id = ? AND level = 'error' AND id > ?",
        [org_id(db, code), last_id],
    ).fetchone()[0]
    waiting = sum(report.after.get(s, 0) for s in ("failed", "held"))
    clean = errors == 0 and waiting == 0 and not report.stopped_reason
    after = [g.to_json() for g in error_groups(db, org=code, since=started)]
    outcome = (
        f"Retried {report.sent}: {report.exported} exported, {report.failed} failed; "
        f"{errors} errors logged since. " + ("Clean." if clean else "Still failing.")
    )
    if report.stopped_reason:
        outcome += f" Stopped: {report.stopped_reason}"
    return (
        "done",
        outcome,
        {"clean": clean, "before": report.before, "after": report.after, "errors_after": after},
    )


# --- ending ----------------------------------------------------------------------------------


def resolve(
    db: sqlite_utils.Database, org: str, *, actor: str | None = None, take_over_run: bool = False
) -> Run:
    """Mark the run resolved (the problem is fixed); remaining steps are skipped.

    Raises UnknownOrganisation, NotFound, RunClaimed.
    """
    actor = actor or default_actor()
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    _finish(db, run, "resolved", actor, f"resolved by {actor}")
    return latest_run(db, org)


def packet(db: sqlite_utils.Database, org: str) -> dict[str, Any]:
    """The support packet for the organisation's latest run, as data (no secrets).

    Raises UnknownOrganisation, NotFound.
    """
    run = latest_run(db, org)
    if run is None:
        raise NotFound(f"{org.upper()} has no refresh run to escalate; start one first.")
    current = integration(db, org)
    kb = knowledge_by_kind(db)
    after = [g.to_json() for g in error_groups(db, org=current.code, since=run.started_at)]
    kinds = {g["kind"] for g in [*run.errors_before, *after]}
    recent = db.execute(
        "SELECT at, message, correlation_id FROM log WHERE org_id = ? AND level = 'error' AND "
        "correlation_id IS NOT NULL ORDER BY id DESC LIMIT 10",
        [current.org_id],
    ).fetchall()
    return {
        "organisation": {
            "code": current.code,
            "name": current.name,
            "state": current.state,
            "version": current.version,
        },
        "tenant": {
            "id": current.tenant_id,
            "name": current.tenant_name,
            "previous_id": current.previous_tenant_id,
            "previous_name": current.previous_tenant_name,
        },
        "state_history": [e.to_json() for e in reversed(audit_trail(db, current.code, limit=50))],
        "run": run.to_json(),
        "errors_before": list(run.errors_before),
        "errors_after": after,
        "suggestions": [
            {
                "kind": k,
                "title": kb[k].title,
                "cause": kb[k].cause,
                "fix": kb[k].fix,
                "refresh_step": kb[k].refresh_step,
            }
            for k in sorted(kinds)
            if k in kb
        ],
        "recent_correlation_ids": [dict(r) for r in recent],
    }


def packet_markdown(data: dict[str, Any]) -> str:
    """The packet as Markdown for a ticket or an email."""
    org, tenant, run = data["organisation"], data["tenant"], data["run"]
    lines = [
        f"# Escalation: {org['code']} ({org['name']})",
        "",
        f"- State: {org['state']} (version {org['version']})",
        f"- Xero tenant: {tenant['name'] or '-'} ({tenant['id'] or '-'})",
        f"- Previous tenant: {tenant['previous_name'] or '-'} ({tenant['previous_id'] or '-'})",
        f"- Run {run['id']}: started {run['started_at']} by {run['started_by']}, "
        f"claimed by {run['claimed_by']}",
        "",
        "## Steps",
        "",
    ]
    for step in run["steps"]:
        who = f" by {step['actor']}" if step["actor"] else ""
        when = f" at {step['ended_at']}" if step["ended_at"] else ""
        lines.append(
            f"{step['position'] + 1}. **{step['name']}**: {step['status']}{who}{when}"
            + (f": {step['outcome']}" if step["outcome"] else "")
        )
    if run["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {n['at']} {n['actor']}: {n['text']}" for n in run["notes"]]
    for title, key in (
        ("Errors in the 24 h before the run", "errors_before"),
        ("Errors since the run started", "errors_after"),
    ):
        lines += ["", f"## {title}", ""]
        lines += [
            f"- {g['kind']}: {g['count']} (first {g['first_at']}, last {g['last_at']})"
            for g in data[key]
        ] or ["- none"]
    lines += ["", "## Knowledge base", ""]
    for s in data["suggestions"]:
        lines += [f"- **{s['kind']}** ({s['title']}): {s['cause']} Fix: {s['fix']}"]
    lines += ["", "## State history", ""]
    lines += [
        f"- {e['at']} {e['actor']}: {e['action']} {e['before_state'] or ''} -> "
        f"{e['after_state'] or ''} {e['detail'] or ''}".rstrip()
        for e in data["state_history"]
    ]
    if data["recent_correlation_ids"]:
        lines += ["", "## Recent Xero correlation ids", ""]
        lines += [
            f"- {r['at']} {r['correlation_id']}: {r['message']}"
            for r in data["recent_correlation_ids"]
        ]
    return "\n".join(lines) + "\n"


def escalate(
    db: sqlite_utils.Database,
    org: str,
    *,
    actor: str | None = None,
    out: Path | None = None,
    packet_dir: Path | None = None,
    take_over_run: bool = False,
) -> tuple[Path, Path, str]:
    """Write the support packet (Markdown and JSON) and close the run as escalated.

    Returns (markdown path, json path, a one-paragraph summary to paste).

    Raises UnknownOrganisation, NotFound, RunClaimed, SyncdeskError (cannot write).
    """
    actor = actor or default_actor()
    run = open_run(db, org)
    _claimed(run, actor, take_over_run)
    data = packet(db, org)
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    md_path = (
        Path(out)
        if out
        else (packet_dir or Path.cwd()) / (f"syncdesk-{run.code}-run{run.id}-{stamp}.md")
    )
    json_path = md_path.with_suffix(".json")
    try:
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(packet_markdown(data), encoding="utf-8")
        json_path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    except OSError as exc:
        raise SyncdeskError(f"Cannot write the packet to {md_path} ({exc.strerror}).") from exc
    _finish(db, run, "escalated", actor, f"escalated by {actor}", str(md_path))
    groups = ", ".join(f"{g['kind']} x{g['count']}" for g in data["errors_after"]) or "none"
    summary = (
        f"{run.code} ({data['organisation']['name']}): refresh run {run.id} escalated "
        f"by {actor}. State {data['organisation']['state']}, tenant "
        f"{data['tenant']['name'] or '-'}. Errors since the run: {groups}. "
        f"Packet: {md_path}"
    )
    return md_path, json_path, summary
