"""`syncdesk ingest` end to end: exit codes and summary, standard input, a kill mid-ingest and
a re-run, and --follow across rotation and truncation, stopped by ctrl+c (SIGINT)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import NOW, wait_until

from store.db import open_store
from store.ingest import Ingester, follow
from store.tail import FileTail
from store.timeparse import iso

ROOT = Path(__file__).resolve().parents[1]
AT = iso(NOW)


@pytest.fixture
def run(cli):
    return cli


def _line(i: int, org: str = "HARBOUR", **extra: object) -> str:
    row = {"id": i, "at": AT, "org": org, "level": "info", "message": f"follow-{i}", **extra}
    return json.dumps(row) + "\n"


def _count(store_path: Path, pattern: str = "follow-%") -> int:
    conn = sqlite3.connect(f"{store_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM log WHERE message LIKE ?", [pattern]).fetchone()[
            0
        ]
    finally:
        conn.close()


def test_exit_codes_summary_and_rejects_on_stderr(run, tmp_path: Path) -> None:
    path = tmp_path / "shop.jsonl"
    path.write_text(_line(1) + _line(2) + "oops\n" + _line(3, org="NOPE"))
    code, out, err = run("ingest", str(path), "--json")
    assert code == 1
    summary = json.loads(out)
    assert {k: summary[k] for k in ("read", "added", "skipped", "rejected")} == {
        "read": 4,
        "added": 2,
        "skipped": 0,
        "rejected": 2,
    }
    assert summary["source"] == "shop.jsonl" and summary["rows_per_s"] > 0
    assert summary["rejects_file"] == str(path) + ".rejects"
    assert err.splitlines()[:2] == [
        f"{path}:3: not JSON (Expecting value)",
        f"{path}:4: unknown organisation 'NOPE'",
    ]
    path.write_text(_line(1) + _line(2))
    code, out, err = run("ingest", str(path))
    assert code == 0 and "added 0, skipped 2, rejected 0" in out and err == ""


def test_standard_input_needs_a_source(run, store_path: Path) -> None:
    code, _, err = run("ingest", "-")
    assert code == 2 and "--source" in err
    done = subprocess.run(
        [sys.executable, "-m", "tui", "--db", str(store_path), "ingest", "--source", "pipe"],
        input=_line(1) + _line(2),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "added 2" in done.stdout


def test_missing_file_is_one_line_exit_1(run, tmp_path: Path) -> None:
    code, _, err = run("ingest", str(tmp_path / "none.jsonl"))
    assert code == 1 and "No file" in err and len(err.strip().splitlines()) == 1


def test_a_kill_mid_ingest_then_a_rerun_completes_without_duplicates(
    run, store_path: Path, tmp_path: Path
) -> None:
    total = 40_000
    path = tmp_path / "big.jsonl"
    path.write_text("".join(_line(i) for i in range(total)))
    script = (
        "import sys, store.ingest as ingest; ingest.BATCH = 400; from tui.cli import main; "
        "main(sys.argv[1:])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "--db", str(store_path), "ingest", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _count(store_path) >= 800, timeout=60)
    finally:
        proc.kill()
        proc.wait()
    done = _count(store_path)
    assert 0 < done < total, "the ingest finished before it could be killed"
    assert done % 400 == 0  # whole batches only
    code, out, _ = run("ingest", str(path), "--json")
    summary = json.loads(out)
    assert code == 0 and (summary["added"], summary["skipped"]) == (total - done, done)
    assert _count(store_path) == total
    db = open_store(store_path)
    keys = db.execute("SELECT count(*) FROM ingest_keys WHERE source = 'big.jsonl'").fetchone()
    assert keys[0] == total


def test_follow_across_rotation_and_truncation_then_ctrl_c(store_path: Path, tmp_path: Path):
    path = tmp_path / "live.jsonl"
    path.write_text(_line(1) + _line(2))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui", "--db", str(store_path), "ingest", str(path), "--follow"]
        + ["--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: _count(store_path) == 2, timeout=30)
        with path.open("a") as out:  # the writer appends, a line at a time
            out.write(_line(3))
            out.flush()
            wait_until(lambda: _count(store_path) == 3)
            out.write(_line(4)[:20])  # half a line: nothing yet
            out.flush()
            out.write(_line(4)[20:])
        wait_until(lambda: _count(store_path) == 4)
        path.rename(tmp_path / "live.jsonl.1")  # rotation: a new file under the name
        path.write_text(_line(5) + _line(4))  # a re-sent line is a duplicate
        wait_until(lambda: _count(store_path) == 5)
        path.write_text(_line(6))  # copytruncate: the same file, cut back
        wait_until(lambda: _count(store_path) == 6)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert (summary["added"], summary["skipped"], summary["rejected"]) == (6, 1, 0)


def test_stopping_a_follow_commits_what_was_read(db, tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    path.write_text(_line(1))
    ingester = Ingester(db, source="live", fmt="jsonl", name="live.jsonl")
    stop = threading.Event()
    tail = FileTail(path)
    worker = threading.Thread(target=follow, args=(ingester, tail, stop))
    worker.start()
    try:
        wait_until(lambda: ingester.report.added == 1)
        with path.open("a") as out:
            out.write(_line(2) + _line(3))
    finally:
        stop.set()
        worker.join(10)
        tail.close()
    assert ingester.report.added == 3
    assert db.execute("SELECT count(*) FROM log WHERE message LIKE 'follow-%'").fetchone()[0] == 3


def test_rejects_file_is_private_even_in_a_umask_022_world(run, tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "bad.jsonl"
        path.write_text("nope\n")
        assert run("ingest", str(path))[0] == 1
    finally:
        os.umask(old)
    assert oct((tmp_path / "bad.jsonl.rejects").stat().st_mode & 0o777) == "0o600"
