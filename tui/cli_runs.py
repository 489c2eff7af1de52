"""Refresh-run commands: `syncdesk run start|show|next|override|note|resolve|escalate`.

Each calls one store function (store.runs), the same the console's wizard calls.
"""

from __future__ import annotations

from pathlib import Path

import click

from store import paths
from store.enums import RunStatus, StepStatus
from store.models import StepInput
from store.runs import (
    WHAT,
    add_note,
    escalate,
    latest_run,
    next_step,
    override_verdict,
    resolve,
    start_run,
)
from store.runs import take_over as take_over_run
from store.textsafe import visible
from tui.cli_base import Context, actor_option, cli, counter, pass_ctx, print_json, say


@cli.group("run")
def run_group() -> None:
    """A refresh run: recorded, resumable steps planned from the diagnosis.

    \b
    diagnose, then what the verdict says helps:
      refresh sequence  deactivate -> verify -> uninstall -> reconnect -> verify
      wait              wait (until the stated time; Xero must answer) -> verify
      map               map (every mapping valid in the tenant) -> verify
      activate          activate (switch a paused integration back on) -> verify
      data errors       verify (after fixing the data)
    The refresh sequence where it will not help only with --override-verdict REASON (or
    `run override`), recorded in the run. No uninstall while Xero cannot answer. Steps the
    state makes pointless are skipped; a clean verify resolves the run. `run show --json`
    has `outcome` (resolved | escalated | waiting | null while it goes on), `next_action`,
    `wait_until`, `override_reason` and `override_by`.
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
    if run.override_reason:
        say(f"Verdict overridden by {run.override_by}: {run.override_reason}")
    if run.outcome:
        say(f"Outcome: {run.outcome}")
    if run.status == RunStatus.IN_PROGRESS and current:
        click.echo(f"Step {current.position + 1}, {current.name}: {WHAT[current.name]}")
    if run.next_action:
        say(run.next_action)
    if run.packet:
        say(f"Packet: {run.packet}")


@run_group.command("start")
@click.argument("org")
@click.option(
    "--override-verdict",
    "override",
    metavar="REASON",
    help="Plan the refresh sequence even where the verdict says it will not help; the reason "
    "is recorded in the run, its notes and the audit trail.",
)
@actor_option
@take_over_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def run_start(
    obj: Context, org: str, override: str | None, actor: str, take_over: bool, as_json: bool
) -> None:
    """Start a refresh run on ORG (it claims the organisation). Its diagnose step plans the
    rest from the verdict."""
    if take_over:
        _show_run(take_over_run(obj.db, org, actor=actor), as_json)
        return
    _show_run(start_run(obj.db, org, actor=actor, override=override), as_json)


@run_group.command("override")
@click.argument("org")
@click.argument("reason")
@actor_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def run_override(obj: Context, org: str, reason: str, actor: str, as_json: bool) -> None:
    """Add the refresh sequence to ORG's run in progress despite its verdict, for REASON
    (recorded in the run, its notes and the audit trail)."""
    _show_run(override_verdict(obj.db, org, reason, actor=actor), as_json)


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
    """Write the support packet and close the run as escalated.

    \b
    Markdown at --out PATH, JSON beside it: PATH with its suffix replaced by .json
    (out.md -> out.json), or .json added when PATH has none (ticket -> ticket.json).
    Both hold the verdict, the live-check findings, the mappings before and after, the error
    groups with correlation ids, every step (status, who, when, result) and the notes; never
    a token or secret. Private files; an existing file is refused unless --force; symbolic
    links are never followed."""
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
