"""Command-line commands that talk to Xero (check, retry); registered on the main group."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import click

from store.orgs import org_id
from store.textsafe import visible
from store.xero.models import CheckReport, RetryReport
from tui.cli_base import Context, cli, counter, pass_ctx, print_json, say


def _marks() -> tuple[str, str]:
    """✓/✗ where the terminal can show them, OK/FAIL where it cannot."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "OK  ", "FAIL"
    return "✓", "✗"


def _print_report(report: CheckReport) -> None:
    good, bad = _marks()
    width = max(len(f.check) for f in report.findings)
    for f in report.findings:
        detail = visible(f.detail)
        if bad == "FAIL":
            detail = detail.replace("→", "->")
        say(f"{good if f.ok else bad} {f.check.ljust(width)}  {detail}")
        if f.fix and not f.ok:
            click.echo(
                textwrap.fill(
                    visible(f.fix),
                    100,
                    initial_indent=" " * (width + 4) + "fix: ",
                    subsequent_indent=" " * (width + 9),
                )
            )


@cli.command()
@click.argument("org")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: a list of findings.")
@click.option(
    "--actor",
    default="check",
    show_default=True,
    help="Who is checking; recorded if the check finds Xero removed the app.",
)
@pass_ctx
def check(obj: Context, org: str, as_json: bool, actor: str) -> None:
    """Ask Xero, live, whether ORG's integration works: token, connection, tenant, every
    account and tax mapping against the tenant's chart, and the held/failed queue.

    Exit code 0 when every check passes, 1 when any fails. If Xero no longer has the
    connection, the integration is recorded as disconnected.
    """
    from store.checks import check as check_org  # httpx loads only when needed

    report = check_org(obj.db, org, actor=actor)
    if as_json:
        print_json(report)
    else:
        _print_report(report)
    if not report.healthy:
        problems = report.problems
        main = next((p for p in problems if p.check != "queue"), problems[0])
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        say(f"syncdesk: {report.org} is not healthy: {main.check}: {main.detail}{more}", err=True)
        raise SystemExit(1)


def _counts(counts: dict[str, int]) -> str:
    return visible("  ".join(f"{status} {n}" for status, n in counts.items()))


def _print_retry(report: RetryReport) -> None:
    click.echo(f"Before: {_counts(report.before)}")
    click.echo(f"Sent {report.sent}: {report.exported} exported, {report.failed} failed")
    for number, message in report.failures[:20]:
        click.echo(f"  {visible(number)}: {visible(message)}")
    if len(report.failures) > 20:
        click.echo(f"  ... and {len(report.failures) - 20} more (see `syncdesk log {report.org}`)")
    click.echo(f"After:  {_counts(report.after)}")


@cli.command()
@click.argument("org")
@click.option("--actor", default=None, help="Who is retrying (written in the connection log).")
@pass_ctx
def retry(obj: Context, org: str, actor: str | None) -> None:
    """Send ORG's held and failed exports to Xero again, and show the queue before and after.

    Progress goes to stderr. Exit code 0 when everything sent was exported, 1 when something
    failed or the run had to stop (the reason is printed on stderr).
    """
    org_id(obj.db, org)  # an unknown organisation fails before anything else
    from store.checks import retry as retry_org
    from store.xero.config import client_from_env  # httpx loads only when needed

    client = client_from_env(obj.db)
    client.on_wait = lambda seconds, why: click.echo(
        f"waiting {seconds:.3g} s: {visible(why)}", err=True
    )
    with client:
        report = retry_org(obj.db, org, client=client, progress=counter("sent"), actor=actor)
    _print_retry(report)
    if report.stopped_reason:
        click.echo(f"syncdesk: stopped: {visible(report.stopped_reason)}", err=True)
        raise SystemExit(1)
    if report.failed:
        click.echo(
            f"syncdesk: {report.failed} export{'s' if report.failed != 1 else ''} still "
            f"failing; fix the causes (`syncdesk check {report.org}`) and retry.",
            err=True,
        )
        raise SystemExit(1)


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (keys in the README).")
def config_cmd(as_json: bool) -> None:
    """Show which Xero syncdesk talks to (the embedded sandbox or the real one), its URLs,
    scopes, timeout and where each value came from; the client secret is masked.

    Exit code 1 when the configuration is partial or invalid (every command that talks to
    Xero then refuses); the problems are listed.
    """
    from store.xero.config import KEYS, load_settings

    settings = load_settings()
    shown = settings.describe()
    warning = settings.secret_exposure()
    if warning:
        say(f"syncdesk: {warning}", err=True)
    if as_json:
        print_json(shown)
    else:
        mode = "sandbox (embedded; nothing configured)" if settings.sandbox else "real"
        click.echo(f"Xero: {mode}")
        exists = "" if Path(settings.config_file).exists() else " (not found)"
        click.echo(f"config file: {visible(settings.config_file)}{exists}")
        width = max(len(k) for k in KEYS)
        for key in KEYS:
            value = shown[key]
            text = "-" if value is None else str(value)
            say(f"  {key.ljust(width)}  {text}  [{shown['sources'][key]}]")
        for problem in settings.problems:
            say(f"  ✗ {problem}")
    if settings.problems:
        say(
            f"syncdesk: the Xero configuration is not usable: {settings.problems[0]}"
            + (f" (and {len(settings.problems) - 1} more)" if len(settings.problems) > 1 else ""),
            err=True,
        )
        raise SystemExit(1)
