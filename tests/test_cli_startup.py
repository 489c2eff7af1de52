"""`syncdesk log` starts without the modules other commands need (issue 17: the CLI beats
grep), and every command is still there, from the module that registers it."""

from __future__ import annotations

import importlib
import subprocess
import sys

from tui.cli_base import COMMAND_MODULES, cli


def test_every_command_comes_from_the_module_the_list_names() -> None:
    for module in set(COMMAND_MODULES.values()):
        importlib.import_module(module)
    registered = {name: cmd.callback.__module__ for name, cmd in cli.commands.items()}
    assert registered == COMMAND_MODULES


def test_help_lists_every_command(capsys) -> None:
    from support import run_cli

    code, out, _ = run_cli(capsys, "--help")
    assert code == 0
    assert set(cli.list_commands(None)) == set(COMMAND_MODULES)  # type: ignore[arg-type]


def test_log_loads_neither_xero_nor_the_generator(store_path) -> None:
    script = (
        "import sys\n"
        "from tui.cli import main\n"
        "try:\n"
        f"    main(['--db', {str(store_path)!r}, 'log', '--search', 'xero', '--limit', '5'])\n"
        "finally:\n"
        "    heavy = [m for m in ('httpx', 'store.xero.client', 'store.generate', 'sqlite_utils', "
        "'store.importer', 'textual', 'yaml', 'rich', 'store.diagnose', 'store.transitions', "
        "'store.log_export', 'csv', 'store.models') if m in sys.modules]\n"
        "    print('HEAVY', heavy, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr, done.stderr
    assert done.stdout.count("\n") >= 5
