"""Bad rows and bad input give one clear line, never a traceback.

Text stored as a BLOB reads as text; a setting that is not JSON and a time that is not a time
are shown marked (⚠, ?) with one line on stderr naming them (exit 1), an uninstall keeps the
stored text in its snapshot, and retry, which needs the settings, refuses; a --since that
reaches before any date and a Xero timeout of -1 or nan are refused naming the value.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from support import one_line, run_cli


def sql(path: Path, statement: str, *args: object) -> list[tuple]:
    conn = sqlite3.connect(path)
    with conn:
        rows = conn.execute(statement, args).fetchall()
    conn.close()
    return rows


def cli(capsys, path: Path, *args: str) -> tuple[int, str, str]:
    return run_cli(capsys, "--db", str(path), *args)


def test_text_stored_as_a_blob_reads_as_text(capsys, store_path: Path) -> None:
    kauri = "(SELECT id FROM orgs WHERE code = 'KAURI')"
    sql(store_path, "UPDATE orgs SET name = CAST('Kauri Blob Ltd' AS BLOB) WHERE code = 'KAURI'")
    sql(store_path, f"UPDATE integrations SET tenant_name = x'4b6175ff' WHERE org_id = {kauri}")
    sql(
        store_path,
        "UPDATE log SET message = CAST(message || ' (blob)' AS BLOB) "
        f"WHERE id = (SELECT max(id) FROM log WHERE org_id = {kauri})",
    )
    for args in (("orgs",), ("orgs", "--json"), ("show", "KAURI"), ("show", "KAURI", "--json")):
        code, out, err = cli(capsys, store_path, *args)
        assert code == 0 and err == "", (args, err)
        assert "Kauri Blob Ltd" in out and "b'" not in out
        assert "Kau\\\\xff" in out or "Kau\\xff" in out  # invalid UTF-8 shown as an escape
    code, out, _ = cli(capsys, store_path, "log", "KAURI", "--json", "--limit", "1")
    assert code == 0 and json.loads(out)[0]["message"].endswith("(blob)")


@pytest.fixture
def bad_setting(store_path: Path) -> Path:
    sql(
        store_path,
        "UPDATE settings SET value = '{not json' WHERE key = 'invoice_status' "
        "AND org_id = (SELECT id FROM orgs WHERE code = 'KAURI')",
    )
    return store_path


def test_show_marks_a_setting_that_is_not_json(capsys, bad_setting: Path) -> None:
    code, out, err = cli(capsys, bad_setting, "show", "KAURI")
    assert code == 1
    assert "⚠ unreadable (not JSON): {not json" in out and "Mappings:" in out
    line = one_line(err)
    assert "KAURI setting 'invoice_status' (not JSON)" in line
    code, out, err = cli(capsys, bad_setting, "show", "KAURI", "--json")
    assert code == 1 and "invoice_status" in one_line(err)
    assert "not JSON" in json.loads(out)["settings"]["invoice_status"]


def test_uninstall_keeps_the_stored_text_of_a_bad_setting(capsys, bad_setting: Path) -> None:
    code, out, err = cli(capsys, bad_setting, "uninstall", "KAURI")
    assert code == 1 and "Confirm with --confirm KAURI" in one_line(err)
    code, out, err = cli(capsys, bad_setting, "uninstall", "KAURI", "--confirm", "KAURI")
    assert code == 0, err
    (kept,) = sql(bad_setting, "SELECT settings FROM snapshots")[0]
    assert json.loads(kept)["invoice_status"] == "{not json"


def test_retry_refuses_when_a_setting_is_not_json(capsys, bad_setting: Path) -> None:
    before = sql(bad_setting, "SELECT status, count(*) FROM queue GROUP BY status")
    code, out, err = cli(capsys, bad_setting, "retry", "KAURI")
    assert code == 1
    line = one_line(err)
    assert "'invoice_status' is not valid JSON" in line and "nothing was sent" in line
    assert sql(bad_setting, "SELECT status, count(*) FROM queue GROUP BY status") == before


def test_a_time_that_is_not_a_time_is_marked(capsys, store_path: Path) -> None:
    sql(
        store_path,
        "UPDATE integrations SET last_export_at = 'yesterday-ish', refresh_expires_at = 'soon',"
        " token_expires_at = 'bad' WHERE org_id = (SELECT id FROM orgs WHERE code = 'KAURI')",
    )
    code, out, err = cli(capsys, store_path, "orgs")
    assert code == 1 and len(out.splitlines()) == 13
    kauri = next(line for line in out.splitlines() if line.startswith("KAURI"))
    assert kauri.rstrip().endswith("?")
    line = one_line(err)
    assert "KAURI last export time 'yesterday-ish'" in line and "refresh-token expiry" in line
    code, out, err = cli(capsys, store_path, "check", "KAURI")
    assert "the stored access-token expiry 'bad' is not a time" in out


@pytest.mark.parametrize("command", ["log", "errors"])
def test_a_span_before_any_date_is_refused(capsys, store_path: Path, command: str) -> None:
    code, out, err = cli(capsys, store_path, command, "--since", "99999999d")
    assert code == 1 and out == ""
    assert "'99999999d' reaches back before any date" in one_line(err)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SYNCDESK_XERO_TIMEOUT", "-1"),
        ("SYNCDESK_XERO_TIMEOUT", "nan"),
        ("SYNCDESK_XERO_TIMEOUT", "inf"),
        ("SYNCDESK_XERO_TIMEOUT", "0"),
        ("SYNCDESK_XERO_RETRIES", "-1"),
        ("SYNCDESK_XERO_RETRIES", "1e9"),
    ],
)
def test_environment_values_are_checked(
    capsys, store_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    code, out, err = cli(capsys, store_path, "check", "HARBOUR")
    assert code == 1 and out == ""
    line = one_line(err)
    assert name in line and repr(value) in line and "correct or unset it" in line
