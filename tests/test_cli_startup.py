"""`syncdesk log` starts without the modules other commands need (issue 17: the CLI beats
grep), and every command is still there, from the module that registers it."""

from __future__ import annotations

import ast
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


def _loaded_by_log(store_path, names: tuple[str, ...], *args: str) -> list[str]:
    """Which of `names` `syncdesk --db STORE log ARGS` (which must print at least one row)
    imports in a fresh Python: not counting what Python's start-up (`site`, .pth files) loaded
    before it, which depends on how syncdesk was installed."""
    script = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "from tui.cli import main\n"
        "try:\n"
        f"    main(['--db', {str(store_path)!r}, 'log', *{list(args)!r}])\n"
        "finally:\n"
        f"    loaded = [m for m in {names!r} if m in sys.modules and m not in before]\n"
        "    print('LOADED', loaded, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") >= 2, done.stdout
    line = next(x for x in done.stderr.splitlines() if x.startswith("LOADED "))
    return ast.literal_eval(line.removeprefix("LOADED "))


def test_log_loads_neither_xero_nor_the_generator(store_path) -> None:
    heavy = (
        "httpx", "store.xero.client", "store.generate", "sqlite_utils", "store.importer",
        "textual", "yaml", "rich", "store.diagnose", "store.transitions", "store.log_export",
        "csv",
    )  # fmt: skip
    assert _loaded_by_log(store_path, heavy, "--search", "xero", "--limit", "5") == []


# What `log --search W --limit N` (the table) no longer imports, and why each was there:
# store.models: ~20 frozen dataclasses for other commands (the log's are in store.models_log);
# store.orgs, store.kb, store.badvalues, store.watch: other commands', or writing the log;
# shutil (with zlib, bz2, lzma): the terminal's width; json: only JSON output; textwrap: errors;
# pathlib (with urllib.parse): a store given by --db opens by its path's text (store.paths).
NOT_FOR_THE_LOG_TABLE = (
    "store.models", "store.orgs", "store.kb", "store.badvalues", "store.watch", "shutil",
    "json", "textwrap", "pathlib", "urllib.parse",
)  # fmt: skip


def test_the_log_table_loads_only_what_it_uses(store_path) -> None:
    for args in (("--search", "xero", "--limit", "5"), ("--level", "error")):
        assert _loaded_by_log(store_path, NOT_FOR_THE_LOG_TABLE, *args) == [], args
