"""Lifecycle commands: transitions, mappings, snapshots, audit, diagnose and refresh runs
(reconnect, with its consent options, is in cli_reconnect.py).

Each calls one store function (store.transitions, store.reconnect, store.mapping_edits,
store.history, store.diagnose, store.runs), the same the console calls.
"""

from __future__ import annotations

from pathlib import Path

import click

from store import paths
from store.checks import activate
from store.diagnose import diagnose as diagnose_org
from store.enums import RunStatus, StepStatus
from store.history import audit_trail, snapshots
from store.mapping_edits import set_mapping
from store.models import StepInput
from store.runs import (
    WHAT,
    add_note,
    escalate,
    latest_run,
    next_step,
    resolve,
    start_run,
)
from store.runs import take_over as take_over_run
from store.textsafe import visible
from store.timeparse import when
from store.transitions import deactivate, default_actor, uninstall, uninstall_plan
from tui.cli_base import Context, cli, counter, pass_ctx, print_json, print_table, say

actor_option = click.option(
    "--actor",
    default=default_actor,
    show_default="your login name",
    help="Who is doing this (recorded in the audit trail and the run).",
)
version_option = click.option(
    "--expect-version",
    type=int,
    help="Refuse if the integration's version is not this one (someone changed it since).",
)


def _say_transition(result, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    say(
        f"{result.code}: {result.before} -> {result.after} (version {result.version}, "
        f"by {result.actor})"
    )
    for message in result.messages:
        click.echo(f"  {visible(message)}")


@cli.command("deactivate")
@click.argument("org")
@actor_option
@version_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def deactivate_cmd(
    obj: Context, org: str, actor: str, expect_version: int | None, as_json: bool
) -> None:
    """active -> inactive: pause exports (held in the queue); settings and mappings kept."""
    _say_transition(deactivate(obj.db, org, actor=actor, expected_version=expect_version), as_json)


@cli.command("activate")
@click.argument("org")
@actor_option
@version_option
@click.option(
    "--without-check",
    metavar="REASON",
    help="Switch it on without asking Xero (when Xero cannot be reached, say); the reason is "
    "recorded in the audit trail and the log.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def activate_cmd(
    obj: Context,
    org: str,
    actor: str,
    expect_version: int | None,
    without_check: str | None,
    as_json: bool,
) -> None:
    """inactive -> active only after Xero answers a live check; refused (exports stay held)
    when Xero cannot be reached or understood; disconnected if Xero removed the app."""
    result = activate(
        obj.db, org, actor=actor, expected_version=expect_version, without_check=without_check
    )
    _say_transition(result, as_json)


@cli.command("uninstall")
@click.argument("org")
@click.option("--confirm", metavar="ORG", help="The organisation's code, to confirm.")
@actor_option
@version_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def uninstall_cmd(
    obj: Context,
    org: str,
    confirm: str | None,
    actor: str,
    expect_version: int | None,
    as_json: bool,
) -> None:
    """Remove settings, mappings and tokens (snapshotted first) and revoke the Xero connection.

    Without --confirm ORG it only says what would be removed and kept, and exits 1.
    """
    if confirm is None and not as_json:
        plan = uninstall_plan(obj.db, org)
        say(f"Uninstalling {plan.code} ({plan.state}) would remove:")
        for item in plan.removed():
            click.echo(f"  - {visible(item)}")
        click.echo("and keep:")
        for item in plan.kept():
            click.echo(f"  - {visible(item)}")
    _say_transition(
        uninstall(obj.db, org, confirm=confirm, actor=actor, expected_version=expect_version),
        as_json,
    )


@cli.command("snapshots")
@click.argument("org")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def snapshots_cmd(obj: Context, org: str, as_json: bool) -> None:
    """Snapshots of the configuration taken before each uninstall, newest first."""
    found = snapshots(obj.db, org)
    if as_json:
        print_json(found)
        return
    print_table(
        ["ID", "TAKEN (UTC)", "BY", "TENANT", "SETTINGS", "MAPPINGS", "RESTORED"],
        [
            [
                s.id,
                s.taken_at,
                s.actor,
                s.tenant_name or "-",
                len(s.settings),
                len(s.mappings),
                s.restored_at or "-",
            ]
            for s in found
        ],
        flexible=(3,),
    )
    if not found:
        click.echo("No snapshots.", err=True)


@cli.command("audit")
@click.argument("org", required=False)
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def audit_cmd(obj: Context, org: str | None, limit: int, as_json: bool) -> None:
    """Who changed what and when, newest first."""
    entries = audit_trail(obj.db, org, limit=limit)
    if as_json:
        print_json(entries)
        return
    print_table(
        ["AT (UTC)", "ORG", "BY", "ACTION", "DETAIL"],
        [
            [
                when(e.at),
                e.org,
                e.actor,
                e.action + (f" {e.before_state}->{e.after_state}" if e.after_state else ""),
                e.detail or "",
            ]
            for e in entries
        ],
        flexible=(3, 4),
    )


@cli.command("diagnose")
@click.argument("org")
@actor_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def diagnose_cmd(obj: Context, org: str, actor: str, as_json: bool) -> None:
    """State, live check and error groups combined into a verdict and the next step."""
    found = diagnose_org(obj.db, org, actor=actor)
    if as_json:
        print_json(found)
        return
    v = found.verdict
    say(f"{found.code}  {found.name}: {found.state}, tenant {found.tenant_name or '-'}")
    if found.check_error:
        click.echo(f"  live check could not run: {visible(found.check_error)}")
    for f in found.findings:
        say(f"  {'✓' if f.ok else '✗'} {f.check}: {f.detail}")
    for g in found.groups:
        say(f"  {g.count:>4} x {g.kind} (last {g.last_at})")
    click.echo(f"Verdict: {visible(v.title)}")
    if v.cause:
        click.echo(f"  cause: {visible(v.cause)}")
    if v.fix:
        click.echo(f"  fix: {visible(v.fix)}")
    click.echo(
        f"  refresh sequence: {'will help' if v.refresh_helps else 'will not help'}"
        + (f" ({v.refresh_step} step)" if v.refresh_helps else "")
    )
    click.echo(f"Next: {visible(v.next_step)}")


# --- runs ------------------------------------------------------------------------------------


@cli.group("run")
def run_group() -> None:
    """The refresh sequence as a recorded, resumable run.

    \b
    diagnose -> deactivate -> verify -> uninstall -> reconnect -> verify -> resolved | escalated
    Steps the state makes pointless are skipped; a clean verify resolves the run.
    """


take_over_option = click.option(
    "--take-over", is_flag=True, help="Take over a run claimed by someone else."
)


MARKS = {
    StepStatus.DONE: "✓",
    StepStatus.SKIPPED: "-",
    StepStatus.TODO: " ",
    StepStatus.DOING: "…",
    StepStatus.FAILED: "✗",
}


def _show_run(run, as_json: bool) -> None:
    if as_json:
        print_json(run)
        return
    say(
        f"Run {run.id} on {run.code}: {run.status}; started {run.started_at} by "
        f"{run.started_by}; claimed by {run.claimed_by} since {run.claimed_at}"
    )
    current = run.current
    for step in run.steps:
        pointer = ">" if current and step.position == current.position else " "
        who = f" {step.actor} {step.ended_at or step.started_at or ''}" if step.actor else ""
        say(
            f"{pointer}[{MARKS.get(step.status, '?')}] {step.position + 1}. "
            f"{step.name:<10} {step.status:<8}{who}"
        )
        if step.outcome:
            click.echo(f"        {visible(step.outcome)}")
    for note in run.notes:
        say(f"  note {note.at} {note.actor}: {note.text}")
    if run.status == RunStatus.IN_PROGRESS:
        if current:
            click.echo(f"Next: {current.name}: {WHAT[current.name]}")
        else:
            click.echo("Every step is done and errors remain: `syncdesk run next` escalates.")
    if run.packet:
        say(f"Packet: {run.packet}")


@run_group.command("start")
@click.argument("org")
@actor_option
@take_over_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def run_start(obj: Context, org: str, actor: str, take_over: bool, as_json: bool) -> None:
    """Start a refresh run on ORG (it claims the organisation)."""
    if take_over:
        _show_run(take_over_run(obj.db, org, actor=actor), as_json)
        return
    _show_run(start_run(obj.db, org, actor=actor), as_json)


@run_group.command("show")
@click.argument("org")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def run_show(obj: Context, org: str, as_json: bool) -> None:
    """Show ORG's run in progress (or its latest): steps, who, when, outcomes, notes."""
    run = latest_run(obj.db, org)
    if run is None:
        if as_json:
            print_json(None)
            return
        raise click.ClickException(f"{org.upper()} has never had a refresh run.")
    _show_run(run, as_json)


@run_group.command("next")
@click.argument("org")
@click.option("--confirm", metavar="ORG", help="For the uninstall step: the organisation code.")
@click.option("--tenant-id", help="For the reconnect step: the Xero organisation to connect.")
@click.option(
    "--accept-new-tenant",
    is_flag=True,
    help="For the reconnect step: allow a different Xero organisation.",
)
@click.option("--restore", "restore_id", type=int, metavar="SNAPSHOT")
@click.option("--no-restore", is_flag=True)
@click.option(
    "--redirect-url",
    metavar="URL",
    help="For the reconnect step against the real Xero: the address the browser ended on "
    "after the consent link of `syncdesk reconnect ORG --auth-url`.",
)
@actor_option
@take_over_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def run_next(
    obj: Context,
    org: str,
    confirm: str | None,
    tenant_id: str | None,
    accept_new_tenant: bool,
    restore_id: int | None,
    no_restore: bool,
    redirect_url: str | None,
    actor: str,
    take_over: bool,
    as_json: bool,
) -> None:
    """Perform the next step of ORG's run (escalates when every step is done)."""
    given = StepInput(
        confirm=confirm,
        tenant_id=tenant_id,
        accept_new_tenant=accept_new_tenant,
        restore=restore_id,
        no_restore=no_restore,
        redirect_url=redirect_url,
    )

    run = next_step(
        obj.db,
        org,
        actor=actor,
        given=given,
        take_over_run=take_over,
        progress=counter("  retried"),
        packet_dir=paths.packets_dir(),
    )
    _show_run(run, as_json)


@run_group.command("note")
@click.argument("org")
@click.argument("text")
@actor_option
@take_over_option
@pass_ctx
def run_note(obj: Context, org: str, text: str, actor: str, take_over: bool) -> None:
    """Add a note to ORG's run, against its current step."""
    run = add_note(obj.db, org, text, actor=actor, take_over_run=take_over)
    click.echo(f"Noted on run {run.id} ({len(run.notes)} notes).")


@run_group.command("resolve")
@click.argument("org")
@actor_option
@take_over_option
@pass_ctx
def run_resolve(obj: Context, org: str, actor: str, take_over: bool) -> None:
    """Close ORG's run as resolved."""
    run = resolve(obj.db, org, actor=actor, take_over_run=take_over)
    say(f"Run {run.id} on {run.code} resolved by {actor}.")


@run_group.command("escalate")
@click.argument("org")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the packet (Markdown) to this path and the JSON beside it with .json. "
    "Default: a stamped name in the packets directory.",
)
@click.option("--force", is_flag=True, help="Replace files already at --out.")
@actor_option
@take_over_option
@pass_ctx
def run_escalate(
    obj: Context, org: str, out: Path | None, force: bool, actor: str, take_over: bool
) -> None:
    """Write the support packet (Markdown and JSON, no secrets, private files) and close the
    run. An existing file at --out is refused unless --force; symbolic links never followed."""
    md, js, summary = escalate(
        obj.db,
        org,
        actor=actor,
        out=out,
        packet_dir=paths.packets_dir(),
        take_over_run=take_over,
        force=force,
    )
    say(f"Packet written to {md} and {js}.")
    say(summary)


@cli.command("map")
@click.argument("org")
@click.argument("kind")
@click.argument("local")
@click.argument("remote")
@actor_option
@version_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def map_cmd(
    obj: Context,
    org: str,
    kind: str,
    local: str,
    remote: str,
    actor: str,
    expect_version: int | None,
    as_json: bool,
) -> None:
    """Point one mapping (KIND LOCAL, e.g. sales_account default) at a Xero code (REMOTE),
    checked against the tenant's chart of accounts and tax rates first."""
    change = set_mapping(
        obj.db, org, kind, local, remote, actor=actor, expected_version=expect_version
    )
    if as_json:
        print_json(change)
        return
    say(
        f"{change.code}: {kind} {local}: {change.before or '(none)'} -> {remote} "
        f"(checked against {change.tenant_name or '-'}; version {change.version})"
    )
