"""Commands that build and read the store: init, orgs, show, log, errors.

Each calls one store function (store.generate, store.orgs, store.logs), the same the console
calls.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from itertools import chain
from typing import Any

import click

from store.logs import LEVEL_CHOICES, LogQuery, page_log, resolve_since
from store.models_log import LogEntry, to_json
from store.schema import STATES
from store.textsafe import dumps, visible
from store.timeparse import age, unreadable_time, when
from store.words import plural
from tui.cli_base import (
    Context,
    cli,
    pass_ctx,
    print_json,
    print_json_chunks,
    print_json_list,
    print_table,
    progress_printer,
    report_unreadable,
    say,
    terminal_width,
)

TABLE_ROWS = 50  # `log` without --json or --csv shows this many rows unless --limit says


@cli.command()
@click.option("--force", is_flag=True, help="Replace an existing store.")
@click.option("--empty", is_flag=True, help="Schema and knowledge base only, no organisations.")
@click.option(
    "--orgs",
    "n_orgs",
    type=click.IntRange(min=1),
    help="Generate this many organisations instead of the sample ones.",
)
@click.option(
    "--log-rows",
    type=click.IntRange(min=0),
    help="Generate exactly this many connection-log rows over the last 7 days.",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed gives the same store.",
)
@pass_ctx
def init(
    obj: Context, force: bool, empty: bool, n_orgs: int | None, log_rows: int | None, seed: int
) -> None:
    """Build a store from the sample data, or a large one with --orgs/--log-rows.

    Refuses to overwrite an existing store without --force. The build happens in a temporary
    file that replaces the store only when complete; the previous store is kept beside it as
    NAME.STAMP.bak (the new one keeps its permissions).
    """
    if empty and (n_orgs or log_rows is not None):
        raise click.UsageError("--empty cannot be combined with --orgs or --log-rows.")
    obj.refuse_changes("init")
    from store.generate import build_store

    report = build_store(
        obj.path,
        force=force,
        empty=empty,
        orgs=n_orgs,
        log_rows=log_rows,
        seed=seed,
        progress=progress_printer(_build_stage),
    )
    click.echo(
        f"Built {report.path}: {report.orgs:,} organisations, {report.log_rows:,} log "
        f"rows in {report.seconds:.1f} s."
    )
    if report.extra.get("backup"):
        click.echo(f"The previous store is kept at {report.extra['backup']}.")


def _build_stage(stage: str, done: int, total: int) -> str:
    if stage == "indexes":
        return "building indexes and full-text search" if done < total else "indexes done"
    labels = {"orgs": "organisations", "log": "log rows"}
    return f"{labels.get(stage, stage)}: {done:,}/{total:,}"


@cli.command()
@click.option("--state", type=click.Choice(STATES), help="Only organisations in this state.")
@click.option("--search", help="Only those whose code, name or Xero tenant contains this text.")
@click.option(
    "--filter",
    "words",
    metavar="WORDS",
    help="Only those the console's dashboard filter finds: every word must match the code, "
    "name, tenant, state, auth health or a partial state ('expired', 'state:active "
    "auth:expiring', 'reconsent'); any case.",
)
@click.option(
    "--needs-reconsent",
    is_flag=True,
    help="Only those still on Xero's deprecated accounting.transactions scope: fresh consent "
    "is due before September 2027 (a campaign list).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")
@pass_ctx
def orgs(
    obj: Context,
    state: str | None,
    search: str | None,
    words: str | None,
    needs_reconsent: bool,
    as_json: bool,
) -> None:
    """List organisations: state, Xero tenant, errors in the last 24 h, last good export.

    An integration left inactive past its due time (`deactivate --until`), or 24 h without
    one, shows as "inactive OVERDUE"; in --json its `overdue` is true. JSON key
    needs_reconsent (true/false): still on Xero's deprecated broad scopes."""
    from store.orgs import find_orgs, list_orgs  # (each command imports what it needs: issue 17)

    found = list_orgs(
        obj.db, state=state, search=search, reconsent=True if needs_reconsent else None
    )
    unmatched: tuple[str, ...] = ()
    if words is not None:
        match = find_orgs(found, words)
        found, unmatched = match.orgs, match.unmatched
    bad = [
        f"{o.code} {what}"
        for o in found
        for what, flag in (
            (f"last export time {o.last_export_at!r}", unreadable_time(o.last_export_at)),
            ("refresh-token expiry", o.auth == "?"),
        )
        if flag
    ]
    if as_json:
        print_json(found)
        report_unreadable(bad)
        return
    print_table(
        ["CODE", "NAME", "STATE", "TENANT", "ERR 24H", "EXPORT"],
        [
            [
                o.code,
                o.name,
                (f"{o.state} OVERDUE" if o.overdue else o.state)
                + (" (reconsent)" if o.needs_reconsent else ""),
                o.tenant_name or "-",
                o.errors_24h,
                age(o.last_export_at) + (" ago" if age(o.last_export_at) not in "-?" else ""),
            ]
            for o in found
        ],
        flexible=(1, 3),
    )
    if not found:
        click.echo(nothing_matched(unmatched), err=True)
    report_unreadable(bad)


def nothing_matched(unmatched: tuple[str, ...]) -> str:
    """Why the list is empty: which filter words matched no organisation on their own."""
    if not unmatched:
        return "No organisations match."
    return (
        "No organisations match: nothing matches "
        + ", ".join(repr(visible(w)) for w in unmatched)
        + "."
    )


@cli.command()
@click.argument("org")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_ctx
def show(obj: Context, org: str, as_json: bool) -> None:
    """Show one organisation (ORG is its code): integration, settings, mappings, queue."""
    from store.badvalues import bad_settings
    from store.orgs import show_org

    detail = show_org(obj.db, org)
    bad = [f"{detail.code} setting {key!r} (not JSON)" for key in bad_settings(detail.settings)]
    if as_json:
        print_json(detail)
        report_unreadable(bad)
        return
    lines = [
        ("Organisation", f"{detail.code}  {detail.name} ({detail.region})"),
        (
            "State",
            f"{detail.state} since {detail.state_changed_at or '-'} "
            f"(by {detail.updated_by}, version {detail.version})",
        ),
        *(
            [
                (
                    "Paused",
                    f"by {detail.paused_by}: {detail.pause_reason or '(no reason given)'}; due "
                    f"back on {detail.pause_due_at or 'not said (overdue after 24 h)'}"
                    + ("  OVERDUE" if detail.overdue else ""),
                )
            ]
            if detail.paused_by
            else []
        ),
        ("Xero tenant", f"{detail.tenant_name or '-'}  {detail.tenant_id or ''}".rstrip()),
        (
            "Prior tenant",
            f"{detail.previous_tenant_name or '-'}"
            + ("  (DIFFERENT, change not confirmed)" if detail.unconfirmed_tenant_change else ""),
        ),
        ("Access token", f"expires {detail.token_expires_at or '-'}"),
        ("Refresh token", f"expires {detail.refresh_expires_at or '-'}"),
        ("Last export", f"{detail.last_export_at or 'never'}"),
        ("Errors in 24 h", str(detail.errors_24h)),
        ("Queue", "  ".join(f"{k} {v}" for k, v in detail.queue.items())),
    ]
    for label, value in lines:
        click.echo(f"{label + ':':16}{visible(value)}")
    click.echo("\nSettings:" + ("" if detail.settings else " none (removed by uninstall)"))
    for key, value in detail.settings.items():
        shown = value if key in bad_settings(detail.settings) else dumps(value)
        click.echo(f"  {visible(key):30} {visible(shown)}")
    click.echo("\nMappings:" + ("" if detail.mappings else " none (removed by uninstall)"))
    if detail.mappings:
        print_table(
            ["  KIND", "LOCAL", "XERO"],
            [["  " + m.kind, m.local, m.remote] for m in detail.mappings],
            flexible=(1,),
        )
    report_unreadable(bad)


@cli.command()
@click.argument("org", required=False)
@click.option("--level", type=click.Choice(LEVEL_CHOICES), default="all", show_default=True)
@click.option(
    "--search",
    help="Words that must all appear in the message, each a whole word, case-insensitive; "
    "identifiers such as invalid_grant, INV-0042 or 429 are found whole through the index. "
    "Text with no letters or digits (e.g. '[/]') is matched anywhere in the message (a scan).",
)
@click.option("--since", help="Only newer rows: a span (30m, 2h, 7d) or an ISO date/time (UTC).")
@click.option("--kind", help="Only this error kind (see `syncdesk errors`).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help=f"At most this many rows, the newest. Default: {TABLE_ROWS} in the table; with --json "
    "or --csv every matching row.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV with a header row.")
@pass_ctx
def log(
    obj: Context,
    org: str | None,
    level: str,
    search: str | None,
    since: str | None,
    kind: str | None,
    limit: int | None,
    as_json: bool,
    as_csv: bool,
) -> None:
    """The connection log, newest first: all organisations, or ORG's.

    The table shows the newest 50 rows (or --limit). --json and --csv export the whole filter
    (or the newest --limit rows) as it is read: memory stays flat however many rows match.
    """
    if as_json and as_csv:
        raise click.UsageError("Choose one of --json and --csv.")
    if as_csv:
        from tui.log_csv import LogCsvWriter  # the csv module: only for --csv
    query = LogQuery(org=org, level=level, search=search, since=resolve_since(since), kind=kind)
    if limit is None and (as_csv or as_json):  # the whole filter: one statement, plain tuples
        from store.log_export import stream_log_csv, stream_log_json  # (not for the table)

        if as_csv:  # SQLite writes a batch's text; Python checks it and writes it whole
            chunks = stream_log_csv(obj.db, query)  # refuses a bad filter before the header
            LogCsvWriter(sys.stdout).write_text(chunks)
        else:
            print_json_chunks(stream_log_json(obj.db, query))
        return
    if as_json or as_csv:
        entries = _log_entries(obj.db, query, limit)
        if as_json:
            print_json_list(entries)
        else:
            LogCsvWriter(sys.stdout).write(entries)
        return
    shown = page_log(obj.db, query, limit=limit or TABLE_ROWS).entries
    print_table(
        ["AT (UTC)", "LEVEL", "ORG", "MESSAGE"],
        [[when(e.at), e.level, e.org, e.message] for e in shown],
        flexible=(3,),
    )
    if not shown:
        click.echo("No log rows match.", err=True)


def _log_entries(db: Any, query: LogQuery, limit: int | None) -> Iterator[LogEntry]:
    """The newest `limit` rows, or every matching row a page at a time (keyset, constant memory).

    The first page is read before anything is printed, so a refused filter (an unknown
    organisation) prints nothing but the error.
    """
    if limit is not None:
        return iter(page_log(db, query, limit=limit).entries)
    from store.watch import walk_log

    pages = walk_log(db, query)
    first = next(pages, None)
    return chain.from_iterable(page.entries for page in chain([first] if first else [], pages))


@cli.command()
@click.argument("org", required=False)
@click.option("--since", help="Only errors newer than this: 30m, 2h, 7d or an ISO date/time.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")
@pass_ctx
def errors(obj: Context, org: str | None, since: str | None, as_json: bool) -> None:
    """Errors grouped by kind: count, organisations affected, first and last seen, and what
    the knowledge base says causes them and fixes them.

    In order of what decides: for one ORG the group behind its verdict first (marked
    "decides"; JSON key `decides`), then by severity (what blocks what: waits, connection,
    mappings, pauses, data), then count."""
    import textwrap

    from store.diagnose import deciding_groups  # the lifecycle modules: not for `log`

    groups, deciding = deciding_groups(obj.db, org, resolve_since(since))
    if as_json:
        print_json([{**to_json(g), "decides": g.kind == deciding} for g in groups])
        return
    if not groups:
        click.echo("No errors in this period.", err=True)
        return
    width = min(terminal_width(), 100)
    for g in groups:
        say(
            f"{g.kind}{' (decides)' if g.kind == deciding else ''}: "
            f"{plural(g.count, 'error')} in {plural(g.orgs, 'organisation')}, "
            f"{g.first_at} .. {g.last_at}"
        )
        for label, text in (("cause", g.cause), ("fix", g.fix)):
            if text:
                click.echo(
                    textwrap.fill(
                        visible(text),
                        width,
                        initial_indent=f"  {label}: ",
                        subsequent_indent="    ",
                    )
                )
        if g.action:
            step = g.refresh_fix_step
            click.echo(
                f"  what fixes it: {visible(g.action)}"
                + (f" (the refresh sequence's {visible(step)} step)" if step else "")
            )
        click.echo()
