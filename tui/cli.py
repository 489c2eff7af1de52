"""The command line: `syncdesk` opens the console; every subcommand calls one store function.

Each command module registers its own commands on the group in cli_base, which imports a
module only when one of its commands runs (cli_base.COMMAND_MODULES); this module holds
`main`, the console script. Exit codes: 0 done, 1 refused or failed (any
SyncdeskError, one line on stderr), 2 usage.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Sequence

import click

from store.db import store_error
from store.errors import SyncdeskError
from store.redact import redact
from store.textsafe import visible
from tui.cli_base import COMMAND_MODULES, cli

__all__ = ["COMMAND_MODULES", "cli", "main"]  # the command modules load on first use


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: our errors become one line and exit code 1, never a traceback."""
    try:
        cli.main(args=argv, prog_name="syncdesk", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SyncdeskError as exc:
        # Messages quote outside text: never a credential, never a control character.
        click.echo(f"syncdesk: {visible(redact(str(exc)))}", err=True)
        sys.exit(1)
    except sqlite3.DatabaseError as exc:
        # StoreGroup names these with the store's path; this is for one raised outside it.
        click.echo(f"syncdesk: {store_error(exc)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `syncdesk log | head`: the reader went away; say nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:  # the output could not be written (a full disk, a dead terminal)
        click.echo(f"syncdesk: {os_error_words(exc)}", err=True)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush
        sys.exit(1)


def os_error_words(exc: OSError) -> str:
    """An operating-system failure as one line naming its cause (and its file, if any)."""
    why = exc.strerror or str(exc)
    if exc.filename is None:
        return f"could not write the output: {why}; what was written before it is incomplete."
    return f"{why}: {visible(str(exc.filename))}"
