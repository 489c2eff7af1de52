"""The read-side command line: JSON contracts, exit codes, tables that fit 80 columns."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import run_cli


@pytest.fixture
def run(capsys, store_path: Path, monkeypatch):
    """Run `syncdesk --db <demo copy> ARGS` in-process: (exit code, stdout, stderr)."""
    monkeypatch.delenv("SYNCDESK_DB", raising=False)

    def invoke(*args: str, db: Path | None = store_path) -> tuple[int, str, str]:
        return run_cli(capsys, *(["--db", str(db)] if db else []), *args)

    return invoke


def test_orgs_json(run) -> None:
    code, out, _ = run("orgs", "--json")
    assert code == 0
    orgs = json.loads(out)
    assert len(orgs) == 12
    for org in orgs:
        assert {"code", "name", "state", "tenant_name", "errors_24h", "last_export_at"} <= set(org)
    assert {o["state"] for o in orgs} == {"active", "inactive", "disconnected", "uninstalled"}


def test_orgs_filters(run) -> None:
    _, out, _ = run("orgs", "--state", "inactive", "--json")
    assert [o["code"] for o in json.loads(out)] == ["KELP"]
    _, out, _ = run("orgs", "--search", "brew", "--json")
    assert [o["code"] for o in json.loads(out)] == ["SXBREW"]


def test_orgs_filter_is_the_dashboards_filter(run) -> None:
    """--filter matches what the console's dashboard filter matches, auth health and partial
    states included, which --search (code, name, tenant) does not."""
    _, out, _ = run("orgs", "--filter", "EXPIRED", "--json")
    assert [o["code"] for o in json.loads(out)] == ["WATTLE"]
    _, out, _ = run("orgs", "--search", "expired", "--json")
    assert json.loads(out) == []
    _, out, _ = run("orgs", "--filter", "reconsent state:active", "--json")
    assert [o["code"] for o in json.loads(out)] == ["GREEN", "IRONBARK"]
    code, out, err = run("orgs", "--filter", "kauri zzz")
    assert code == 0 and "KAURI" not in out
    assert "No organisations match: nothing matches 'zzz'." in err
    code, _, err = run("orgs", "--filter", "state:bogus")
    assert code == 1 and "Unknown state 'bogus'" in err and "Traceback" not in err


def test_orgs_table_fits_80_columns(run) -> None:
    code, out, _ = run("orgs")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["CODE", "NAME", "STATE"]
    assert len(lines) == 13
    assert max(len(line) for line in lines) <= 80


def test_show_json(run) -> None:
    code, out, _ = run("show", "KAURI", "--json")
    assert code == 0
    org = json.loads(out)
    assert {
        "code",
        "name",
        "state",
        "tenant_id",
        "tenant_name",
        "version",
        "settings",
        "mappings",
        "queue",
    } <= set(org)
    assert org["code"] == "KAURI" and isinstance(org["settings"], dict)
    assert {"kind": "sales_account", "local": "group:Online", "remote": "220"} in org["mappings"]
    assert org["queue"] == {"pending": 2, "held": 0, "failed": 9, "exported": 30}


def test_show_text(run) -> None:
    code, out, _ = run("show", "KELP")
    assert code == 0 and "inactive" in out and "Mappings:" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_unknown_org_exits_1_naming_it(run) -> None:
    for args in (["show", "ACME"], ["log", "ACME"], ["errors", "ACME"]):
        code, out, err = run(*args)
        assert code == 1 and out == ""
        assert "ACME" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_log_json(run) -> None:
    code, out, _ = run("log", "WATTLE", "--level", "error", "--limit", "5", "--json")
    assert code == 0
    rows = json.loads(out)
    assert len(rows) == 5
    for row in rows:
        assert {"id", "at", "org", "level", "document", "message", "kind"} <= set(row)
        assert isinstance(row["id"], int)
        assert row["org"] == "WATTLE" and row["level"] == "error"
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)


def test_log_search_since_and_csv(run) -> None:
    code, out, _ = run("log", "--search", "TaxType", "--since", "7d", "--limit", "1000", "--csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows and all("TaxType" in r["message"] for r in rows)
    assert set(rows[0]) >= {"at", "org", "level", "document", "message", "kind"}


def test_log_csv_and_json_without_limit_export_the_whole_filter(run, db) -> None:
    """Without --limit, --csv and --json stream every matching row: more than a page of the
    walk and far more than the table's 50. With --limit N, N rows."""
    total = db.execute("SELECT count(*) FROM log").fetchone()[0]
    errors = db.execute("SELECT count(*) FROM log WHERE level = 'error'").fetchone()[0]
    assert total > 2000 and errors > 50
    code, out, _ = run("log", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == total
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows), reverse=True)
    code, out, _ = run("log", "--level", "error", "--json")
    assert code == 0 and len(json.loads(out)) == errors
    code, out, _ = run("log", "--csv", "--limit", "60")
    assert code == 0 and len(list(csv.DictReader(io.StringIO(out)))) == 60


def test_log_export_of_an_unknown_org_prints_only_the_error(run) -> None:
    for flag in ("--csv", "--json"):
        code, out, err = run("log", "ACME", flag)
        assert code == 1 and out == "" and "ACME" in err


def test_log_table_fits_80_columns(run) -> None:
    code, out, _ = run("log", "--limit", "30")
    assert code == 0 and len(out.splitlines()) == 31
    assert max(len(line) for line in out.splitlines()) <= 80


def test_log_usage_errors_exit_2(run) -> None:
    assert run("log", "--level", "warning")[0] == 2
    assert run("log", "--json", "--csv")[0] == 2
    assert run("log", "--limit", "0")[0] == 2
    assert run("frobnicate")[0] == 2


def test_bad_since_exits_1(run) -> None:
    code, _, err = run("log", "--since", "last tuesday")
    assert code == 1 and "Cannot read the time" in err


def test_errors_json(run) -> None:
    code, out, _ = run("errors", "--json")
    assert code == 0
    groups = json.loads(out)
    assert groups
    for group in groups:
        assert {"kind", "count", "orgs", "first_at", "last_at", "cause", "fix"} <= set(group)
    kinds = {g["kind"]: g for g in groups}
    assert kinds["refresh_token_invalid"]["orgs"] == 1
    _, out, _ = run("errors", "KAURI", "--since", "2d", "--json")
    kinds = {g["kind"] for g in json.loads(out)}
    assert "account_code_removed" in kinds


def test_errors_text_fits_80(run) -> None:
    code, out, _ = run("errors")
    assert code == 0 and "fix:" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_init_refuses_then_forces(run, store_path: Path) -> None:
    code, _, err = run("init")
    assert code == 1 and "--force" in err
    code, out, _ = run("init", "--force", "--orgs", "30", "--log-rows", "400", "--seed", "2")
    assert code == 0 and "30 organisations" in out and "400 log rows" in out
    assert len(json.loads(run("orgs", "--json")[1])) == 30


def test_init_empty(run) -> None:
    assert run("init", "--force", "--empty")[0] == 0
    assert json.loads(run("orgs", "--json")[1]) == []
    assert run("init", "--force", "--empty", "--orgs", "3")[0] == 2


@pytest.mark.parametrize("damage", ["missing", "text", "truncated", "too_new", "corrupt", "dir"])
def test_bad_databases_give_one_line_and_exit_1(
    run, tmp_path: Path, store_path: Path, damage: str
) -> None:
    path = tmp_path / "bad.db"
    if damage == "text":
        path.write_text("name,value\nnot,a database\n" * 20)
    elif damage == "truncated":
        path.write_bytes(store_path.read_bytes()[:50_000])
    elif damage == "too_new":
        import sqlite3

        path.write_bytes(store_path.read_bytes())
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA user_version = 999")
        conn.commit()
        conn.close()
    elif damage == "corrupt":
        data = bytearray(store_path.read_bytes())
        for offset in range(4096, len(data), 3):
            data[offset] = 0xA5
        path.write_bytes(bytes(data))
    elif damage == "dir":
        path.mkdir()
    for args in (["orgs"], ["log", "--limit", "5"], ["errors"], ["show", "KAURI"]):
        code, out, err = run(*args, db=path)
        assert code == 1, (damage, args, out, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
        assert str(path) in err or "damaged" in err


def test_default_store_created_on_first_use(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "HOME": str(tmp_path)}
    env.pop("SYNCDESK_DB", None)
    result = subprocess.run(
        [sys.executable, "-m", "tui", "orgs", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 12
    assert "Creating the demo store" in result.stderr
    assert (tmp_path / "data" / "syncdesk" / "syncdesk.db").exists()


def test_env_var_selects_store(store_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SYNCDESK_DB": str(store_path)}
    result = subprocess.run(
        [sys.executable, "-m", "tui", "show", "GREEN", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        result.returncode == 0 and json.loads(result.stdout)["tenant_name"] == "Demo Company (AU)"
    )


def test_help_lists_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tui", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for command in ("init", "orgs", "show", "log", "errors"):
        assert command in result.stdout


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["log", "--csv"], ["log", "--json"], ["log"], ["orgs"]])
def test_output_that_cannot_be_written_is_one_line_not_a_traceback(
    store_path: Path, args: list[str]
) -> None:
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [sys.executable, "-m", "tui", "--db", str(store_path), *args],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "syncdesk: could not write the output: No space left on device; what was written "
        "before it is incomplete."
    ]
