"""Read-only sessions: --read-only, or a file system that does not let the user write the store.

The store opens with SQLite's mode=ro (immutable=1 when no session has it open and the reader
may not create its -wal and -shm); reading commands work, every changing command refuses with
one line naming the cause, and the console is told. The file-system cases run for real: as
root, the reader is the `nobody` user (with a system Python of this version); otherwise the
store and its directory lose their write permission.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import one_line, run_cli

from store.db import open_store

ROOT = Path(__file__).resolve().parents[1]
CHANGING = [
    ("deactivate", "TASMAN"),
    ("activate", "KELP"),
    ("uninstall", "KAURI", "--confirm", "KAURI"),
    ("map", "KAURI", "sales_account", "default", "200"),
    ("retry", "KAURI"),
    ("check", "HARBOUR"),
    ("diagnose", "HARBOUR"),
    ("run", "start", "KAURI"),
    ("init", "--force"),
]
READING = [("orgs",), ("show", "KAURI"), ("log", "KAURI", "--limit", "3"), ("errors",), ("audit",)]


def state(path: Path, code: str) -> str:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT state FROM integrations JOIN orgs ON orgs.id = org_id WHERE code = ?", [code]
        ).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("args", CHANGING, ids=lambda a: a[0] if len(a) < 3 else " ".join(a[:2]))
def test_read_only_refuses_every_change(capsys, store_path: Path, args) -> None:
    before = store_path.stat().st_mtime_ns
    code, out, err = run_cli(capsys, "--db", str(store_path), "--read-only", *args)
    assert code == 1 and out == ""
    line = one_line(err)
    assert "this session is read-only (--read-only)" in line and "without --read-only" in line
    assert store_path.stat().st_mtime_ns == before and state(store_path, "TASMAN") == "active"


@pytest.mark.parametrize("args", READING, ids=lambda a: a[0])
def test_read_only_reads(capsys, store_path: Path, args) -> None:
    code, out, err = run_cli(capsys, "--db", str(store_path), "--read-only", *args)
    assert code == 0 and out and err == "", err


def test_read_only_connections_cannot_write(store_path: Path) -> None:
    db = open_store(store_path, read_only=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        db.execute("UPDATE orgs SET name = 'x'")


def test_help_mentions_read_only(capsys) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "--read-only" in out and "Shared support host" in out


def test_the_console_is_told(capsys, store_path: Path, monkeypatch) -> None:
    from tui.app import SyncdeskApp

    seen: list[bool] = []
    monkeypatch.setattr(SyncdeskApp, "run", lambda self, **_: seen.append(self.read_only))
    run_cli(capsys, "--db", str(store_path), "--read-only")
    run_cli(capsys, "--db", str(store_path))
    assert seen == [True, False]


# --- the file system decides ---------------------------------------------------------------


def _reader_python() -> str | None:
    """A Python of this version that the `nobody` user can run (the venv's may be under /root)."""
    name = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{name}", f"/usr/local/bin/{name}"):
        if os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture
def shared(demo_template: Path) -> Iterator[tuple[Path, list[str]]]:
    """A store in a directory the reader cannot write, and the command that runs syncdesk as
    that reader."""
    home = Path(tempfile.mkdtemp(prefix="syncdesk-shared-"))
    path = home / "syncdesk.db"
    shutil.copy(demo_template, path)
    env = ["env", f"SYNCDESK_NOW={os.environ['SYNCDESK_NOW']}", f"HOME={home}"]
    if os.geteuid() == 0:
        python = _reader_python()
        if python is None or shutil.which("runuser") is None:
            shutil.rmtree(home)
            pytest.skip("running as root without runuser or a system Python for `nobody`")
        paths = [str(ROOT), sysconfig.get_paths()["purelib"]]
        home.chmod(0o755)
        path.chmod(0o644)
        command = ["runuser", "-u", "nobody", "--", *env, f"PYTHONPATH={os.pathsep.join(paths)}"]
        command += [python, "-m", "tui", "--db", str(path)]
        probe = subprocess.run([*command, "--version"], capture_output=True, text=True)
        if probe.returncode != 0:
            shutil.rmtree(home)
            pytest.skip(f"`nobody` cannot run syncdesk here: {probe.stderr.strip()[-200:]}")
    else:
        command = [*env, f"PYTHONPATH={ROOT}", sys.executable, "-m", "tui", "--db", str(path)]
    try:
        yield path, command
    finally:
        home.chmod(0o755)
        shutil.rmtree(home)


def as_reader(command: list[str], *args: str) -> tuple[int, str, str]:
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
    assert "Traceback" not in done.stdout + done.stderr
    return done.returncode, done.stdout, done.stderr


def lock_down(path: Path) -> None:
    """Without root, the file system's permissions are the reader's own."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        path.parent.chmod(0o555)


def test_a_reader_without_write_access_reads_and_is_refused_changes(shared) -> None:
    path, command = shared
    lock_down(path)
    code, out, err = as_reader(command, "orgs")  # no session open: no -wal, no -shm
    assert code == 0 and "TASMAN" in out, err
    code, out, err = as_reader(command, "deactivate", "TASMAN")
    line = [ln for ln in err.splitlines() if "read-only" in ln]
    assert code == 1 and out == "" and len(line) == 1
    assert "you cannot write" in line[0] and "ask a member of the store's group" in line[0]
    assert state(path, "TASMAN") == "active"


def test_a_reader_sees_what_an_open_session_wrote_to_the_wal(shared) -> None:
    path, command = shared
    writer = sqlite3.connect(path, isolation_level=None)  # a writer with the store open
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("UPDATE orgs SET name = 'Kauri (renamed, in the WAL)' WHERE code = 'KAURI'")
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").chmod(0o644)  # readable by the reader, not writable
        lock_down(path)
        code, out, err = as_reader(command, "show", "KAURI")
        assert code == 0 and "Kauri (renamed, in the WAL)" in out, err
    finally:
        writer.close()
