"""Commands that bring a team's own data in: ingest (connection logs), kb (the knowledge base
and what it does not explain) and import (organisations, sandbox, knowledge base).

Each calls one store function (store.ingest, store.kb_stats, store.importer).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from store.importer import ImportReport, import_files
from store.ingest import IngestReport, ingest_file
from store.ingest_rows import FORMATS, Reject
from store.kb_stats import knowledge_use, unmatched
from store.logs import resolve_since
from store.models import to_json
from store.timeparse import when
from store.transitions import default_actor
from tui.cli_base import Context, cli, pass_ctx, print_json, print_table
from tui.safe import visible

STDERR_REJECTS = 50  # rejects shown on stderr when the rest are in FILE.rejects


@cli.command()
@click.argument(
    "file", default="-", metavar="[FILE|-]", type=click.Path(allow_dash=True, dir_okay=False)
)
@click.option(
    "--source",
    help="The name that keeps this stream's row ids apart from other streams' (default: the "
    "file's name; required when reading standard input).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    help="jsonl: one JSON object a line (a JSON list, as `log --json` prints, is read too); "
    "csv: a header row, then rows, as `log --csv` writes. Default: csv for a .csv file, else "
    "jsonl.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="After the file as it stands, follow it as `tail -F` does (rotation and truncation "
    "too), committing at least every half second; ctrl+c stops after committing what was read.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_ctx
def ingest(
    obj: Context, file: str, source: str | None, fmt: str | None, follow: bool, as_json: bool
) -> None:
    """Add connection-log rows from FILE (or standard input: -) to the store.

    \b
    Rows have the keys of `syncdesk log --json`: at, org, level, document, message,
    correlation_id and optionally id, so one store's `log --json` goes into another.
    Each row is classified by the knowledge base on the way in; error groups stay current.

    \b
    Duplicates are skipped: a row with an id is known by (--source, id), one without by a
    hash of its fields, so ingesting a file again (or after a kill) adds nothing twice.

    \b
    Order: each input is sorted by `at`. Rows at or after the store's newest row are
    appended; rows at or before its oldest row go in below it (history older than anything
    in the store). A new row strictly between the two is rejected, never shown out of time
    order: files covering different periods go in in any order; streams that overlap in
    time must be merged into one input first.

    \b
    Rejected lines (unknown organisation, bad time or level, a future time, not JSON, out
    of order) are named by line number on stderr and written to FILE.rejects (one JSON
    object a line: line, reason, text); the good rows go in either way.

    Exit status: 0 when nothing was rejected, 1 when some lines were (or the file or store
    could not be used).
    """
    path = None if file == "-" else Path(file)
    if path is None and not source:
        raise click.UsageError(
            "Reading standard input needs --source NAME: the name that keeps this stream's "
            "row ids apart from another's."
        )
    if source is not None and not source.strip():
        raise click.UsageError("--source must not be empty.")
    fmt = fmt or ("csv" if path is not None and path.suffix.lower() == ".csv" else "jsonl")
    progress = _progress() if sys.stderr.isatty() else None
    shown = _RejectPrinter(file, capped=path is not None, clear=progress is not None)
    stop = threading.Event()
    with _stopped_by_signals(stop, enabled=follow):
        report, rejects = ingest_file(
            obj.db,
            path,
            source=source or (path.name if path else "-"),
            fmt=fmt,
            stream=sys.stdin.buffer if path is None else None,
            follow_file=follow,
            stop=stop,
            on_reject=shown,
            progress=progress,
        )
    if progress is not None:
        click.echo("\r\x1b[K", nl=False, err=True)
    shown.finish(report)
    if rejects is not None and rejects.problem:
        click.echo(f"syncdesk: {rejects.problem}; the rejects above are all there is.", err=True)
    if as_json:
        print_json(to_json(report))
    else:
        click.echo(_summary(file, report))
    if report.rejected:
        raise SystemExit(1)


@cli.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")
@click.pass_context
def kb(ctx: click.Context, as_json: bool) -> None:
    """The knowledge base: every entry, in match order, with the log rows it explained in
    the last 7 days. `kb unmatched` lists the errors no entry explains.

    With --json, each entry's fields (kind, title, pattern, level, category, cause, fix,
    refresh_step, action, retryable, example) and matched_7d.
    """
    if ctx.invoked_subcommand is not None:
        return
    obj: Context = ctx.obj
    used = knowledge_use(obj.db, since=resolve_since("7d"))
    if as_json:
        print_json([to_json(u) for u in used])
        return
    print_table(
        ["KIND", "LEVEL", "7 DAYS", "TITLE"],
        [[u.entry.kind, u.entry.level, f"{u.matched:,}", u.entry.title] for u in used],
        flexible=(3,),
    )
    if not used:
        click.echo("The knowledge base is empty; `syncdesk import` brings entries in.", err=True)


@kb.command("unmatched")
@click.option(
    "--since",
    default="7d",
    show_default=True,
    help="Only errors newer than this: 30m, 2h, 7d or an ISO date/time (UTC).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")
@pass_ctx
def kb_unmatched(obj: Context, since: str, as_json: bool) -> None:
    """The most frequent error messages no knowledge-base entry explains, grouped by shape
    (ids, e-mail addresses and numbers masked): which entry to write next.

    JSON keys: shape, example (the latest message), count, orgs (how many organisations),
    first_at, last_at.
    """
    shapes = unmatched(obj.db, since=resolve_since(since))
    if as_json:
        print_json([to_json(s) for s in shapes])
        return
    if not shapes:
        click.echo("Every error in this period is explained by the knowledge base.", err=True)
        return
    print_table(
        ["COUNT", "ORGS", "LAST SEEN", "SHAPE"],
        [[f"{s.count:,}", s.orgs, when(s.last_at), s.shape] for s in shapes],
        flexible=(3,),
    )


@cli.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Say what would be added, changed and left alone.")
@click.option(
    "--actor",
    default=default_actor,
    show_default="your login name",
    help="Who is importing: recorded in the audit trail.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as one JSON object.")
@pass_ctx
def import_(obj: Context, files: tuple[str, ...], dry_run: bool, actor: str, as_json: bool) -> None:
    """Bring in organisations, sandbox tenants and the knowledge base from FILES.

    \b
    Files have the keys of sample_data/: orgs (orgs.yaml), tenants and charts (xero.yaml),
    errors (knowledge_base.yaml); YAML, or JSON with the same keys (a *.json file). They
    are checked as `init` checks the sample data: a problem names the file, the line and
    the key, and a set of files with any problem imports nothing (one transaction).

    \b
    Organisations are matched by code: a new one is added (on a sandbox tenant exactly as
    `init` builds it); a changed one gets the file's state, tenant, settings and mappings,
    its version goes up and an audit row names what changed (replaced settings and mappings
    are snapshotted first). An organisation on real Xero names its Xero organisation with
    xero: {tenant_id, tenant_name}; tokens are never read from a file, so it authorises by
    the customer's consent (`syncdesk reconnect`). A knowledge-base file replaces the
    knowledge base, and every log row is classified again.
    """
    report = import_files(obj.db, [Path(f) for f in files], actor=actor, dry_run=dry_run)
    if as_json:
        print_json(to_json(report))
        return
    for line in _import_lines(report):
        click.echo(line)


def _import_lines(report: ImportReport) -> list[str]:
    plan = to_json(report)
    head = "Dry run, nothing changed; importing would do this:" if report.dry_run else "Imported:"
    orgs = plan["orgs"]
    lines = [
        head,
        "  organisations: "
        + "; ".join(
            [
                f"added {len(orgs['added'])}{_names(orgs['added'])}",
                f"changed {len(orgs['changed'])}"
                + _names([f"{c['code']}: {', '.join(c['fields'])}" for c in orgs["changed"]]),
                f"left alone {len(orgs['unchanged'])}",
            ]
        ),
    ]
    tenants = plan["tenants"]
    if any(tenants.values()):
        lines.append(
            "  sandbox tenants: "
            + "; ".join(
                f"{label} {len(tenants[key])}{_names([t['name'] for t in tenants[key]])}"
                for key, label in (("added", "added"), ("changed", "changed"))
            )
            + f"; left alone {len(tenants['unchanged'])}"
        )
    kb = plan["knowledge"]
    if kb is not None:
        line = "  knowledge base: " + "; ".join(
            f"{key} {len(kb[key])}{_names(kb[key])}" for key in ("added", "changed", "removed")
        )
        line += f"; left alone {len(kb['unchanged'])}"
        if report.reclassified is not None:
            line += f"; {report.reclassified:,} log rows classified again"
        lines.append(line)
    return lines


def _names(items: list[str], most: int = 8) -> str:
    if not items:
        return ""
    shown = ", ".join(visible(i) for i in items[:most])
    return f" ({shown}{', …' if len(items) > most else ''})"


def _summary(file: str, report: IngestReport) -> str:
    text = (
        f"Ingested {visible(file)}: read {report.read:,}, added {report.added:,}, skipped "
        f"{report.skipped:,}, rejected {report.rejected:,} in {report.seconds:.1f} s "
        f"({report.rows_per_s:,.0f} rows/s)"
    )
    if report.rejects_file:
        text += f"; rejected lines are in {visible(report.rejects_file)}"
    return text + "."


class _RejectPrinter:
    """Prints each reject as FILE:LINE: reason on stderr (the first STDERR_REJECTS of them
    when the rest go to FILE.rejects)."""

    def __init__(self, name: str, *, capped: bool, clear: bool) -> None:
        self.name = visible(name)
        self.capped = capped
        self.clear = "\r\x1b[K" if clear else ""  # over the progress line, on a terminal
        self.count = 0

    def __call__(self, reject: Reject) -> None:
        self.count += 1
        if not self.capped or self.count <= STDERR_REJECTS:
            line = f"{self.name}:{reject.line}: {visible(reject.reason)}"
            click.echo(self.clear + line, err=True)

    def finish(self, report: IngestReport) -> None:
        hidden = self.count - STDERR_REJECTS
        if self.capped and hidden > 0:
            where = report.rejects_file or "FILE.rejects"
            click.echo(
                f"... and {hidden:,} more rejected lines (all in {visible(where)}).", err=True
            )


def _progress() -> Callable[[IngestReport], None]:
    """Progress on the terminal (stderr), redrawn in place at most five times a second."""
    last = [0.0]

    def show(report: IngestReport) -> None:
        now = time.monotonic()
        if now - last[0] < 0.2:
            return
        last[0] = now
        click.echo(
            f"\r\x1b[Kread {report.read:,} · added {report.added:,} · skipped "
            f"{report.skipped:,} · rejected {report.rejected:,} · {report.rows_per_s:,.0f} rows/s",
            nl=False,
            err=True,
        )

    return show


@contextmanager
def _stopped_by_signals(stop: threading.Event, *, enabled: bool) -> Iterator[None]:
    """While following, ctrl+c (and SIGTERM) set `stop` instead of interrupting mid-write."""
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in saved:
        signal.signal(sig, lambda _sig, _frame: stop.set())
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
