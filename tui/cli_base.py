"""What every command shares: the `syncdesk` group (bare, it opens the console), the context
that opens the store, and the output helpers (tables that fit the terminal, JSON).

The command modules (cli_store, cli_lifecycle, cli_xero, cli_serve) register their commands on
`cli` here; tui/cli.py assembles them and holds `main`.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import click

from store.db import open_store, read_only_reason, set_read_only, store_error
from store.errors import StoreExists, StoreMissing, StoreReadOnly
from store.models_log import to_json
from store.paths import default_db_path, path_text
from store.textsafe import dumps, visible

if TYPE_CHECKING:
    from pathlib import Path

# Commands a read-only session may run ("" is the console, which hides its actions itself).
READ_COMMANDS = frozenset(
    {"", "orgs", "show", "log", "errors", "snapshots", "audit", "run show", "serve"}
)


class Context:
    """What every command needs: the store path, opened on first use, and whether this
    session may change it."""

    def __init__(self, db_path: str | None, *, read_only: bool = False) -> None:
        self.explicit = db_path is not None
        # The store's path as text (as pathlib names it); `path` makes the Path on first use:
        # a command given --db (`log`) opens the store without importing pathlib (issue 17).
        self.path_text = path_text(db_path) if db_path else str(default_db_path())
        self._path: Path | None = None
        self._db = None
        set_read_only("--read-only" if read_only else None)  # for every store opened here

    @property
    def path(self) -> Path:
        if self._path is None:
            from pathlib import Path

            self._path = Path(self.path_text)
        return self._path

    @property
    def read_only(self) -> str | None:
        """Why this session may not change the store (--read-only, or the file system's
        permissions), or None."""
        return read_only_reason(self.path_text)

    @property
    def db(self) -> Any:
        if self._db is None:
            self.refuse_changes()
            self._db = self.open()
        return self._db

    def refuse_changes(self, command: str | None = None) -> None:
        """Raise StoreReadOnly, naming the cause, when the session is read-only and the
        command running (by default the current click command) changes the store."""
        reason = self.read_only
        if reason is None:
            return
        if command is None:
            current = click.get_current_context(silent=True)
            command = " ".join(current.command_path.split()[1:]) if current else ""
        if command in READ_COMMANDS:
            return
        advice = (
            "run it without --read-only"
            if reason == "--read-only"
            else "ask a member of the store's group to do it"
        )
        raise StoreReadOnly(
            f"`syncdesk {command}` would change {self.path}, and this session is read-only "
            f"({reason}); {advice}."
        )

    def open(self) -> Any:
        """Open the store (warning on stderr when every user can read it); the default one is
        built from the sample data on first use."""
        try:
            db = open_store(self.path_text)
        except StoreMissing:
            if self.explicit or self.read_only:
                raise
            from store.generate import build_store  # yaml and the generator: first use only

            click.echo(f"Creating the demo store at {self.path} ...", err=True)
            try:
                build_store(self.path)
            except StoreExists:
                pass  # another session built it while this one waited for the build lock
            db = open_store(self.path_text)
        from store.storefile import exposure_warning  # (secrets, tempfile: not at start-up)

        warning = exposure_warning(self.path_text)
        if warning:
            click.echo(f"syncdesk: {visible(warning)}", err=True)
        return db


pass_ctx = click.make_pass_decorator(Context)


# The module that registers each command, imported when the command is asked for: `syncdesk
# log` loads tui/cli_store.py alone, not the Xero client (httpx), the generator or the importer
# (start-up 0.22-0.3 s -> see docs/benchmarks.md). tests/test_cli_startup.py checks the list.
COMMAND_MODULES = {
    **dict.fromkeys(("init", "orgs", "show", "log", "errors"), "tui.cli_store"),
    **dict.fromkeys(
        ("deactivate", "activate", "uninstall", "snapshots", "audit", "diagnose", "map"),
        "tui.cli_lifecycle",
    ),
    "reconnect": "tui.cli_reconnect",
    "run": "tui.cli_runs",
    **dict.fromkeys(("check", "retry", "config"), "tui.cli_xero"),
    "serve": "tui.cli_serve",
    "sandbox": "tui.cli_sandbox",
    **dict.fromkeys(("ingest", "kb", "import"), "tui.cli_data"),
}


class StoreGroup(click.Group):
    """The group that names any sqlite3 error a command lets through for what it is (busy,
    read-only, full, I/O, a bad value, damage SQLite confirms), with the store's path; and
    loads a command's module only when that command runs (or help lists them all)."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if cmd_name not in self.commands and module is not None:
            importlib.import_module(module)  # its @cli.command() registers it
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except sqlite3.DatabaseError as exc:
            path = ctx.obj.path if isinstance(ctx.obj, Context) else None
            raise store_error(exc, path) from exc


def terminal_width() -> int:
    """The terminal's columns ($COLUMNS first, as shutil.get_terminal_size reads them); 80 when
    the output is not a terminal. (shutil itself would load zlib, bz2 and lzma at start-up.)"""
    if not sys.stdout.isatty():
        return 80
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns or 80
    except (OSError, ValueError):
        return 80


def print_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], flexible: Sequence[int] = ()
) -> None:
    """Columns padded to their widest cell; flexible columns shrink (with …) to fit the width."""
    cells = [[visible(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    over = sum(widths) + 2 * (len(widths) - 1) - terminal_width()
    while over > 0:  # take a character at a time from the widest flexible column
        shrinkable = [i for i in flexible if widths[i] > max(8, len(headers[i]))]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
        over -= 1

    def fit(text: str, width: int) -> str:
        return text if len(text) <= width else text[: max(0, width - 1)] + "…"

    click.echo("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(fit(c, w).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def progress_printer(describe: Callable[[str, int, int], str]) -> Callable[[str, int, int], None]:
    """A progress callback (stage, done, total) for a long command: describe(...) on stderr
    about every tenth of each stage, and at its end."""
    last: dict[str, int] = {}

    def show(stage: str, done: int, total: int) -> None:
        step = max(1, total // 10)
        if done < total and done - last.get(stage, -step) < step:
            return
        last[stage] = done
        click.echo(describe(stage, done, total), err=True)

    return show


def counter(label: str) -> Callable[[int, int, str], None]:
    """A store progress callback (done, total, doing: store/progress.py) printing
    'label done/total' as progress_printer does, from the first item done."""
    show = progress_printer(lambda _stage, done, total: f"{label} {done}/{total}")

    def count(done: int, total: int, doing: str = "") -> None:
        if done:
            show("", done, total)

    return count


def say(text: str, *, err: bool = False) -> None:
    """Print text that quotes outside text (names, messages, actors) with it made visible."""
    click.echo(visible(text), err=err)


def report_unreadable(bad: Sequence[str]) -> None:
    """After a read printed what it could: one line naming the stored values it could not read
    (marked ⚠ or ? above), and exit code 1; nothing when there are none."""
    if bad:
        click.echo(
            visible(
                f"syncdesk: unreadable values in the store, marked above: {'; '.join(bad)}; "
                "everything else was read. Correct them in the store."
            ),
            err=True,
        )
        raise SystemExit(1)


def print_json(value: Any) -> None:
    """JSON with letters readable and every control, bidi or zero-width character escaped."""
    click.echo(dumps(to_json(value), indent=2))


def print_json_list(items: Iterable[Any]) -> None:
    """A JSON list written an item at a time (a stream of any length), as print_json writes one."""
    # dumps leaves no raw newline (or control) inside strings: indenting every line is safe.
    print_json_chunks(dumps(to_json(item), indent=2).replace("\n", "\n  ") for item in items)


def print_json_chunks(chunks: Iterable[str]) -> None:
    """A JSON list of objects given as text, indented as list items, several to a chunk joined
    by ",\\n  " (store.log_export.stream_log_json): what print_json_list writes."""
    out = sys.stdout
    opening = "["
    for chunk in chunks:
        out.write(f"{opening}\n  " + chunk)
        opening = ","
    out.write("[]\n" if opening == "[" else "\n]\n")


@click.group(
    cls=StoreGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--db",
    "db_path",
    envvar="SYNCDESK_DB",
    type=click.Path(),
    help="The store to use (env SYNCDESK_DB). Default: syncdesk.db in the user data "
    "directory, created from the sample data on first use.",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Look, never change: open the store read-only; commands that change it refuse, and "
    "the console hides its actions. Automatic when the file system does not let you write "
    "the store or its directory (see the README's 'Shared support host').",
)
@click.option("--theme", type=click.Choice(["dark", "light"]), help="The console's colours.")
@click.option(
    "--no-mouse", is_flag=True, help="Do not capture the mouse (less traffic over slow SSH links)."
)
@click.version_option(package_name="syncdesk")
@click.pass_context
def cli(
    ctx: click.Context, db_path: str | None, read_only: bool, theme: str | None, no_mouse: bool
) -> None:
    """Diagnose and repair customers' Xero integrations.

    With no command, opens the full-screen console on the store.

    \b
    Every action of the console is also a command here, on the same store:
      init        build a store (demo sample data, empty, or a large generated one)
      orgs        organisations with state, tenant, errors in 24 h, last export
      show        one organisation: state, tenant, settings, mappings, queue
      log         the connection log, newest first, filtered and searchable
      errors      errors grouped by kind, with the knowledge base's cause and fix
      check       live health check against Xero (exit 1 when unhealthy)
      retry       send held and failed exports again
      diagnose    state + live check + error groups -> verdict and next step
      deactivate / activate / uninstall / reconnect   the integration's lifecycle
                  (reconnect --auth-url / --redirect-url / --listen: consent for
                  the real Xero)
      config      which Xero is in use (sandbox or real), from where; secrets masked
      map         fix one mapping, checked against the tenant's chart
      snapshots   what each uninstall removed (restorable)
      audit       who changed what, when
      run         the refresh sequence as a recorded run: start, show, next, note,
                  resolve, escalate
      serve       the console in a browser (textual-serve), on loopback by default
      sandbox serve  the store's Xero sandbox over HTTP, for SDKs and developers
      import      organisations, sandbox tenants and the knowledge base from files
      ingest      connection-log rows from a file (or following one, like tail -F)
      kb          the knowledge base and what it explains; `kb unmatched`: what it does not

    Exit codes: 0 done, 1 refused or failed (one line on stderr), 2 usage error.

    SYNCDESK_NOW=2026-11-24T12:00:00Z starts the clock at that instant (tests, demos of a
    store as of the day it was built); every window (--since, 24 h, 7 days) counts from it.
    """
    ctx.obj = Context(db_path, read_only=read_only)
    if ctx.invoked_subcommand is None:
        from tui.app import SyncdeskApp  # Textual loads only when the console is wanted

        ctx.obj.db  # noqa: B018 - open (or create) now, so a bad store fails before the screen
        themes = {"dark": "textual-dark", "light": "textual-light"}
        app = SyncdeskApp(
            ctx.obj.path, theme=themes.get(theme or ""), read_only=ctx.obj.read_only is not None
        )
        app.run(mouse=not no_mouse)


def _login() -> str:
    from store.transitions import default_actor

    return default_actor()


actor_option = click.option(
    "--actor",
    default=_login,
    show_default="your login name",
    help="Who is doing this (recorded in the audit trail and the run).",
)
