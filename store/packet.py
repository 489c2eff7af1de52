"""The escalation packet: what support needs about a refresh run that did not fix things.

Built from the run, the integration, its audit trail and the error groups before and after
(never tokens or other secrets). Its JSON keys: organisation, tenant, verdict (the diagnose
step's: kind, title, what, cause, fix, remedy, refresh_helps, next_step, problems,
wait_until), findings (the live check's) and check_error, mappings_before (when the run
started) and mappings_after (now), error_groups (from 24 h before the run until now, in order
of what decides: `decides` marks the verdict's, each with its correlation_ids), run (every
step with status, actor, started_at, ended_at, outcome; notes; outcome; override_reason),
state_history, errors_before, errors_after, suggestions, recent_correlation_ids. Rendered
as Markdown for a ticket and written beside it as
JSON (`to_json` of the Packet; the Markdown is rendered from that same JSON). store/runs.py
closes the run as escalated once the packet is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from store import clock
from store.enums import State
from store.errors import SyncdeskError
from store.history import audit_trail
from store.kb import knowledge_by_kind
from store.logs import error_groups
from store.models import AuditEntry, ErrorGroup, Run, to_json
from store.orgs import configuration
from store.paths import safe_name, write_private
from store.redact import redact, remember
from store.textsafe import dumps, visible
from store.timeparse import iso, parse
from store.transitions import integration
from store.verdicts import ordered_groups

if TYPE_CHECKING:
    import sqlite_utils


@dataclass(frozen=True, slots=True)
class PacketOrg:
    code: str
    name: str
    state: State
    version: int


@dataclass(frozen=True, slots=True)
class PacketTenant:
    id: str | None
    name: str | None
    previous_id: str | None
    previous_name: str | None


@dataclass(frozen=True, slots=True)
class Suggestion:
    """The knowledge base on one kind of error the run saw."""

    kind: str
    title: str
    cause: str
    fix: str
    refresh_step: str


@dataclass(frozen=True, slots=True)
class CorrelatedError:
    """A recent error with the id Xero's support can look up."""

    at: str
    message: str
    correlation_id: str


@dataclass(frozen=True, slots=True)
class PacketGroup:
    """An error group, with the correlation ids Xero's support can look up."""

    kind: str
    count: int
    first_at: str
    last_at: str
    title: str | None
    decides: bool  # the group behind the verdict
    correlation_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Packet:
    """Everything support needs about an escalated run; its JSON is the packet file."""

    organisation: PacketOrg
    tenant: PacketTenant
    state_history: tuple[AuditEntry, ...]  # oldest first
    run: Run
    errors_before: tuple[dict[str, Any], ...]  # as the run stored them when it started
    errors_after: tuple[ErrorGroup, ...]
    suggestions: tuple[Suggestion, ...]
    recent_correlation_ids: tuple[CorrelatedError, ...]
    verdict: dict[str, Any] | None = None
    findings: tuple[dict[str, Any], ...] = ()
    check_error: str | None = None
    mappings_before: tuple[dict[str, Any], ...] = ()
    mappings_after: tuple[dict[str, Any], ...] = ()
    error_groups: tuple[PacketGroup, ...] = ()


def build_packet(db: sqlite_utils.Database, run: Run) -> Packet:
    """The support packet for this run (no secrets).

    Raises UnknownOrganisation.
    """
    current = integration(db, run.code)
    remember(  # its tokens, should any note or message quote them, never reach the packet
        *db.execute(
            "SELECT access_token, refresh_token FROM credentials WHERE org_id = ?",
            [current.org_id],
        ).fetchone()
        or ()
    )
    kb = knowledge_by_kind(db)
    after = tuple(error_groups(db, org=current.code, since=run.started_at))
    kinds = {g["kind"] for g in run.errors_before} | {g.kind for g in after}
    recent = db.execute(
        "SELECT at, message, correlation_id FROM log WHERE org_id = ? AND level = 'error' AND "
        "correlation_id IS NOT NULL ORDER BY id DESC LIMIT 10",
        [current.org_id],
    ).fetchall()
    return Packet(
        PacketOrg(current.code, current.name, current.state, current.version),
        PacketTenant(
            current.tenant_id,
            current.tenant_name,
            current.previous_tenant_id,
            current.previous_tenant_name,
        ),
        tuple(audit_trail(db, current.code, limit=50)[::-1]),
        run,
        run.errors_before,
        after,
        tuple(
            Suggestion(k, kb[k].title, kb[k].cause, kb[k].fix, kb[k].refresh_step)
            for k in sorted(kinds)
            if k in kb
        ),
        tuple(CorrelatedError(*r) for r in recent),
        *_diagnosed(run),
        *_mappings(db, run, current.org_id),
        _groups(db, run, current.org_id, current.code),
    )


def _diagnosed(run: Run) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], ...], str | None]:
    """(verdict, live-check findings, why the live check could not run) as the diagnose step
    stored them."""
    found = run.diagnosis or {}
    return found.get("verdict"), tuple(found.get("findings") or ()), found.get("check_error")


def _mappings(
    db: sqlite_utils.Database, run: Run, oid: int
) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    row = db.execute("SELECT mappings_before FROM runs WHERE id = ?", [run.id]).fetchone()
    before = tuple(json.loads(row[0])) if row and row[0] else ()
    after = tuple(to_json(configuration(db.conn, oid)[1]))
    return before, after


def _groups(db: sqlite_utils.Database, run: Run, oid: int, code: str) -> tuple[PacketGroup, ...]:
    """Error groups from 24 h before the run until now, the verdict's first."""
    since = iso(parse(run.started_at) - timedelta(hours=24))
    verdict = ((run.diagnosis or {}).get("verdict") or {}).get("kind")
    out = []
    for g in ordered_groups(error_groups(db, org=code, since=since), verdict):
        ids = tuple(
            r[0]
            for r in db.execute(
                "SELECT DISTINCT correlation_id FROM log WHERE org_id = ? AND kind = ? AND "
                "level = 'error' AND at >= ? AND correlation_id IS NOT NULL "
                "ORDER BY id DESC LIMIT 5",
                [oid, g.kind, since],
            )
        )
        out.append(
            PacketGroup(g.kind, g.count, g.first_at, g.last_at, g.title, g.kind == verdict, ids)
        )
    return tuple(out)


def packet_markdown(data: dict[str, Any]) -> str:
    """The packet's JSON as Markdown for a ticket or an email."""
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
    lines += _verdict_lines(data)
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
    # One line each: a newline or a control character in a name or a message stays visible text.
    return "\n".join(visible(redact(line)) for line in lines) + "\n"


def _verdict_lines(data: dict[str, Any]) -> list[str]:
    """The verdict, the live check, the mappings before and after, the error groups."""
    v = data.get("verdict") or {}
    lines = ["", "## Verdict", ""]
    if v:
        lines += [
            f"- {v.get('title')} ({v.get('kind') or '-'}; remedy {v.get('remedy')})",
            f"- What happened: {v.get('what') or '-'}",
            f"- Why: {v.get('cause') or '-'}",
            f"- Fix: {v.get('fix') or '-'}",
            f"- Refresh sequence: {'helps' if v.get('refresh_helps') else 'does not help'}",
            f"- Next step: {v.get('next_step')}",
        ]
        lines += [f"- Problem: {p}" for p in v.get("problems") or ()]
    else:
        lines.append("- none: the run was escalated before its diagnose step")
    lines += ["", "## Live check", ""]
    if data.get("check_error"):
        lines.append(f"- could not run: {data['check_error']}")
    lines += [
        f"- {'ok' if f['ok'] else 'FAILED'} {f['check']}: {f['detail']}"
        for f in data.get("findings") or ()
    ] or ["- none recorded"]
    lines += ["", "## Mappings (before the run -> now)", ""]
    after = {(m["kind"], m["local"]): m["remote"] for m in data.get("mappings_after") or ()}
    before = {(m["kind"], m["local"]): m["remote"] for m in data.get("mappings_before") or ()}
    for key in sorted(before.keys() | after.keys()):
        was, now = before.get(key, "-"), after.get(key, "-")
        lines.append(f"- {key[0]} {key[1]}: {was} -> {now}" + ("" if was == now else "  (changed)"))
    if not before and not after:
        lines.append("- none")
    lines += ["", "## Error groups (24 h before the run until now)", ""]
    lines += [
        f"- {'**' if g['decides'] else ''}{g['kind']}{' (decides)**' if g['decides'] else ''}: "
        f"{g['count']} (first {g['first_at']}, last {g['last_at']})"
        + (f"; correlation ids {', '.join(g['correlation_ids'])}" if g["correlation_ids"] else "")
        for g in data.get("error_groups") or ()
    ] or ["- none"]
    return lines


def packet_path(run: Run, out: Path | None, packet_dir: Path | None) -> Path:
    """Where the Markdown goes: `out` as given, else a stamped name in packet_dir (or here).

    The name is built from the organisation's code made safe for a file name, so a code
    cannot place the packet outside packet_dir.
    """
    if out:
        return Path(out)
    stamp = clock.now().strftime("%Y%m%dT%H%M%SZ")
    name = f"syncdesk-{safe_name(run.code)}-run{run.id}-{stamp}.md"
    return (packet_dir or Path.cwd()) / name


def write_packet(packet: Packet, md_path: Path, *, force: bool = False) -> Path:
    """Write the packet as Markdown at md_path and as JSON beside it (md_path with .json);
    returns the JSON path. Both files are private (0600, 0660 in a group-shared directory),
    never written through a symlink, and never replace a file unless `force`.

    Raises SyncdeskError (exists, a symlink, cannot write).
    """
    json_path = md_path.with_suffix(".json") if md_path.suffix else Path(f"{md_path}.json")
    if not force:
        for path in (md_path, json_path):
            if path.exists() or path.is_symlink():
                raise SyncdeskError(
                    f"{path} already exists; choose another --out, or pass --force to replace it."
                )
    data = to_json(packet)
    try:
        write_private(md_path, packet_markdown(data), force=force)
        write_private(json_path, redact(dumps(data, indent=2)), force=force)
    except FileExistsError as exc:
        raise SyncdeskError(f"Cannot write the packet: {exc}.") from exc
    except OSError as exc:
        raise SyncdeskError(f"Cannot write the packet to {md_path} ({exc.strerror}).") from exc
    return json_path


def packet_summary(packet: Packet, actor: str, md_path: Path) -> str:
    """One paragraph to paste into a ticket or a chat."""
    groups = ", ".join(f"{g.kind} x{g.count}" for g in packet.errors_after) or "none"
    return redact(
        f"{packet.run.code} ({packet.organisation.name}): refresh run {packet.run.id} escalated "
        f"by {actor}. State {packet.organisation.state}, tenant "
        f"{packet.tenant.name or '-'}. Errors since the run: {groups}. "
        f"Packet: {md_path}"
    )
