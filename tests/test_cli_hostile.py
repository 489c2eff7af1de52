"""Hostile text planted in every column the command line prints reaches no output raw.

Terminal escapes (ESC[2J, an OSC 52 clipboard write, the one-byte CSI U+009B), a bidi
override, zero-width characters and a spreadsheet formula go into settings keys and values, the
organisation and tenant names, and a log row's message, kind, correlation id and document.
Every output (orgs, show, log, log --csv, log --json, errors, diagnose, the packet) shows them
as escapes; CSV cells cannot start a formula; JSON gives the exact text back when parsed.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from support import NOW, run_cli

from store.textsafe import csv_cell, dumps, visible

FORMULA = "=cmd|' /C calc'!A0"
HOSTILE = FORMULA + " \x1b[2J\x1b]52;c;aGFja2Vk\x07\x9b31m\u202eevil\u2066\u200b\ufeff\xad\u2028x"
RAW = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\u200b", "\ufeff", "\xad", "\u2028")


def assert_clean(text: str) -> None:
    for ch in RAW:
        assert ch not in text, f"{ch!r} reached the output"


@pytest.fixture
def hostile(store_path: Path) -> Path:
    conn = sqlite3.connect(store_path)
    with conn:
        oid = conn.execute("SELECT id FROM orgs WHERE code = 'KAURI'").fetchone()[0]
        conn.execute("UPDATE orgs SET name = ? WHERE id = ?", [HOSTILE, oid])
        conn.execute("UPDATE integrations SET tenant_name = ? WHERE org_id = ?", [HOSTILE, oid])
        conn.execute(
            "INSERT INTO settings(org_id, key, value) VALUES (?, ?, ?)",
            [oid, HOSTILE, json.dumps(HOSTILE)],
        )
        at = (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        conn.execute(
            "INSERT INTO log(at, org_id, level, document, message, kind, correlation_id) "
            "VALUES (?, ?, 'error', ?, ?, ?, ?)",
            [at, oid, HOSTILE, HOSTILE, HOSTILE, HOSTILE],
        )
    conn.close()
    return store_path


def cli(capsys, db: Path, *args: str) -> str:
    code, out, err = run_cli(capsys, "--db", str(db), *args)
    assert code in (0, 1), err
    assert_clean(out + err)
    return out


@pytest.mark.parametrize(
    "args",
    [
        ("orgs",),
        ("orgs", "--search", "cmd"),
        ("show", "KAURI"),
        ("log", "KAURI"),
        ("errors",),
        ("errors", "KAURI"),
        ("diagnose", "KAURI"),
        ("audit", "KAURI"),
        ("check", "KAURI"),
    ],
)
def test_tables_and_text_show_escapes(capsys, hostile: Path, args: tuple[str, ...]) -> None:
    out = cli(capsys, hostile, *args)
    if args[0] not in ("audit", "check"):
        assert "=cmd|" in out, out  # the planted text was printed (tables may cut it short)


def test_show_escapes_settings_keys_and_values(capsys, hostile: Path) -> None:
    out = cli(capsys, hostile, "show", "KAURI")
    assert out.count(visible(HOSTILE)) >= 3  # name, tenant, settings key (the value is JSON)
    assert visible(dumps(HOSTILE)) in out


@pytest.mark.parametrize(
    "args",
    [
        ("orgs", "--json"),
        ("show", "KAURI", "--json"),
        ("errors", "--json"),
        ("diagnose", "KAURI", "--json"),
    ],
)
def test_json_escapes_and_parses_back_to_the_text(capsys, hostile: Path, args) -> None:
    assert HOSTILE in strings(json.loads(cli(capsys, hostile, *args)))


def strings(value: object) -> list[str]:
    """Every string in a parsed JSON value, keys included."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def test_log_json_gives_the_exact_text_back(capsys, hostile: Path) -> None:
    rows = json.loads(cli(capsys, hostile, "log", "KAURI", "--json", "--limit", "3"))
    planted = rows[0]
    for key in ("document", "message", "kind", "correlation_id"):
        assert planted[key] == HOSTILE


def test_log_csv_escapes_and_neutralises_formulas(capsys, hostile: Path) -> None:
    out = cli(capsys, hostile, "log", "KAURI", "--csv", "--limit", "3")
    rows = list(csv.DictReader(io.StringIO(out)))
    planted = rows[0]
    for key in ("document", "message", "kind", "correlation_id"):
        assert planted[key] == "'" + visible(HOSTILE)
        assert planted[key].startswith("'=cmd")


def test_the_packet_escapes_everything(capsys, hostile: Path, tmp_path: Path) -> None:
    cli(capsys, hostile, "run", "start", "KAURI", "--actor", "alice")
    cli(capsys, hostile, "run", "note", "KAURI", HOSTILE, "--actor", "alice")
    assert visible(HOSTILE) in cli(capsys, hostile, "run", "show", "KAURI")
    out_file = tmp_path / "packet.md"
    out = cli(
        capsys, hostile, "run", "escalate", "KAURI", "--out", str(out_file), "--actor", "alice"
    )
    assert "Packet written" in out
    markdown = out_file.read_text(encoding="utf-8")
    assert_clean(markdown)
    assert visible(HOSTILE) in markdown
    assert all(not line.startswith("=") for line in markdown.splitlines())
    raw_json = out_file.with_suffix(".json").read_text(encoding="utf-8")
    assert_clean(raw_json)
    assert json.loads(raw_json)["organisation"]["name"] == HOSTILE


def test_the_rule() -> None:
    assert visible("a\tb\nc") == "a\tb\\x0ac"
    assert visible("a\nb", newlines=True) == "a\nb"
    assert visible("\U000e0041x") == "\\U000e0041x"
    assert visible("Zoë 東京 🙂") == "Zoë 東京 🙂"
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert csv_cell(start + "1+1").startswith("'")
    assert csv_cell("plain") == "plain" and csv_cell(None) == ""
    assert dumps("\x9b\u202e\U000e0041é") == '"\\u009b\\u202e\\udb40\\udc41é"'
    assert json.loads(dumps("\x9b\u202e\U000e0041é")) == "\x9b\u202e\U000e0041é"
