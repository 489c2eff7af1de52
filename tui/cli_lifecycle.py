"""Lifecycle commands: transitions, mappings, snapshots, audit and diagnose (refresh runs are
in tui/cli_runs.py; reconnect, with its consent options, in tui/cli_reconnect.py).

Each calls one store function (store.transitions, store.mapping_edits,
store.history, store.diagnose), the same the console calls.
"""

from __future__ import annotations

import click

from store.checks import activate, safe_uninstall
from store.diagnose import diagnose as diagnose_org
from store.history import audit_trail, snapshots
from store.mapping_edits import set_mapping
from store.textsafe import visible
from store.timeparse import parse_until, when
from store.transitions import deactivate, uninstall_plan
from tui.cli_base import Context, actor_option, cli, pass_ctx, print_json, print_table, say

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
@click.option(
    "--reason",
    metavar="TEXT",
    help="Why it is paused (a bulk edit, say); shown on the organisation screen and by `show`.",
)
@click.option(
    "--until",
    metavar="WHEN",
    help="When it is due back on: a span from now (2h, 30m, 1d) or a time (2026-11-24T17:00). "
    "Past it, or 24 h after the pause without one, `orgs --json` says `overdue: true`, the "
    "dashboard flags it and diagnose says to turn it back on.",
)
@actor_option
@version_option
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def deactivate_cmd(
    obj: Context,
    org: str,
    reason: str | None,
    until: str | None,
    actor: str,
    expect_version: int | None,
    as_json: bool,
) -> None:
    """active -> inactive: pause exports (held in the queue); settings and mappings kept."""
    due = parse_until(until) if until is not None else None
    result = deactivate(
        obj.db, org, actor=actor, expected_version=expect_version, reason=reason, until=due
    )
    _say_transition(result, as_json)


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

    Without --confirm ORG it only says what would be removed and kept, and exits 1. Refused
    (exit 1, saying when to try again) while Xero cannot answer for the organisation:
    rate-limited, offline or unreachable.
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
        safe_uninstall(obj.db, org, confirm=confirm, actor=actor, expected_version=expect_version),
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
    """State, live check and error groups combined into a verdict and the next step.

    \b
    The verdict says what happened, why, what fixes it, whether the refresh sequence helps
    and the next step; every current problem is listed, the blocking one first. Error groups
    come in order of what decides: the verdict's first (marked), then severity, then count.
    JSON: the verdict's keys include kind, title, what, cause, fix, remedy (wait | reconnect
    | map | activate | fix_data | retry | escalate | none), refresh_helps, refresh_step,
    next_step, wait_until, problems, old and remedies.
    """
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
        mark = "  <- decides" if g.kind == v.kind else ""
        say(f"  {g.count:>4} x {g.kind} (last {g.last_at}){mark}")
    click.echo(f"Verdict: {visible(v.title)}")
    if v.what:
        click.echo(f"  what happened: {visible(v.what)}")
    if v.cause:
        click.echo(f"  why: {visible(v.cause)}")
    if v.fix:
        click.echo(f"  fix: {visible(v.fix)}")
    click.echo(
        f"  refresh sequence: {'will help' if v.refresh_helps else 'will not help'}"
        + (f" ({v.refresh_step} step)" if v.refresh_helps else "")
    )
    if v.wait_until:
        click.echo(f"  wait until: {v.wait_until}")
    if len(v.problems) > 1:
        click.echo("  problems, the blocking one first:")
        for line in v.problems:
            click.echo(f"    - {visible(line)}")
    click.echo(f"Next: {visible(v.next_step)}")


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
