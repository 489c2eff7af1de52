"""init --force keeps the store it replaces (a timestamped backup with its WAL, beside it),
gives the new store the old one's permissions, and concurrent or killed builds cannot lose the
store; a store every user can read is reported with the fix."""

from __future__ import annotations

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

from support import NOW, one_line, run_cli

from store.db import open_store
from store.generate import build_store


def orgs_in(path: Path) -> int:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM orgs").fetchone()[0]
    finally:
        conn.close()


def leftovers(path: Path) -> list[str]:
    return [p.name for p in path.parent.iterdir() if "building" in p.name]


def test_force_keeps_a_backup_with_the_wal_and_the_mode(store_path: Path, capsys) -> None:
    store_path.chmod(0o640)
    writer = open_store(store_path)  # still open: its last change is only in the WAL
    writer.execute(
        "INSERT INTO orgs(code, name, region, created_at) VALUES ('ONLYWAL', "
        "'Only in the WAL', 'NZ', '2026-11-24T12:00:00Z')"
    )
    assert Path(f"{store_path}-wal").stat().st_size > 0
    code, out, err = run_cli(capsys, "--db", str(store_path), "init", "--force", "--empty")
    writer.conn.close()
    assert code == 0, err
    backup = store_path.with_name(f"{store_path.name}.{NOW:%Y%m%dT%H%M%SZ}.bak")
    assert f"The previous store is kept at {backup}." in out
    assert orgs_in(store_path) == 0 and orgs_in(backup) == 13  # the 12 and the WAL's one
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o640
    code, out, _ = run_cli(capsys, "--db", str(store_path), "init", "--force", "--empty")
    assert code == 0 and f"{backup.name[:-4]}-2.bak" in out  # same second: a second name
    assert leftovers(store_path) == []


def test_concurrent_builds_queue_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_store(path, force=True, now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert orgs_in(path) == 12 and leftovers(path) == []
    backups = sorted(tmp_path.glob("shared.db.*.bak"))
    assert len(backups) == 2 and all(orgs_in(b) == 12 for b in backups)


KILLED_BUILD = """
import sys, time
import store.generate as gen
def stall(*args, **kwargs):
    print("building", flush=True)
    time.sleep(60)
gen._fill = stall
gen.build_store(sys.argv[1], force=True)
"""


def test_a_killed_build_leaves_the_store_and_releases_the_lock(store_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(store_path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout.readline().strip() == "building"
        assert leftovers(store_path)  # its temporary file
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert orgs_in(store_path) == 12  # untouched
    build_store(store_path, force=True, empty=True, now=NOW)  # the lock was released
    assert orgs_in(store_path) == 0 and leftovers(store_path) == []


def test_a_world_readable_store_is_reported_once_with_the_fix(store_path: Path, capsys) -> None:
    store_path.chmod(0o644)
    code, out, err = run_cli(capsys, "--db", str(store_path), "orgs")
    assert code == 0 and "KAURI" in out
    line = one_line(err)
    assert "can be read by every user" in line and "mode 0644" in line
    assert f"chmod o-rwx {store_path}" in line
    for name in (store_path, Path(f"{store_path}-wal"), Path(f"{store_path}-shm")):
        if name.exists():
            name.chmod(0o600)
    code, _, err = run_cli(capsys, "--db", str(store_path), "orgs")
    assert code == 0 and err == ""


def test_a_directory_in_the_way_is_one_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "dir.db").mkdir()
    code, out, err = run_cli(capsys, "--db", str(tmp_path / "dir.db"), "init", "--force")
    assert code == 1 and "is a directory" in one_line(err)
    assert (tmp_path / "dir.db").is_dir() and leftovers(tmp_path / "dir.db") == []
