"""`syncdesk reconnect`: the lifecycle step that needs Xero's consent, with the ways a person
gives it: the embedded sandbox plays it; for the real Xero, --auth-url prints the consent link,
--redirect-url completes it from the address the browser ended on, and --listen waits for the
browser on the redirect URI's port (through `ssh -L` when the browser is elsewhere).

Each calls the store functions the console calls (store.reconnect, store.xero.callback).
"""

from __future__ import annotations

import click

from store.reconnect import reconnect, start_consent
from store.textsafe import visible
from tui.cli_base import Context, actor_option, cli, pass_ctx, print_json, say

LISTEN_SECONDS = 600  # a consent link's own lifetime


def _say_link(link, *, err: bool = False) -> None:
    click.echo(
        f"Open this link in a browser (or send it to the customer) to give syncdesk access "
        f"to {link.code}'s Xero organisation:",
        err=err,
    )
    click.echo(f"  {visible(link.url)}", err=err)
    click.echo(f"The link expires at {link.expires_at}.", err=err)


def _say_result(result, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    transition = result.transition
    say(
        f"{transition.code}: {transition.before} -> {transition.after} (version "
        f"{transition.version}, by {transition.actor})"
    )
    for message in transition.messages:
        click.echo(f"  {visible(message)}")
    click.echo(
        f"  Xero organisation: {visible(result.tenant_name)} ({result.tenant_id})"
        + ("  ** DIFFERENT FROM BEFORE **" if result.tenant_changed else "")
    )
    for problem in result.problems:
        click.echo(
            f"  ✗ {visible(problem.kind)} {visible(problem.local)} -> "
            f"{visible(problem.remote)}: {visible(problem.problem)}"
        )


@cli.command("reconnect")
@click.argument("org")
@click.option(
    "--auth-url",
    is_flag=True,
    help="Print Xero's consent link for ORG (PKCE; valid 10 minutes) and stop; with --json "
    "the keys are url, state and expires_at. Complete it with --redirect-url.",
)
@click.option(
    "--redirect-url",
    metavar="URL",
    help="Complete a consent: the whole address the browser ended on after Xero's consent "
    "page (it carries code and state).",
)
@click.option(
    "--listen",
    is_flag=True,
    help="Print the consent link, then wait for the browser on the redirect URI's port on "
    "127.0.0.1 (forward it with `ssh -L PORT:localhost:PORT` when the browser is elsewhere) "
    "and complete the reconnect.",
)
@click.option(
    "--wait",
    type=click.FloatRange(min=1, max=3600),
    default=LISTEN_SECONDS,
    show_default=True,
    help="With --listen: how many seconds to wait for the browser.",
)
@click.option("--tenant-id", help="The Xero organisation to connect (default: the previous one).")
@click.option(
    "--restore",
    "restore_id",
    type=int,
    metavar="SNAPSHOT",
    help="Restore this snapshot (default: the latest, for an uninstalled one).",
)
@click.option("--no-restore", is_flag=True, help="Do not restore any snapshot.")
@click.option(
    "--accept-new-tenant",
    is_flag=True,
    help="Allow a Xero organisation different from the previous one.",
)
@actor_option
@click.option(
    "--expect-version",
    type=int,
    help="Refuse if the integration's version is not this one (someone changed it since).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def reconnect_cmd(
    obj: Context,
    org: str,
    auth_url: bool,
    redirect_url: str | None,
    listen: bool,
    wait: float,
    tenant_id: str | None,
    restore_id: int | None,
    no_restore: bool,
    accept_new_tenant: bool,
    actor: str,
    expect_version: int | None,
    as_json: bool,
) -> None:
    """uninstalled | disconnected -> active: authorise, restore, validate every mapping.

    \b
    The embedded sandbox gives its consent itself. The real Xero needs a person:
      syncdesk reconnect ORG --auth-url          print the consent link
      syncdesk reconnect ORG --redirect-url URL  complete it with the address the
                                                 browser ended on
      syncdesk reconnect ORG --listen            both, catching the browser's redirect
                                                 on the redirect URI's port
    """
    if sum((auth_url, redirect_url is not None, listen)) > 1:
        raise click.UsageError("Choose one of --auth-url, --redirect-url and --listen.")
    if restore_id is not None and no_restore:
        raise click.UsageError("Choose one of --restore and --no-restore.")
    if auth_url:
        link = start_consent(obj.db, org, actor=actor)
        if as_json:
            print_json({"url": link.url, "state": link.state, "expires_at": link.expires_at})
            return
        _say_link(link)
        click.echo(
            f"Then run: syncdesk reconnect {link.code} --redirect-url 'ADDRESS THE BROWSER "
            "ENDED ON'"
        )
        return
    if listen:
        from store.xero.callback import wait_for_redirect

        link = start_consent(obj.db, org, actor=actor)
        _say_link(link, err=as_json)
        redirect_url = wait_for_redirect(
            link.redirect_uri,
            timeout=wait,
            ready=lambda: click.echo(
                f"Waiting up to {wait:g} s for the browser at {link.redirect_uri} ...",
                err=True,
            ),
        )
        click.echo("Xero's answer arrived.", err=True)
    result = reconnect(
        obj.db,
        org,
        actor=actor,
        tenant_id=tenant_id,
        restore=restore_id,
        no_restore=no_restore,
        accept_new_tenant=accept_new_tenant,
        expected_version=expect_version,
        redirect_url=redirect_url,
    )
    _say_result(result, as_json)
